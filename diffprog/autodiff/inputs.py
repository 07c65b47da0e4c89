"""Input checks shared by the libraries built on the engine (linalg, fft, ...)."""
import numpy as np

from .tensor import Tensor

__all__ = ["float_input"]


def float_input(x, what):
    """``x`` as a floating-point or complex array or Tensor. Other arrays (ints, bools, lists) are
    promoted to float64, as NumPy's float functions do; a Tensor of another dtype is refused with a
    TypeError that starts with ``what`` (e.g. ``"linalg.inv: a"``), since promoting it would cut
    it from its graph."""
    if type(x) is not Tensor:
        x = np.asarray(x)
        return x if x.dtype.kind in "fc" else x.astype(np.float64)
    if x.dtype.kind not in "fc":
        raise TypeError(f"{what} must be floating point or complex, got dtype {x.dtype}")
    return x
