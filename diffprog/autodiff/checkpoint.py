"""Gradient checkpointing: keep a block's inputs, recompute its inside during backward."""
from . import mode as _mode
from .tape import Primitive, carry_tangent, recorded, run_backward
from .tensor import Tensor


def _recompute_vjp(g, ans, args, needs, kw):
    fn = kw["fn"]
    if type(g) is Tensor:                     # create_graph: recompute on the recorded inputs
        inputs = [a for a, n in zip(args, needs) if n]
        with _mode.enable_grad():
            out = fn(*args)
        grads = run_backward([out], [g], inputs, retain_graph=True, create_graph=True)
    else:
        fresh = [Tensor(a.data if type(a) is Tensor else a, requires_grad=True) if n else a
                 for a, n in zip(args, needs)]
        with _mode.enable_grad():
            out = fn(*fresh)
        inputs = [f for f, n in zip(fresh, needs) if n]
        grads = run_backward([out], [g], inputs)
    it = iter(grads)
    return [next(it) if n else None for n in needs]


CHECKPOINT = Primitive("checkpoint", None, vjp_all=_recompute_vjp, save="inputs")


def checkpoint(fn, *args):
    """Call ``fn(*args)`` keeping only its inputs on the tape; its intermediates are recomputed
    during backward (trading compute for memory). ``fn`` must return one Tensor and be
    deterministic; the gradients are identical to those of ``fn(*args)`` run directly."""
    if not (_mode._flags.get() & _mode.GRAD and any(type(a) is Tensor and a.requires_grad for a in args)):
        return fn(*args)
    with _mode.no_grad():
        out = fn(*args)
    if type(out) is not Tensor:
        raise TypeError(f"checkpoint: the function must return a single Tensor, got {type(out).__name__}")
    node = recorded(out.data, CHECKPOINT, tuple(args), {"fn": fn})
    tangents = _mode._tangents.get()
    if tangents is not None and id(out) in tangents:      # forward mode passes straight through
        carry_tangent(tangents, node, tangents[id(out)])
    return node
