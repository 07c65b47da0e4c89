"""The engine: Tensor, the primitive table, reverse and forward mode, and the transforms.

This package imports NumPy and nothing else of diffprog.
"""
from .tensor import Tensor, tensor
from .mode import no_grad, enable_grad, is_grad_enabled, detect_anomaly
from .tape import Primitive, apply
from .functions import *  # noqa: F401,F403
from .functions import __all__ as _function_names
from .composite import *  # noqa: F401,F403
from .composite import __all__ as _composite_names
from .transforms import grad, value_and_grad, vjp, jvp, linearize, jacobian, jacrev, jacfwd, hessian, hvp
from .custom import custom_vjp, custom_jvp, Function
from .checkpoint import checkpoint
from .gradcheck import gradcheck
from .inspect import tape_stats, graph  # dp.graph: the DOT/SVG drawing (the tape lives in tape.py)
from .pytree import tree_map

__all__ = ["Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "detect_anomaly", "Primitive",
           "apply", "grad", "value_and_grad", "vjp", "jvp", "linearize", "jacobian", "jacrev", "jacfwd",
           "hessian", "hvp", "custom_vjp", "custom_jvp", "Function", "checkpoint", "gradcheck", "tape_stats",
           "graph", "tree_map"] + list(_function_names) + list(_composite_names)
