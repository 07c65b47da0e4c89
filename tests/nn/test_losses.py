"""Losses against PyTorch (values and gradients), stability for extreme logits, shape errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import diffprog as dp
from diffprog import nn


def _compare(ours, theirs, inputs, grad_index=0, rtol=1e-11):
    dins = [dp.tensor(a, requires_grad=(i == grad_index)) for i, a in enumerate(inputs)]
    tins = [torch.tensor(a, requires_grad=(i == grad_index)) for i, a in enumerate(inputs)]
    out, tout = ours(*dins), theirs(*tins)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=rtol, atol=1e-13)
    u = np.random.default_rng(9).standard_normal(out.shape)
    dp.sum(out * u).backward()
    (tout * torch.from_numpy(u)).sum().backward()
    np.testing.assert_allclose(dins[grad_index].grad, tins[grad_index].grad.numpy(), rtol=rtol, atol=1e-13)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses_match_torch(rng, reduction):
    a, b = rng.standard_normal((6, 3)) * 2, rng.standard_normal((6, 3))
    _compare(lambda x, y: nn.mse_loss(x, y, reduction=reduction),
             lambda x, y: F.mse_loss(x, y, reduction=reduction), [a, b])
    _compare(lambda x, y: nn.l1_loss(x, y, reduction=reduction),
             lambda x, y: F.l1_loss(x, y, reduction=reduction), [a, b])
    _compare(lambda x, y: nn.huber_loss(x, y, delta=0.7, reduction=reduction),
             lambda x, y: F.huber_loss(x, y, delta=0.7, reduction=reduction), [a, b])
    dp.gradcheck(lambda x: nn.huber_loss(x, b, delta=0.7), a)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_matches_torch(rng, smoothing, reduction):
    logits = rng.standard_normal((7, 5)) * 3
    labels = rng.integers(0, 5, 7)
    probs = rng.dirichlet(np.ones(5), 7)
    _compare(lambda z: nn.cross_entropy(z, labels, label_smoothing=smoothing, reduction=reduction),
             lambda z: F.cross_entropy(z, torch.from_numpy(labels), label_smoothing=smoothing, reduction=reduction),
             [logits])
    _compare(lambda z: nn.cross_entropy(z, probs, label_smoothing=smoothing, reduction=reduction),
             lambda z: F.cross_entropy(z, torch.from_numpy(probs), label_smoothing=smoothing, reduction=reduction),
             [logits])
    logp = np.log(probs)
    _compare(lambda z: nn.nll_loss(z, labels, reduction=reduction),
             lambda z: F.nll_loss(z, torch.from_numpy(labels), reduction=reduction), [logp])


def test_bce_with_logits_matches_torch(rng):
    z = rng.standard_normal((4, 6)) * 5
    y = rng.random((4, 6))
    w = rng.random(6) + 0.5
    _compare(nn.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, [z, y])
    _compare(lambda a, b: nn.binary_cross_entropy_with_logits(a, b, pos_weight=w),
             lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=torch.from_numpy(w)), [z, y])
    dp.gradcheck(lambda a: nn.binary_cross_entropy_with_logits(a, y), z)


def test_classification_losses_are_stable_for_extreme_logits():
    z = dp.tensor([[1000.0, -1000.0, 0.0], [-800.0, 800.0, 10.0]], requires_grad=True)
    loss = nn.cross_entropy(z, np.array([1, 1]), label_smoothing=0.1)
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(z.grad))
    b = dp.tensor([1000.0, -1000.0], requires_grad=True)
    loss = nn.binary_cross_entropy_with_logits(b, np.array([0.0, 1.0]))
    loss.backward()
    assert loss.item() == pytest.approx(1000.0) and np.all(np.isfinite(b.grad))


def test_loss_shape_errors():
    with pytest.raises(ValueError, match=r"mse_loss: input shape \(3, 1\) and target shape \(3,\)"):
        nn.mse_loss(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match=r"one label per row"):
        nn.cross_entropy(np.zeros((3, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 4\)"):
        nn.cross_entropy(np.zeros((2, 4)), np.array([0, 4]))
    with pytest.raises(ValueError, match="reduction"):
        nn.l1_loss(np.zeros(2), np.zeros(2), reduction="avg")
