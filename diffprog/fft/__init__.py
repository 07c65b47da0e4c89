"""Differentiable discrete Fourier transforms (NumPy's ``numpy.fft`` names and ``norm=`` options).

``fft ifft fft2 ifft2 fftn ifftn rfft irfft fftshift ifftshift`` accept arrays or Tensors and return
Tensors; ``fftfreq``/``rfftfreq`` return plain arrays (sample frequencies carry no gradient).

``norm``: ``"backward"`` (default, None: forward unscaled, inverse scaled by 1/n), ``"ortho"``
(1/sqrt(n) both ways, unitary) or ``"forward"`` (forward scaled by 1/n).

Gradients follow the conjugate-Wirtinger convention of the engine (for a real loss L of a complex
value a + ib the gradient is dL/da + i dL/db). The transforms are linear, so the VJP of a transform
is its adjoint: the opposite transform with the dual normalisation (backward <-> forward, ortho
unchanged); a real input receives the real part. ``rfft``'s adjoint zero-fills the missing half of
the spectrum; ``irfft``'s weights the non-self-conjugate bins by 2 (they stand for two bins).
"""
import numpy as np

from diffprog.autodiff import Tensor
import diffprog.autodiff as F
from diffprog.autodiff.extend import backend as B, float_input, implements
from diffprog.autodiff.extend import Primitive, apply

__all__ = ["fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "fftshift", "ifftshift",
           "fftfreq", "rfftfreq"]

_NORMS = ("backward", "ortho", "forward")
_DUAL = {"backward": "forward", "ortho": "ortho", "forward": "backward"}


def _call(prim, x, **kw):
    """Apply ``prim`` to a Tensor (recorded) or run its forward on an array (inside a VJP rule)."""
    return apply(prim, x, **kw) if type(x) is Tensor else prim.forward(x, **kw)


def _real_part(c, x):
    if np.iscomplexobj(B.data(x)):
        return c
    return F.real(c) if type(c) is Tensor else np.real(c)


def _fftn_forward(x, axes, norm, inverse):
    return (np.fft.ifftn if inverse else np.fft.fftn)(x, axes=axes, norm=norm)


def _fftn_vjp(g, ans, x, axes, norm, inverse):
    return _real_part(_call(FFTN, g, axes=axes, norm=_DUAL[norm], inverse=not inverse), x)


FFTN = Primitive("fftn", _fftn_forward, vjps=[_fftn_vjp], linear=True, save=())   # (linear: shapes only)


def _rfft_forward(x, axis, norm):
    return np.fft.rfft(x, axis=axis, norm=norm)


def _rfft_vjp(g, ans, x, axis, norm):
    n = B.data(x).shape[axis]
    m = B.data(g).shape[axis]
    widths = [(0, 0)] * B.data(g).ndim
    widths[axis] = (0, n - m)
    full = F.pad(g, widths) if type(g) is Tensor else np.pad(g, widths)
    return _real_part(_call(FFTN, full, axes=(axis,), norm=_DUAL[norm], inverse=True), x)


RFFT = Primitive("rfft", _rfft_forward, vjps=[_rfft_vjp], linear=True, save=())


def _irfft_forward(x, n, axis, norm):
    return np.fft.irfft(x, n=n, axis=axis, norm=norm)


def _irfft_vjp(g, ans, x, n, axis, norm):
    m = B.data(x).shape[axis]
    weights = np.full(m, 2.0)
    weights[0] = 1.0
    if n % 2 == 0 and m == n // 2 + 1:
        weights[-1] = 1.0
    shape = [1] * B.data(g).ndim
    shape[axis] = m
    weights = weights.reshape(shape).astype(np.result_type(B.data(g).dtype, np.float32))
    return _call(RFFT, g, axis=axis, norm=_DUAL[norm]) * weights


IRFFT = Primitive("irfft", _irfft_forward, vjps=[_irfft_vjp], linear=True, save=())


def _shift_forward(x, axes, inverse):
    return (np.fft.ifftshift if inverse else np.fft.fftshift)(x, axes=axes)


SHIFT = Primitive("fftshift", _shift_forward,
                  vjps=[lambda g, ans, x, axes, inverse: _call(SHIFT, g, axes=axes, inverse=not inverse)],
                  linear=True, save=())


# ---- argument checking ---------------------------------------------------------------------------

def _norm(norm):
    if norm is None:
        return "backward"
    if norm not in _NORMS:
        raise ValueError(f"norm must be one of None, 'backward', 'ortho', 'forward'; got {norm!r}")
    return norm


def _axes(x, axes, name):
    nd = np.ndim(B.data(x))
    if axes is None:
        return tuple(range(nd))
    axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    out = []
    for a in axes:
        if not -nd <= int(a) < nd:
            raise ValueError(f"{name}: axis {a} is out of range for an input of shape {np.shape(B.data(x))}")
        out.append(int(a) % nd)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: repeated axes {axes}")
    return tuple(out)


def _as_float(x, name):
    return float_input(x, f"{name}: the input")


