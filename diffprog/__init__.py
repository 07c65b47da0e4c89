"""diffprog: differentiable programming and rendering in NumPy style.

    >>> import diffprog as dp
    >>> x = dp.tensor([1.0, 2.0], requires_grad=True)
    >>> dp.sum(dp.sin(x) ** 2).backward()
"""
from .autodiff import *  # noqa: F401,F403
from .autodiff import Tensor, tensor, no_grad, enable_grad, is_grad_enabled, detect_anomaly  # noqa: F401
from . import nn, optim  # noqa: F401
from . import render, io  # noqa: F401
from . import linalg, fft, ode, optics  # noqa: F401
from . import prox, sparse  # noqa: F401

__version__ = "0.1.0"
