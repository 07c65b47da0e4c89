"""The tree-structured recursive cell: against a PyTorch recursion, finite differences, and
gradient reaching every branch."""
import numpy as np
import pytest
import torch

import diffprog as dp
from diffprog import nn

TREE = ((1, (2, 3)), ((0, 4), 2))       # token 2 appears twice: its gradients accumulate


def test_tree_cell_matches_torch_recursion():
    cell = nn.TreeCell(5, 4, rng=0)
    emb = torch.tensor(cell.embedding.weight.data, requires_grad=True)
    W = torch.tensor(cell.combine.weight.data, requires_grad=True)
    b = torch.tensor(cell.combine.bias.data, requires_grad=True)

    def ref(tree):
        if isinstance(tree, int):
            return emb[tree]
        return torch.tanh(W @ torch.cat([ref(c) for c in tree]) + b)

    u = np.random.default_rng(0).standard_normal(4)
    root = cell(TREE)
    dp.sum(root * u).backward()
    root_t = ref(TREE)
    (root_t * torch.from_numpy(u)).sum().backward()
    np.testing.assert_allclose(root.data, root_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(cell.embedding.weight.grad, emb.grad.numpy(), rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(cell.combine.weight.grad, W.grad.numpy(), rtol=1e-11)
    np.testing.assert_allclose(cell.combine.bias.grad, b.grad.numpy(), rtol=1e-11)
    assert np.all(np.abs(cell.embedding.weight.grad).sum(axis=1) > 0)     # every leaf token got a gradient
    root, nodes = cell.encode_all(TREE)
    assert len(nodes) == 11 and nodes[-1] is root


def test_tree_cell_gradcheck_through_shared_weights():
    cell = nn.TreeCell(5, 3, rng=1)

    def f(table, W, b):
        cell.embedding.weight, cell.combine.weight, cell.combine.bias = table, W, b
        return cell(TREE)
    dp.gradcheck(f, cell.embedding.weight.data, cell.combine.weight.data, cell.combine.bias.data)


def test_tree_cell_errors_name_the_path():
    cell = nn.TreeCell(5, 3)
    with pytest.raises(ValueError, match=r"path \(1,\) has 3 children, expected 2"):
        cell((1, (2, 3, 4)))
    with pytest.raises(ValueError, match=r"path \(0, 1\) is token 9"):
        cell(((1, 9), 2))
    with pytest.raises(TypeError, match=r"path \(1,\) is a list"):
        cell((1, [2, 3]))
