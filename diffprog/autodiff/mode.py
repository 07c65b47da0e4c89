"""Per-thread recording state: grad mode, forward-mode tangents and anomaly detection.

The state lives in ``contextvars`` so that two threads (or two asyncio tasks) building graphs at
the same time never see each other's ``no_grad`` blocks.
"""
import contextvars
import functools

GRAD = 1        # record operations for reverse mode
ANOMALY = 2     # check every backward rule's output for NaN/inf

_flags = contextvars.ContextVar("diffprog_flags", default=GRAD)
_tangents = contextvars.ContextVar("diffprog_tangents", default=None)


def flags():
    return _flags.get()


def is_grad_enabled():
    """True when operations on Tensors that require grad are being recorded."""
    return bool(_flags.get() & GRAD)


class _FlagContext:
    """Context manager and decorator that sets or clears one flag for its duration."""

    __slots__ = ("_bit", "_on", "_tokens")

    def __init__(self, bit, on):
        self._bit, self._on, self._tokens = bit, on, []

    def __enter__(self):
        old = _flags.get()
        new = (old | self._bit) if self._on else (old & ~self._bit)
        self._tokens.append(_flags.set(new))
        return self

    def __exit__(self, *exc):
        _flags.reset(self._tokens.pop())
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


def detect_anomaly():
    """Context manager / decorator: during backward, raise ``FloatingPointError`` naming the
    primitive whose backward rule first produced a NaN or inf."""
    return _FlagContext(ANOMALY, True)
