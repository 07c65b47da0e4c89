"""Looking at a recorded graph: ``tape_stats`` (how much it holds) and ``graph`` (what it is).

A recorded graph is made of nodes (``node.py``) that remember the primitive that produced them,
their parents' nodes and the values their backward rules read. Everything the graph keeps alive
for the backward pass is therefore: those saved values (inputs and outputs the rows declare, constant
arrays among them), array keyword arguments (gather indices), the residuals of custom operations,
and the root's own value. ``tape_stats`` adds these up, counting each underlying buffer once (a
reshape or transpose view shares its base's memory) and leaving out the leaves' values. ``graph`` returns
the nodes and edges and writes them as Graphviz DOT (SVG/PNG when the ``dot`` program exists),
labelled with shapes and, after a backward pass, with each value's adjoint norm.
"""
import os
import shutil
import subprocess

import numpy as np

from . import backend as _backend
from . import mode as _mode
from .node import Stub
from .tape import FREED, toposort
from .tensor import Tensor


def _check_root(loss, name):
    if type(loss) is not Tensor:
        raise TypeError(f"{name}: expected the Tensor at the end of a recorded computation (e.g. a loss), "
                        f"got {type(loss).__name__}")


def _arrays(value, depth=0):
    """The NumPy arrays inside a value (an array, Tensor, or tuple/list/dict of them)."""
    if type(value) is Tensor:
        value = value.data
    if isinstance(value, (np.ndarray, np.generic)):
        return [value]
    if depth < 4 and isinstance(value, (tuple, list)):
        return [a for v in value for a in _arrays(v, depth + 1)]
    if depth < 4 and isinstance(value, dict):
        return [a for v in value.values() for a in _arrays(v, depth + 1)]
    return []


def _buffer(arr):
    """(key, bytes) of the memory an array lives in: views are charged to their base array."""
    base = arr
    while isinstance(getattr(base, "base", None), np.ndarray):
        base = base.base
    return id(base), base.nbytes


class _Ledger:
    """Counts bytes once per underlying buffer (those of ``exclude`` never)."""

    def __init__(self, exclude=()):
        self.seen = set(exclude)

    def charge(self, arrays):
        total = 0
        for a in arrays:
            key, nbytes = _buffer(a)
            if key not in self.seen:
                self.seen.add(key)
                total += nbytes
        return total


def _node_saved(node):
    """Arrays a non-leaf node keeps alive: its saved arguments and output and its array keyword
    arguments (including custom residuals)."""
    arrays = _arrays(list(node.args or ())) + _arrays(node.ans)
    if isinstance(node.kw, dict):
        arrays.extend(_arrays(node.kw))
    return arrays


def _leaf_tensor(node):
    return node.leaf() if node.prim is None else None


def _walk(loss):
    """Topological order (inputs first) of the recorded nodes that ``loss`` depends on."""
    return toposort([loss])


def _leaf_buffers(order):
    return {_buffer(a)[0] for n in order if (t := _leaf_tensor(n)) is not None for a in _arrays(t)}


def tape_stats(loss):
    """What the graph ending at ``loss`` holds in memory.

    Returns a dict:

    - ``nodes``: number of recorded operations (non-leaf Tensors);
    - ``saved_bytes``: bytes of intermediate values, constants, index arrays and custom residuals
      those operations keep alive for the backward pass (each buffer counted once);
    - ``leaves``, ``leaf_bytes``: the inputs that require grad (parameters) and their bytes, not
      included in ``saved_bytes``;
    - ``by_op``: ``{op name: {"count": n, "saved_bytes": b}}``, largest first.

    After a backward pass without ``retain_graph=True`` the graph is freed and only ``loss`` is
    left. A checkpointed block counts as one node holding only its inputs.
    """
    _check_root(loss, "tape_stats")
    order = _walk(loss)
    ledger, leaves = _Ledger(_leaf_buffers(order)), _Ledger()
    nodes = n_leaves = saved = leaf_bytes = 0
    by_op = {}
    for node in order:
        if node.prim is None:
            n_leaves += 1
            leaf_bytes += leaves.charge(_arrays(_leaf_tensor(node)))
            continue
        nodes += 1
        b = ledger.charge(_node_saved(node) + (_arrays(loss) if node is loss._node else []))
        saved += b
        name = _op_name(node)
        entry = by_op.setdefault(name, {"count": 0, "saved_bytes": 0})
        entry["count"] += 1
        entry["saved_bytes"] += b
    by_op = dict(sorted(by_op.items(), key=lambda kv: -kv[1]["saved_bytes"]))
    return {"nodes": nodes, "saved_bytes": saved, "leaves": n_leaves, "leaf_bytes": leaf_bytes,
            "by_op": by_op}


