"""Ordinary differential equations: ``odeint`` with backpropagation through the solver or the
adjoint sensitivity method (constant memory in the number of steps)."""
from .odeint import odeint
from .solvers import integrate

__all__ = ["odeint", "integrate"]
