"""Public home of the proximal operators: ``diffprog.prox.l1(alpha)`` etc.

The operators live in :mod:`diffprog.optim.prox`; this module re-exports them so that
``import diffprog as dp; dp.prox.l1(0.1)`` reads naturally next to ``dp.optim.Adam``.
"""
from .optim.prox import (Prox, l1, elastic_net, group_l1, nonneg_l1, l2_ball, box, nonneg, nuclear,  # noqa: F401
                         tv1d, soft_threshold)

__all__ = ["Prox", "l1", "elastic_net", "group_l1", "nonneg_l1", "l2_ball", "box", "nonneg", "nuclear", "tv1d",
           "soft_threshold"]
