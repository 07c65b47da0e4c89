"""PyTorch <-> diffprog, with gradients flowing both ways (CPU tensors; first-order).

``to_torch_function(f)``: any diffprog function of arrays becomes a ``torch.autograd.Function``.
Its forward runs ``f`` on NumPy views of the tensors under ``diffprog.vjp``; its backward calls
that VJP, so PyTorch receives exactly diffprog's gradients (the soft rasterizer's fused VJP
included)::

    from diffprog.interop.torch import to_torch_function
    render = to_torch_function(lambda verts: R.render(R.Mesh(verts, faces), cams)[..., 3])
    image = render(torch_verts)                 # torch.Tensor, differentiable in torch_verts

``from_torch(module)``: a ``torch.nn.Module`` (or a function of tensors) becomes a diffprog
``nn.Module`` (or function) whose parameters are diffprog Tensors, trained by diffprog's
optimizers; its backward is ``torch.autograd.grad``.

Conventions: floating-point tensors (of any dtype) cross as NumPy arrays of the same dtype
without copying on the way in; integer/bool tensors and non-tensor arguments pass through
untouched and get no gradient. Outputs come back on the device of the first tensor argument.
Second derivatives through the bridge are not supported (PyTorch raises on double backward).
"""
import functools

import numpy as np

try:
    import torch
except ImportError as error:                         # pragma: no cover - depends on the install
    raise ImportError('diffprog.interop.torch needs PyTorch: pip install "diffprog[torch]"') from error

import diffprog.autodiff as dp
from diffprog.autodiff import Tensor
from diffprog.nn import Module

__all__ = ["to_torch_function", "from_torch", "TorchModule"]


def _to_numpy(t):
    return t.detach().cpu().numpy() if t.is_floating_point() else t.detach().cpu().numpy().copy()


def _from_numpy(a):
    a = np.asarray(a)
    return torch.from_numpy(a if a.flags.writeable else a.copy())


def _flatten_outputs(out, name):
    """Output of a diffprog function -> (list of array-likes, was_sequence)."""
    if isinstance(out, (tuple, list)):
        return list(out), True
    if type(out) is Tensor or isinstance(out, (np.ndarray, np.generic, float, int)):
        return [out], False
    raise TypeError(f"{name}: expected the function to return a diffprog Tensor, an array or a tuple of them, "
                    f"got {type(out).__name__}")


def to_torch_function(f, name=None):
    """Wrap ``f`` (a function of arrays returning a Tensor or a tuple of Tensors) as a PyTorch
    function: ``g(*args, **kwargs)`` takes torch tensors (and any other arguments, passed through),
    returns torch tensors, and backpropagates through ``diffprog.vjp`` of ``f``.

    Gradients are computed for the floating-point tensor arguments that require them; keyword
    arguments are constants. Returns the wrapper (``g.Function`` is the autograd.Function class).
    """
    label = name or getattr(f, "__name__", "function")

    class Bridge(torch.autograd.Function):
        @staticmethod
        def forward(ctx, kwargs, positions, *args):
            arrays = [_to_numpy(a) if isinstance(a, torch.Tensor) else a for a in args]
            wanted = [i for i in positions if ctx.needs_input_grad[2 + i]]
            device = next((a.device for a in args if isinstance(a, torch.Tensor)), torch.device("cpu"))
            if wanted:
                def closed(*diff):
                    full = list(arrays)
                    for i, d in zip(wanted, diff):
                        full[i] = d
                    return f(*full, **kwargs)
                out, vjp_fn = dp.vjp(closed, *[arrays[i] for i in wanted])
            else:
                with dp.no_grad():
                    out = f(*arrays, **kwargs)
                vjp_fn = None
            outs, multi = _flatten_outputs(out, label)
            ctx.vjp_fn, ctx.wanted, ctx.multi, ctx.nargs = vjp_fn, wanted, multi, len(args)
            ctx.shapes = [np.shape(o.data if type(o) is Tensor else o) for o in outs]
            ctx.dtypes = [np.asarray(o.data if type(o) is Tensor else o).dtype for o in outs]
            ctx.arg_kinds = [(a.dtype, a.device) if isinstance(a, torch.Tensor) else None for a in args]
            results = tuple(_from_numpy(o.data if type(o) is Tensor else o).to(device) for o in outs)
            for r in results:
                if not r.is_floating_point():
                    ctx.mark_non_differentiable(r)
            return results if multi else results[0]

        @staticmethod
        @torch.autograd.function.once_differentiable
        def backward(ctx, *grads):
            grads_in = [None] * ctx.nargs
            if ctx.vjp_fn is None:
                return (None, None, *grads_in)
            cts = [np.asarray(_to_numpy(g), dtype=dt).reshape(s) if g is not None else np.zeros(s, dt)
                   for g, s, dt in zip(grads, ctx.shapes, ctx.dtypes)]
            result = ctx.vjp_fn(tuple(cts) if ctx.multi else cts[0])
            for i, g in zip(ctx.wanted, result):
                dtype, device = ctx.arg_kinds[i]
                grads_in[i] = _from_numpy(np.ascontiguousarray(g)).to(device=device, dtype=dtype)
            return (None, None, *grads_in)

    Bridge.__name__ = Bridge.__qualname__ = f"Bridge_{label}"

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        positions = tuple(i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.is_floating_point())
        return Bridge.apply(kwargs, positions, *args)
    wrapped.Function = Bridge
    return wrapped


