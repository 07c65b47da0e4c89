"""``diffprog.autodiff.extend``: the public way to add operations to the engine.

The libraries built on the engine (linalg, fft, ode, nn, optim, render) use these names only,
never the tape's private ones.

* ``Primitive(name, forward, vjps=[...], jvps=[...], linear=False, variadic=False, vjp_all=None,
  save=None)``: one row of the table. ``forward(*arrays, **kw)`` computes the value on NumPy arrays;
  ``vjps[i](g, ans, *args, **kw)`` is the cotangent of argument ``i``; ``jvps[i](t, ans, *args, **kw)``
  argument ``i``'s contribution to the output tangent. A ``linear`` primitive is its own JVP.
  ``vjp_all(g, ans, args, needs, kw) -> list`` computes all cotangents at once (multi-output kernels
  pack their outputs into one array and unpack them with getitem, see ``custom.record_custom``).
  Rules are written in the vocabulary of ``backend`` (plain NumPy on arrays, recorded on Tensors),
  so the same rule gives higher derivatives. ``save`` names the values the rules read (argument
  numbers, ``"inputs"``, ``"output"``; ``()`` for none): a recorded node keeps those and passes
  the others as shape-and-dtype stubs, so intermediates are freed early. ``None`` keeps everything.
* ``apply(prim, *args, **kw)``: run a primitive on Tensors or arrays, recording it when needed.
* ``complex_vjp(rule)``: a VJP for a holomorphic rule written as ``g * f'(x)`` (conjugate Wirtinger).
* ``implements(np_func)``: make a NumPy function called on Tensors run a diffprog function.
* ``record_custom(name, args, outputs, backward)``: a node with an opaque backward on arrays.
* ``cotangents(outputs, seeds, inputs)``: one reverse pass, returning the inputs' cotangents
  (raw access for solvers that differentiate a small graph inside their own rule).
* ``custom_vjp``, ``custom_jvp``, ``Function``: the decorator and class styles.
"""
from . import backend
from .custom import Function, custom_jvp, custom_vjp, record_custom
from .inputs import float_input
from .numpy_api import implements
from .primitives import _complex_vjp as complex_vjp, real_if_real
from .tape import Primitive, apply, run_backward

__all__ = ["Primitive", "apply", "complex_vjp", "real_if_real", "implements", "record_custom", "cotangents",
           "custom_vjp", "custom_jvp", "Function", "backend", "float_input"]


def cotangents(outputs, seeds, inputs, retain_graph=False, create_graph=False):
    """Propagate ``seeds`` (cotangents of ``outputs``) back to ``inputs``; returns one cotangent per
    input (``None`` where an input is not reached). No ``.grad`` is touched."""
    return run_backward(list(outputs), list(seeds), list(inputs), retain_graph=retain_graph,
                        create_graph=create_graph)
