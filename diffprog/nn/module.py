"""``Module`` and ``Parameter``: named, nested collections of trainable Tensors and buffers.

A parameter is an ordinary leaf :class:`~diffprog.Tensor` with ``requires_grad=True`` (so the
engine's fast paths see it unchanged); a module finds its parameters, sub-modules and lists of
sub-modules by looking at its attributes, in the order they were set. Buffers (running statistics,
fixed random projections) are NumPy arrays registered with :meth:`Module.register_buffer`; they are
saved with the parameters but never trained.
"""
import numpy as np

from diffprog.autodiff import Tensor


def Parameter(data, dtype=None):
    """A trainable Tensor: a float leaf with ``requires_grad=True`` (copies ``data``)."""
    arr = np.array(data.data if type(data) is Tensor else data, dtype=dtype)
    if arr.dtype.kind not in "fc":
        arr = arr.astype(np.float64)
    return Tensor(arr, requires_grad=True)


def is_parameter(value):
    return type(value) is Tensor and value.requires_grad and value.is_leaf


class Module:
    """Base class: override ``forward``; call the module like a function.

    ``training`` (toggled by :meth:`train` / :meth:`eval`) switches Dropout and BatchNorm1d.
    """

    training = True

    def __init__(self):
        self.training = True
        self._buffer_names = []

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- discovery ----------------------------------------------------------------------------
    def register_buffer(self, name, array):
        """Store a NumPy array as attribute ``name``, saved by :meth:`state_dict`."""
        if "_buffer_names" not in self.__dict__:
            self._buffer_names = []
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        setattr(self, name, np.asarray(array))

    def named_children(self):
        """(name, module) for direct sub-modules; entries of a list attribute are named ``attr.i``."""
        for name, value in self.__dict__.items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def children(self):
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return [m for _, m in self.named_modules()]

    def named_parameters(self, prefix=""):
        """(dotted name, parameter) pairs in attribute order (a sub-module's parameters where the
        sub-module is set), each shared parameter listed once under its first name."""
        return self._walk_parameters(prefix, set())

    def _walk_parameters(self, prefix, seen):
        for name, value in self.__dict__.items():
            full = f"{prefix}.{name}" if prefix else name
            if is_parameter(value):
                if id(value) not in seen:
                    seen.add(id(value))
                    yield full, value
            elif isinstance(value, Module):
                yield from value._walk_parameters(full, seen)
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield from item._walk_parameters(f"{full}.{i}", seen)

    def parameters(self):
        """The trainable Tensors, in a fixed order (pass to an optimizer)."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self):
        for mod_name, module in self.named_modules():
            for name in module.__dict__.get("_buffer_names", ()):
                yield (f"{mod_name}.{name}" if mod_name else name), module, name

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def train(self, mode=True):
        """Set training mode (recursively); returns self."""
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    # ---- saving ---------------------------------------------------------------------------------
    def state_dict(self):
        """A flat dict ``name -> ndarray`` (copies) of parameters and buffers."""
        out = {name: p.data.copy() for name, p in self.named_parameters()}
        for name, module, attr in self.named_buffers():
            out[name] = np.array(getattr(module, attr))
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into parameters and buffers by name, checking shapes. With ``strict`` the
        key sets must match exactly. Returns ``(missing_keys, unexpected_keys)``."""
        state_dict = dict(state_dict)
        params = dict(self.named_parameters())
        buffers = {name: (module, attr) for name, module, attr in self.named_buffers()}
        missing = [k for k in list(params) + list(buffers) if k not in state_dict]
        unexpected = [k for k in state_dict if k not in params and k not in buffers]
        if strict and (missing or unexpected):
            raise KeyError(f"{type(self).__name__}.load_state_dict: missing keys {missing}, unexpected keys "
                           f"{unexpected}")
        for key, value in state_dict.items():
            value = np.asarray(value)
            if key in params:
                p = params[key]
                if value.shape != p.shape:
                    raise ValueError(f"{type(self).__name__}.load_state_dict: {key} has shape {value.shape}, "
                                     f"the model expects {p.shape}")
                p.data = value.astype(p.dtype, copy=True)
            elif key in buffers:
                module, attr = buffers[key]
                old = np.asarray(getattr(module, attr))
                if value.shape != old.shape:
                    raise ValueError(f"{type(self).__name__}.load_state_dict: buffer {key} has shape "
                                     f"{value.shape}, the model expects {old.shape}")
                setattr(module, attr, value.astype(old.dtype, copy=True))
        return missing, unexpected

    def save(self, path):
        """Write :meth:`state_dict` to an ``.npz`` file."""
        np.savez(path, **self.state_dict())

    def load(self, path, strict=True):
        """Load parameters and buffers from an ``.npz`` file written by :meth:`save`."""
        with np.load(path) as f:
            return self.load_state_dict({k: f[k] for k in f.files}, strict=strict)

    def __repr__(self):
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in self.named_children()]
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}({extra}\n" + "\n".join(lines) + "\n)"

    def extra_repr(self):
        return ""
