"""Shared plumbing of ``diffprog.linalg``: calling a primitive on arrays or Tensors, several
outputs from one primitive, the complex-conjugate form of holomorphic rules, input checks."""
import numpy as np

from diffprog.autodiff import Tensor
from diffprog.autodiff.extend import backend as B
from diffprog.autodiff.extend import float_input
from diffprog.autodiff.extend import Primitive, apply


def raw(x):
    return x.data if type(x) is Tensor else x


def call(prim, *args, **kw):
    """``prim`` recorded on Tensors (rules run under create_graph), plain NumPy on arrays."""
    if any(type(a) is Tensor for a in args):
        return apply(prim, *args, **kw)
    return prim.forward(*args, **kw)


def holomorphic(rule):
    """Complex inputs: the conjugate-Wirtinger VJP of a rule written as the real-case transpose
    (conj(rule(conj(g)))); real inputs pass straight through."""
    def vjp(g, ans, *args, **kw):
        if B.dtype_of(ans).kind != "c":
            return rule(g, ans, *args, **kw)
        return B.conj(rule(B.conj(g), ans, *args, **kw))
    return vjp


def as_matrix(x, name, square=False, arg="a"):
    """Validate a (batch of) matrix input: floating point, at least 2-D, square if asked."""
    x = float_input(x, f"linalg.{name}: {arg}")
    shape = np.shape(raw(x))
    if len(shape) < 2:
        raise ValueError(f"linalg.{name}: {arg} must be a matrix or a batch of matrices (..., m, n), got "
                         f"shape {shape}")
    if square and shape[-1] != shape[-2]:
        raise ValueError(f"linalg.{name}: {arg} must be square (..., n, n), got shape {shape}")
    return x


def require_real(x, name):
    if np.iscomplexobj(raw(x)):
        raise TypeError(f"linalg.{name}: complex input is not supported (its gradient is defined here for "
                        f"real matrices), got dtype {raw(x).dtype}")


def eye_like(x, n):
    return np.eye(n, dtype=np.result_type(raw(x).dtype, np.float32))


def diag_embed(v):
    """(..., k) -> (..., k, k) with v on the diagonal."""
    return B.expand_dims(v, -2) * eye_like(v, B.shape(v)[-1])


def diagonal(m):
    """(..., k, k) -> (..., k)."""
    return B.einsum("...ii->...i", m)


def gap_inverse(d):
    """1 / d for a matrix of eigen/singular value gaps, 0 on the diagonal and for (near-)ties.

    Convention for repeated values: pairs whose gap is below 1e-10 times the largest magnitude get
    no coupling term, which is exact for losses invariant to rotations within the repeated
    subspace (the only losses for which the gradient exists) and finite for all others.
    """
    dd = np.asarray(raw(d))
    scale = np.max(np.abs(dd), axis=(-2, -1), keepdims=True) if dd.size else 1.0
    tie = np.abs(dd) <= 1e-10 * np.maximum(scale, np.finfo(np.float64).tiny)
    return B.where(tie, 0 * d, 1 / B.where(tie, 1 + 0 * d, d))       # differentiable again


class MultiOutput:
    """One primitive with several outputs, packed flat (as dp.custom_vjp does) and unpacked by
    differentiable getitem/reshape nodes. ``forward(a, **kw) -> tuple``, ``shapes(a_shape, **kw)
    -> list of output shapes``, ``vjp(gs, outs, a, **kw)`` -> cotangent of ``a`` (``gs``: one
    cotangent per output, zeros where unused), ``jvp(t, outs, a, **kw)`` -> list of tangents."""

    def __init__(self, name, forward, shapes, vjp, jvp):
        self.forward, self.shapes, self.vjp, self.jvp = forward, shapes, vjp, jvp
        self.prim = Primitive(name, self._packed, vjps=[self._vjp], jvps=[self._jvp])

    def _packed(self, a, **kw):
        return np.concatenate([np.ravel(o) for o in self.forward(a, **kw)])

    def split(self, flat, a_shape, **kw):
        out, start = [], 0
        for s in self.shapes(a_shape, **kw):
            n = int(np.prod(s))
            out.append(B.reshape(B.getitem(flat, idx=slice(start, start + n)), shape=s))
            start += n
        return out

    def _vjp(self, g, ans, a, **kw):
        return self.vjp(self.split(g, B.shape(a), **kw), self.split(ans, B.shape(a), **kw), a, **kw)

    def _jvp(self, t, ans, a, **kw):
        tans = self.jvp(t, self.split(ans, np.shape(a), **kw), a, **kw)
        return np.concatenate([np.ravel(raw(v)) for v in tans])

    def __call__(self, a, **kw):
        flat = apply(self.prim, a, **kw)
        return tuple(self.split(flat, np.shape(raw(a)), **kw))