def _op_name(node):
    prim = node.prim
    if prim is FREED:
        return f"{node.kw} (freed)"
    return prim.name


def _adjoints(order, loss):
    """The cotangent of every node for the seed ones(loss.shape): a dedicated reverse pass over a
    retained graph that keeps every adjoint (the normal backward keeps none, so stays fast)."""
    grads = {loss._node: np.ones_like(loss.data)}
    norms = {}
    token = _mode._flags.set(_mode._flags.get() & ~_mode.GRAD)
    try:
        for node in reversed(order):
            g = grads.pop(node, None)
            if g is None:
                continue
            norms[node] = float(np.linalg.norm(np.ravel(g)))
            prim = node.prim
            if prim is None:
                continue
            if prim is FREED:
                raise RuntimeError(
                    f"dp.graph: the graph was freed by backward() (at dp.{node.kw}); call "
                    f"backward(retain_graph=True) to see adjoints, or pass adjoints=False")
            parents, args, kw = node.parents, node.args, node.kw or {}
            needs = [p is not None for p in parents]
            if prim.vjp_all is not None:
                cots = prim.vjp_all(g, node.ans, args, needs, kw)
            else:
                cots = [(prim.vjps[0](g, node.ans, *args, argnum=i, **kw) if prim.variadic
                         else prim.vjps[i](g, node.ans, *args, **kw)) if n else None
                        for i, n in enumerate(needs)]
            for p, c in zip(parents, cots):
                if c is None or p is None:
                    continue
                c = c.data if type(c) is Tensor else c
                if np.shape(c) != p.ans.shape:
                    c = _backend.sum_to(c, p.ans.shape)
                prev = grads.get(p)
                grads[p] = c if prev is None else prev + c
    finally:
        _mode._flags.reset(token)
    return norms


def _format_bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def _constant_label(value):
    if type(value) is Stub:
        return f"const {value.shape} {value.dtype}"
    if np.ndim(value) == 0 and not isinstance(value, np.ndarray):
        try:
            return f"{value:.4g}" if isinstance(value, (float, np.floating)) else repr(value)
        except (TypeError, ValueError):
            return type(value).__name__
    arr = np.asarray(value.data if type(value) is Tensor else value)
    return f"const {arr.shape} {arr.dtype}"


