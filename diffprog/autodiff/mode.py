"""Per-thread recording state: grad mode, forward-mode tangents and anomaly detection.

The state lives in ``contextvars`` so that two threads (or two asyncio tasks) building graphs at
the same time never see each other's ``no_grad`` blocks.
"""
import contextvars
import functools
import threading

GRAD = 1        # record operations for reverse mode
ANOMALY = 2     # check every backward rule's output for NaN/inf
KEEP = 4        # nodes keep every input and output value (forward mode over a recorded graph reads them)

_flags = contextvars.ContextVar("diffprog_flags", default=GRAD)
_tangents = contextvars.ContextVar("diffprog_tangents", default=None)


def flags():
    return _flags.get()


def is_grad_enabled():
    """True when operations on Tensors that require grad are being recorded."""
    return bool(_flags.get() & GRAD)


class _FlagContext:
    """Context manager and decorator that sets or clears one flag for its duration.

    One object may be entered again while active (nested ``with``) and from several threads at
    once: each thread keeps its own stack of the values to restore."""

    __slots__ = ("_bit", "_on", "_saved")

    def __init__(self, bit, on):
        self._bit, self._on, self._saved = bit, on, threading.local()

    def __enter__(self):
        old = _flags.get()
        stack = self._saved.__dict__.setdefault("stack", [])
        stack.append(old)
        _flags.set((old | self._bit) if self._on else (old & ~self._bit))
        return self

    def __exit__(self, *exc):
        _flags.set(self._saved.stack.pop())
        return False

    def __call__(self, fn):
        bit, on = self._bit, self._on

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _FlagContext(bit, on):
                return fn(*args, **kwargs)
        return wrapper


def no_grad():
    """Context manager / decorator: operations inside are not recorded (like ``torch.no_grad``)."""
    return _FlagContext(GRAD, False)


def enable_grad():
    """Context manager / decorator: turn recording back on inside a ``no_grad`` block."""
    return _FlagContext(GRAD, True)


def keep_values():
    """Context manager: nodes recorded inside keep all their values, not only those their VJP reads
    (``linearize`` pushes tangents through them afterwards with the JVP rules)."""
    return _FlagContext(KEEP, True)


def detect_anomaly():
    """Context manager / decorator: raise ``FloatingPointError`` naming the first recorded primitive
    whose forward output is NaN or inf although its inputs are finite (``sqrt(-1)``, ``log(0)``), and,
    during backward, the primitive whose backward rule first produced a NaN or inf."""
    return _FlagContext(ANOMALY, True)