def _resize(x, sizes, axes, name):
    """Crop or zero-pad ``x`` to ``sizes`` along ``axes`` (NumPy's ``n=``/``s=``), differentiably."""
    shape = np.shape(B.data(x))
    idx, widths, crop, grow = [slice(None)] * len(shape), [(0, 0)] * len(shape), False, False
    for n, a in zip(sizes, axes):
        if n is None:
            continue
        if int(n) < 1:
            raise ValueError(f"{name}: the transform length must be >= 1, got {n}")
        if n < shape[a]:
            idx[a], crop = slice(0, int(n)), True
        elif n > shape[a]:
            widths[a], grow = (0, int(n) - shape[a]), True
    if crop:
        x = x[tuple(idx)] if type(x) is Tensor else np.asarray(x)[tuple(idx)]
    if grow:
        x = F.pad(x, widths)
    return x


# ---- public functions ----------------------------------------------------------------------------

def fftn(x, s=None, axes=None, norm=None):
    """N-dimensional DFT over ``axes`` (all by default); ``s`` crops/zero-pads each axis first.
    Shape (..., n1, ..., nk) -> same (complex)."""
    x = _as_float(x, "fftn")
    axes = _axes(x, axes if axes is not None or s is None else tuple(range(-len(s), 0)), "fftn")
    if s is not None:
        if len(s) != len(axes):
            raise ValueError(f"fftn: s={s} and axes={axes} must have the same length")
        x = _resize(x, s, axes, "fftn")
    return apply(FFTN, x, axes=axes, norm=_norm(norm), inverse=False)


def ifftn(x, s=None, axes=None, norm=None):
    """Inverse of ``fftn`` (same ``norm``)."""
    x = _as_float(x, "ifftn")
    axes = _axes(x, axes if axes is not None or s is None else tuple(range(-len(s), 0)), "ifftn")
    if s is not None:
        if len(s) != len(axes):
            raise ValueError(f"ifftn: s={s} and axes={axes} must have the same length")
        x = _resize(x, s, axes, "ifftn")
    return apply(FFTN, x, axes=axes, norm=_norm(norm), inverse=True)


def fft(x, n=None, axis=-1, norm=None):
    """1-D DFT along ``axis``; ``n`` crops or zero-pads that axis first."""
    return fftn(x, None if n is None else (n,), axes=(axis,), norm=norm)


def ifft(x, n=None, axis=-1, norm=None):
    """1-D inverse DFT along ``axis``."""
    return ifftn(x, None if n is None else (n,), axes=(axis,), norm=norm)


def fft2(x, s=None, axes=(-2, -1), norm=None):
    """2-D DFT over the last two axes (by default)."""
    return fftn(x, s, axes=axes, norm=norm)


def ifft2(x, s=None, axes=(-2, -1), norm=None):
    """2-D inverse DFT over the last two axes (by default)."""
    return ifftn(x, s, axes=axes, norm=norm)


def rfft(x, n=None, axis=-1, norm=None):
    """DFT of a real signal along ``axis``: the n // 2 + 1 non-negative frequencies."""
    x = _as_float(x, "rfft")
    if np.iscomplexobj(B.data(x)):
        raise TypeError(f"rfft: expected a real input, got dtype {B.data(x).dtype}; use fft for complex signals")
    axis = _axes(x, (axis,), "rfft")[0]
    x = _resize(x, (n,), (axis,), "rfft")
    return apply(RFFT, x, axis=axis, norm=_norm(norm))


def irfft(x, n=None, axis=-1, norm=None):
    """Inverse of ``rfft``: a real signal of length ``n`` (default 2 (m - 1) for m input bins).
    Only the Hermitian part of the input matters (the imaginary parts of the zero and Nyquist bins
    are ignored, and get zero gradient)."""
    x = _as_float(x, "irfft")
    axis = _axes(x, (axis,), "irfft")[0]
    m = np.shape(B.data(x))[axis]
    n = 2 * (m - 1) if n is None else int(n)
    if n < 1:
        raise ValueError(f"irfft: n must be >= 1, got {n} (input has {m} bins along axis {axis})")
    x = _resize(x, (n // 2 + 1,), (axis,), "irfft")
    if not np.iscomplexobj(B.data(x)):
        x = F.astype(x, np.result_type(B.data(x).dtype, np.complex64))
    return apply(IRFFT, x, n=n, axis=axis, norm=_norm(norm))


def fftshift(x, axes=None):
    """Move the zero frequency to the centre (a permutation; its gradient is ``ifftshift``)."""
    x = _as_float(x, "fftshift")
    return apply(SHIFT, x, axes=_axes(x, axes, "fftshift"), inverse=False)


def ifftshift(x, axes=None):
    """Undo ``fftshift``."""
    x = _as_float(x, "ifftshift")
    return apply(SHIFT, x, axes=_axes(x, axes, "ifftshift"), inverse=True)


def fftfreq(n, d=1.0):
    """Sample frequencies of an ``n``-point DFT with spacing ``d`` (a plain array)."""
    if int(n) < 1:
        raise ValueError(f"fftfreq: n must be a positive integer, got {n}")
    return np.fft.fftfreq(int(n), d)


def rfftfreq(n, d=1.0):
    """Sample frequencies of ``rfft`` (a plain array of n // 2 + 1 entries)."""
    if int(n) < 1:
        raise ValueError(f"rfftfreq: n must be a positive integer, got {n}")
    return np.fft.rfftfreq(int(n), d)


for _name in ("fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "fftshift", "ifftshift"):
    implements(getattr(np.fft, _name))(globals()[_name])      # np.fft.fft(Tensor) runs this module's fft
