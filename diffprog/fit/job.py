"""The fitting job's public entry points: ``run_scene`` (the whole job, what ``diffprog fit`` runs),
``Fitter`` (the state of one fit and its step) and ``Interrupted``.

The fitter (one step: ``fitter.py``) and the driver (schedule, checkpoints, signals, outputs:
``driver.py``) live in their own modules.
"""
from .driver import CHECKPOINT, Interrupted, run_scene  # noqa: F401
from .fitter import LOSS_TERMS, PARAMETER_GROUPS, Fitter  # noqa: F401
