"""Gradient-flow diagnostics."""
import numpy as np

from .module import Module


def grad_norms(model, per="layer"):
    """Euclidean norms of the gradients after ``backward``, as an ordered dict.

    ``per='layer'`` joins the parameters of each sub-module (weight and bias of a Linear: the norm
    of both together), keyed by the module's dotted name; ``per='parameter'`` keys by parameter
    name. Parameters without a gradient are skipped.
    """
    if not isinstance(model, Module):
        raise TypeError(f"grad_norms: model must be a diffprog.nn.Module, got {type(model).__name__}")
    if per not in ("layer", "parameter"):
        raise ValueError(f"grad_norms: per must be 'layer' or 'parameter', got {per!r}")
    squares = {}
    for name, p in model.named_parameters():
        if p.grad is None:
            continue
        key = name if per == "parameter" else (name.rsplit(".", 1)[0] if "." in name else "")
        squares[key] = squares.get(key, 0.0) + float(np.sum(np.abs(np.asarray(p.grad)) ** 2))
    return {k: float(np.sqrt(v)) for k, v in squares.items()}