def _torch_call(fn, name, n_inputs):
    """A dp.Function running ``fn(*torch tensors)``; its backward is ``torch.autograd.grad``."""

    class TorchCall(dp.Function):
        @staticmethod
        def forward(ctx, *arrays):
            tensors = [_from_numpy(a).requires_grad_(need and np.asarray(a).dtype.kind == "f")
                       if isinstance(a, np.ndarray) or np.isscalar(a) else a
                       for a, need in zip(arrays, ctx.needs_input_grad)]
            with torch.enable_grad():
                out = fn(tensors[:n_inputs], tensors[n_inputs:])
            multi = isinstance(out, (tuple, list))
            outs = tuple(out) if multi else (out,)
            for o in outs:
                if not isinstance(o, torch.Tensor):
                    raise TypeError(f"{name}: expected torch tensors as outputs, got {type(o).__name__}")
            ctx.tensors, ctx.outs = tensors, outs
            arrays_out = tuple(o.detach().cpu().numpy() for o in outs)
            return arrays_out if multi else arrays_out[0]

        @staticmethod
        def backward(ctx, *grads):
            pairs = [(o, _from_numpy(np.ascontiguousarray(g)).to(o.dtype))
                     for o, g in zip(ctx.outs, grads) if o.requires_grad]
            targets = [i for i, t in enumerate(ctx.tensors) if isinstance(t, torch.Tensor) and t.requires_grad]
            result = [None] * len(ctx.tensors)
            if pairs and targets:
                found = torch.autograd.grad([p[0] for p in pairs], [ctx.tensors[i] for i in targets],
                                            [p[1] for p in pairs], allow_unused=True)
                for i, g in zip(targets, found):
                    result[i] = np.zeros(ctx.tensors[i].shape, _numpy_dtype(ctx.tensors[i])) if g is None \
                        else g.detach().numpy()
            return tuple(result)

    TorchCall.__name__ = TorchCall.__qualname__ = f"TorchCall_{name}"
    return TorchCall


def _numpy_dtype(t):
    return torch.empty(0, dtype=t.dtype).numpy().dtype


class TorchModule(Module):
    """A ``torch.nn.Module`` as a diffprog module: one diffprog Parameter per torch parameter
    (same dotted names in ``named_parameters``, values copied), forward by
    ``torch.func.functional_call`` with those values. ``copy_to_torch()`` writes them back."""

    def __init__(self, module):
        super().__init__()
        self.module = module
        self._names = [n for n, _ in module.named_parameters()]
        self._values = [dp.tensor(p.detach().cpu().numpy().copy(), requires_grad=True)
                        for _, p in module.named_parameters()]
        self._calls = {}                              # number of inputs -> dp.Function class

    def _functional(self, inputs, params):
        return torch.func.functional_call(self.module, dict(zip(self._names, params)), tuple(inputs))

    def forward(self, *inputs):
        n = len(inputs)
        if n not in self._calls:
            self._calls[n] = _torch_call(self._functional, type(self.module).__name__, n)
        return self._calls[n].apply(*inputs, *self._values)

    def _walk_parameters(self, prefix, seen):
        for name, value in zip(self._names, self._values):
            if id(value) not in seen:
                seen.add(id(value))
                yield (f"{prefix}.{name}" if prefix else name), value

    def copy_to_torch(self):
        """Copy the current diffprog parameter values into the wrapped torch module."""
        with torch.no_grad():
            for (_, p), value in zip(self.module.named_parameters(), self._values):
                p.copy_(_from_numpy(value.data))
        return self.module

    def extra_repr(self):
        return repr(self.module)


def from_torch(module):
    """A PyTorch ``nn.Module`` -> :class:`TorchModule` (a diffprog module with its own copies of
    the parameters); a plain function of torch tensors -> a diffprog function of arrays/Tensors.
    Gradients with respect to the inputs (and parameters) come from PyTorch's autograd."""
    if isinstance(module, torch.nn.Module):
        return TorchModule(module)
    if not callable(module):
        raise TypeError(f"module: expected a torch.nn.Module or a function of torch tensors, "
                        f"got {type(module).__name__}")
    name = getattr(module, "__name__", "function")

    @functools.wraps(module)
    def wrapped(*inputs):
        return _torch_call(lambda a, b: module(*a), name, len(inputs)).apply(*inputs)
    return wrapped
