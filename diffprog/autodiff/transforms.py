"""The function transforms, one import away: reverse mode (``reverse``), forward mode
(``forward``) and Jacobians and second derivatives (``jacobian``)."""
from .forward import jvp, linearize
from .jacobian import hessian, hvp, jacfwd, jacobian, jacrev
from .reverse import grad, value_and_grad, vjp

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "linearize", "jacobian", "jacrev", "jacfwd", "hessian", "hvp"]
