"""``Optimizer``: parameter groups, per-parameter state, the ``prox=`` hook and state saving."""
import numpy as np

from diffprog.autodiff import Tensor


def _check_params(params, name):
    params = list(params)
    if not params:
        raise ValueError(f"{name}: got an empty parameter list; pass model.parameters() or a list of Tensors")
    groups = params if isinstance(params[0], dict) else [{"params": params}]
    for gi, group in enumerate(groups):
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{name}: parameter group {gi} must be a dict with a 'params' entry, got {type(group).__name__}")
        group["params"] = list(group["params"])
        for pi, p in enumerate(group["params"]):
            if type(p) is not Tensor:
                raise TypeError(f"{name}: parameter {pi} of group {gi} is a {type(p).__name__}, expected a "
                                f"diffprog Tensor with requires_grad=True")
            if not p.requires_grad:
                raise ValueError(f"{name}: parameter {pi} of group {gi} (shape {p.shape}) does not require grad")
    return groups


class Optimizer:
    """Base class. Subclasses set ``defaults`` and implement ``_update(p, grad, state, group)``
    returning the new parameter array.

    ``params`` is an iterable of Tensors or of dicts ``{"params": [...], "lr": ...}`` (parameter
    groups with their own hyper-parameters). ``prox(x, step)``, if given, maps each updated
    parameter array to its proximal point with step size equal to the group's learning rate.
    """

    def __init__(self, params, defaults, prox=None):
        if prox is not None and not callable(prox):
            raise TypeError(f"{type(self).__name__}: prox must be a callable prox(x, step) -> array, "
                            f"got {type(prox).__name__}")
        self.defaults = dict(defaults)
        self.prox = prox
        self.param_groups = []
        for group in _check_params(params, type(self).__name__):
            full = dict(self.defaults)
            full.update(group)
            self.param_groups.append(full)
        for group in self.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.state = {}

    def _params(self):
        for group in self.param_groups:
            for p in group["params"]:
                yield group, p

    def zero_grad(self):
        """Clear every parameter's ``grad`` (set to None)."""
        for _, p in self._params():
            p.grad = None

    def step(self):
        """Update every parameter that has a gradient, then apply ``prox`` if given."""
        for group, p in self._params():
            if p.grad is None:
                continue
            grad = np.asarray(p.grad)
            if grad.shape != p.data.shape:
                raise ValueError(f"{type(self).__name__}: gradient shape {grad.shape} does not match "
                                 f"parameter shape {p.data.shape}")
            state = self.state.setdefault(id(p), {})
            new = self._update(p.data, grad, state, group)
            if self.prox is not None:
                new = np.asarray(self.prox(new, group["lr"]), dtype=p.data.dtype)
                if new.shape != p.data.shape:
                    raise ValueError(f"{type(self).__name__}: prox returned shape {new.shape}, expected "
                                     f"the parameter's shape {p.data.shape}")
            p.data = new.astype(p.data.dtype, copy=False)

    def _update(self, x, grad, state, group):
        raise NotImplementedError

    # ---- saving -------------------------------------------------------------------------------
    def state_dict(self):
        """A flat dict of NumPy arrays (``np.savez``-ready): ``state.<index>.<name>`` for the
        per-parameter buffers (parameters numbered in order across groups) and
        ``param_groups.<g>.<name>`` for the hyper-parameters."""
        out = {}
        index = 0
        for gi, group in enumerate(self.param_groups):
            for key, value in group.items():
                if key != "params":
                    out[f"param_groups.{gi}.{key}"] = np.asarray(value)
            for p in group["params"]:
                for key, value in self.state.get(id(p), {}).items():
                    out[f"state.{index}.{key}"] = np.array(value)
                index += 1
        return out

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` returned (or ``np.load`` of a saved file)."""
        state_dict = dict(state_dict)
        params = [p for _, p in self._params()]
        for key in state_dict:
            kind, num, name = key.split(".", 2) if key.count(".") >= 2 else (key, "", "")
            if kind == "param_groups" and int(num) >= len(self.param_groups):
                raise ValueError(f"{type(self).__name__}.load_state_dict: saved state has parameter group "
                                 f"{num}, this optimizer has {len(self.param_groups)}")
            if kind == "state" and int(num) >= len(params):
                raise ValueError(f"{type(self).__name__}.load_state_dict: saved state has parameter {num}, "
                                 f"this optimizer has {len(params)} parameters")
            if kind not in ("state", "param_groups"):
                raise ValueError(f"{type(self).__name__}.load_state_dict: unexpected key {key!r}")
        self.state = {}
        for key, value in state_dict.items():
            kind, num, name = key.split(".", 2)
            value = np.asarray(value)
            if kind == "param_groups":
                old = self.param_groups[int(num)].get(name)
                self.param_groups[int(num)][name] = (tuple(value.tolist()) if isinstance(old, tuple)
                                                     else value.item() if value.ndim == 0 else value)
            else:
                p = params[int(num)]
                if value.ndim and value.shape != p.data.shape:
                    raise ValueError(f"{type(self).__name__}.load_state_dict: buffer {key} has shape "
                                     f"{value.shape}, the parameter has shape {p.data.shape}")
                self.state.setdefault(id(p), {})[name] = value.item() if value.ndim == 0 else value.copy()

    def save(self, path):
        """Write :meth:`state_dict` to an ``.npz`` file."""
        np.savez(path, **self.state_dict())

    def load(self, path):
        """Read an ``.npz`` file written by :meth:`save`."""
        with np.load(path) as f:
            self.load_state_dict({k: f[k] for k in f.files})
