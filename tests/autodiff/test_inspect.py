"""Tape statistics and the graph picture."""
import shutil

import numpy as np
import pytest

import diffprog as dp
from diffprog.autodiff import inspect as inspect_module


def small_graph(rng):
    x = dp.tensor(rng.standard_normal(10), requires_grad=True)
    y = dp.sin(x)                              # sin keeps its input x (a leaf: not counted)
    z = dp.reshape(y, (2, 5))                  # keeps shapes only
    w = z * np.arange(5.0)                     # keeps z (a view of y: 80 B) and the 40 B constant
    loss = dp.sum(w ** 2)                      # square keeps w: 80 B; sum nothing; the loss: 8 B
    return x, y, w, loss


def test_tape_stats_counts_nodes_and_bytes_once_per_buffer(rng):
    x, y, w, loss = small_graph(rng)
    stats = dp.tape_stats(loss)
    assert stats["nodes"] == 5
    assert stats["saved_bytes"] == 80 + 40 + 80 + 8
    assert stats["leaves"] == 1 and stats["leaf_bytes"] == 80
    assert stats["by_op"]["multiply"] == {"count": 1, "saved_bytes": 120}
    assert stats["by_op"]["reshape"] == {"count": 1, "saved_bytes": 0}
    assert list(stats["by_op"])[0] == "multiply"              # largest first
    assert dp.tape_stats(y)["nodes"] == 1


def test_tape_stats_grow_with_the_graph_and_vanish_after_backward(rng):
    x = dp.tensor(rng.standard_normal((50, 20)), requires_grad=True)
    h = x
    sizes = []
    for _ in range(4):
        h = dp.tanh(h)
        sizes.append(dp.tape_stats(h)["saved_bytes"])
    assert sizes == [8000, 16000, 24000, 32000]
    loss = dp.sum(h)
    loss.backward()
    stats = dp.tape_stats(loss)
    assert stats["nodes"] == 1 and stats["saved_bytes"] == 8          # only the loss itself is left
    assert dp.tape_stats(dp.tensor(1.0))["nodes"] == 0
    with dp.no_grad():
        assert dp.tape_stats(dp.tanh(x))["nodes"] == 0


def test_tape_stats_needs_a_tensor():
    with pytest.raises(TypeError, match="tape_stats: expected the Tensor"):
        dp.tape_stats(np.ones(3))


def test_graph_lists_operations_shapes_and_edges(rng):
    x, y, w, loss = small_graph(rng)
    g = dp.graph(loss)
    ops = [n["op"] for n in g.nodes if n["kind"] == "op"]
    assert ops == ["sin", "reshape", "multiply", "square", "sum"]
    by_op = {n["op"]: n for n in g.nodes if n["kind"] == "op"}
    assert by_op["reshape"]["shape"] == (2, 5) and by_op["sum"]["shape"] == ()
    assert by_op["multiply"]["dtype"] == "float64" and by_op["multiply"]["saved_bytes"] == 120
    leaf = [n for n in g.nodes if n["kind"] == "leaf"]
    assert len(leaf) == 1 and leaf[0]["shape"] == (10,)
    constants = [n for n in g.nodes if n["kind"] == "constant"]
    assert [c["shape"] for c in constants] == [(5,)]              # np.arange(5.0)
    names = {n["id"]: n["op"] or n["kind"] for n in g.nodes}
    edges = {(names[a], names[b]) for a, b in g.edges}
    assert {("leaf", "sin"), ("sin", "reshape"), ("reshape", "multiply"), ("multiply", "square"),
            ("square", "sum")} <= edges
    assert g.nodes[g.root]["op"] == "sum"
    assert all(n["adjoint_norm"] is None for n in g.nodes)        # no backward yet
    assert len(dp.graph(loss, constants=False).nodes) == 6


def test_graph_shows_adjoint_norms_after_backward(rng):
    x, y, w, loss = small_graph(rng)
    loss.backward(retain_graph=True)
    g = dp.graph(loss)
    by_op = {n["op"]: n for n in g.nodes if n["kind"] == "op"}
    leaf = next(n for n in g.nodes if n["kind"] == "leaf")
    assert np.isclose(leaf["adjoint_norm"], np.linalg.norm(x.grad), rtol=1e-14)
    assert np.isclose(by_op["multiply"]["adjoint_norm"], np.linalg.norm(2 * w.data), rtol=1e-14)
    assert np.isclose(by_op["sin"]["adjoint_norm"], np.linalg.norm(2 * w.data * np.arange(5.0)), rtol=1e-14)
    assert by_op["sum"]["adjoint_norm"] == 1.0
    before = x.grad.copy()
    dp.graph(loss)                                                # the extra pass touches no .grad
    assert np.array_equal(x.grad, before)
    dot = g.to_dot()
    assert dot.startswith("digraph") and "|adjoint|" in dot and "sin\\n(10,) float64" in dot


def test_graph_after_a_freeing_backward_says_what_to_do(rng):
    x, y, w, loss = small_graph(rng)
    z = dp.sum(y)
    z.backward()                                                  # frees y's node
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        dp.graph(loss, adjoints=True)
    assert dp.graph(loss, adjoints=False).nodes[0]["op"] == "sin (freed)"


def test_graph_through_checkpoint_and_custom_nodes(rng):
    class Double(dp.Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, g):
            return 2 * g
    x = dp.tensor(rng.standard_normal(4), requires_grad=True)
    loss = dp.sum(dp.checkpoint(dp.sin, Double.apply(x)))
    g = dp.graph(loss, adjoints=True)
    assert [n["op"] for n in g.nodes if n["kind"] == "op"] == ["Double", "checkpoint", "sum"]
    assert np.isclose(g.nodes[0]["adjoint_norm"], np.linalg.norm(2 * np.cos(2 * x.data)))


def test_graph_writes_dot_and_rendered_files(rng, tmp_path, monkeypatch):
    _, _, _, loss = small_graph(rng)
    path = tmp_path / "g.dot"
    g = dp.graph(loss, path=path)
    assert path.read_text() == g.to_dot()
    with pytest.raises(ValueError, match=r"\.txt"):
        g.save(tmp_path / "g.txt")
    if shutil.which("dot"):
        g.save(tmp_path / "g.svg")
        assert "<svg" in (tmp_path / "g.svg").read_text()
    monkeypatch.setattr(inspect_module.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="Graphviz"):
        g.save(tmp_path / "g.png")


def test_graph_of_a_deep_network_is_quick(rng):
    x = dp.tensor(rng.standard_normal((4, 8)), requires_grad=True)
    h = x
    W = dp.tensor(rng.standard_normal((8, 8)) / 3, requires_grad=True)
    for _ in range(300):
        h = dp.tanh(h @ W)
    loss = dp.sum(h)
    loss.backward(retain_graph=True)
    g = dp.graph(loss)
    assert len([n for n in g.nodes if n["kind"] == "op"]) == 601
    leaf_norms = sorted(n["adjoint_norm"] for n in g.nodes if n["kind"] == "leaf")
    assert np.allclose(leaf_norms, sorted([np.linalg.norm(x.grad), np.linalg.norm(W.grad)]), rtol=1e-12)