class Graph:
    """A recorded computation as data: ``nodes`` (list of dicts) and ``edges`` (``(src, dst)``
    index pairs, from an argument to the operation that consumed it).

    Each node has ``id`` (its index), ``kind`` (``'op'``, ``'leaf'`` for inputs that require grad,
    ``'constant'``), ``op`` (primitive name, ``None`` otherwise), ``shape``, ``dtype``,
    ``saved_bytes`` (what the node keeps alive, each buffer charged once) and ``adjoint_norm``
    (the 2-norm of d loss / d value, or ``None`` when not computed). ``root`` is the loss's index.
    """

    def __init__(self, nodes, edges, root):
        self.nodes, self.edges, self.root = nodes, edges, root

    def __repr__(self):
        ops = sum(n["kind"] == "op" for n in self.nodes)
        return f"<dp.Graph: {ops} operations, {len(self.nodes)} nodes, {len(self.edges)} edges>"

    def to_dot(self):
        """The graph in Graphviz DOT: inputs at the top, the loss at the bottom."""
        lines = ["digraph diffprog {", '  rankdir=TB;', '  node [fontname="Helvetica", fontsize=10];',
                 '  edge [color="#555555"];']
        for n in self.nodes:
            lines.append(f'  n{n["id"]} [label="{_dot_label(n)}", {_dot_style(n, n["id"] == self.root)}];')
        for a, b in self.edges:
            lines.append(f"  n{a} -> n{b};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def save(self, path):
        """Write the graph to ``path``: ``.dot``/``.gv`` as DOT text, ``.svg``/``.png``/``.pdf``
        rendered with the Graphviz ``dot`` program (which must be installed)."""
        path = os.fspath(path)
        ext = os.path.splitext(path)[1].lower().lstrip(".")
        if ext in ("dot", "gv"):
            with open(path, "w") as f:
                f.write(self.to_dot())
            return path
        if ext not in ("svg", "png", "pdf"):
            raise ValueError(f"dp.graph: cannot write {path!r}; expected a path ending in .dot, .gv, .svg, "
                             f".png or .pdf")
        exe = shutil.which("dot")
        if exe is None:
            raise FileNotFoundError(f"dp.graph: writing {path!r} needs the Graphviz 'dot' program, which is "
                                    f"not installed (e.g. apt-get install graphviz); a .dot path writes the "
                                    f"DOT text without it")
        subprocess.run([exe, f"-T{ext}", "-o", path], input=self.to_dot().encode(), check=True,
                       capture_output=True)
        return path


def _dot_label(n):
    if n["kind"] == "constant":
        head = n["label"]
        rows = [head]
    else:
        head = n["op"] if n["kind"] == "op" else "input"
        rows = [head, f'{tuple(n["shape"])} {n["dtype"]}']
        if n["kind"] == "op":
            rows.append(f'saved {_format_bytes(n["saved_bytes"])}')
        if n["adjoint_norm"] is not None:
            rows.append(f'|adjoint| {n["adjoint_norm"]:.3g}')
    return "\\n".join(r.replace("\\", "\\\\").replace('"', '\\"') for r in rows)


def _dot_style(n, is_root):
    if n["kind"] == "constant":
        return 'shape=plaintext, fontcolor="#777777"'
    if n["kind"] == "leaf":
        return 'shape=ellipse, style=filled, fillcolor="#cde4ff"'
    color = "#ffd9b3" if is_root else "#f2f2f2"
    return f'shape=box, style="rounded,filled", fillcolor="{color}"'


def graph(loss, path=None, adjoints="auto", constants=True):
    """The computational graph that produced ``loss``, as a :class:`Graph`.

    ``path``: also write it (``.dot``/``.gv`` DOT text; ``.svg``/``.png``/``.pdf`` need Graphviz's
    ``dot`` program). ``adjoints``: label each value with the norm of its adjoint d sum(loss)/d value,
    computed by a separate reverse pass over the retained graph; ``'auto'`` does so when a backward
    pass has already filled some input's ``.grad`` (run ``backward(retain_graph=True)`` so the graph
    is still there), ``True`` always, ``False`` never. ``constants``: also show the constant
    arguments (arrays, scalars, Tensors that do not require grad) as small grey nodes.
    """
    _check_root(loss, "graph")
    if adjoints not in ("auto", True, False):
        raise ValueError(f"dp.graph: adjoints must be 'auto', True or False, got {adjoints!r}")
    order = _walk(loss)
    if adjoints == "auto":
        adjoints = any(t is not None and t.grad is not None for t in map(_leaf_tensor, order))
    norms = _adjoints(order, loss) if adjoints and loss.requires_grad else {}
    ledger = _Ledger(_leaf_buffers(order))
    index, nodes, edges = {}, [], []

    def add(entry, key):
        entry["id"] = len(nodes)
        index[key] = entry["id"]
        nodes.append(entry)
        return entry["id"]

    if not order:                                   # a Tensor that records nothing
        add({"kind": "leaf", "op": None, "shape": tuple(np.shape(loss.data)),
             "dtype": str(np.result_type(loss.data)), "saved_bytes": 0, "adjoint_norm": None}, None)
    for node in order:
        is_op = node.prim is not None
        saved = _node_saved(node) + (_arrays(loss) if node is loss._node else []) if is_op else []
        add({"kind": "op" if is_op else "leaf", "op": _op_name(node) if is_op else None,
             "shape": tuple(node.ans.shape), "dtype": str(node.ans.dtype),
             "saved_bytes": ledger.charge(saved), "adjoint_norm": norms.get(node)}, node)
        for p, value in zip(node.parents or (), node.args or ()) if is_op else ():
            key = p if p is not None else id(value) if isinstance(value, np.ndarray) else None
            if key not in index:      # (parents that require grad always come first in the order)
                if not constants:
                    continue
                key = key if key is not None else object()     # each scalar gets its own node
                add({"kind": "constant", "op": None, "label": _constant_label(value),
                     "shape": tuple(np.shape(value)), "dtype": str(_backend.dtype_of(value)),
                     "saved_bytes": 0, "adjoint_norm": None}, key)
            edges.append((index[key], index[node]))
    g = Graph(nodes, edges, index[loss._node] if order else 0)
    if path is not None:
        g.save(path)
    return g
