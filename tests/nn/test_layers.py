"""Layers against PyTorch (values and gradients, float64) and finite differences."""
import numpy as np
import pytest
import torch

import diffprog as dp
from diffprog import nn


def _t(a, grad=False):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=grad)


def test_linear_matches_torch(rng):
    layer = nn.Linear(5, 3, rng=1)
    ref = torch.nn.Linear(5, 3).double()
    with torch.no_grad():
        ref.weight.copy_(_t(layer.weight.data))
        ref.bias.copy_(_t(layer.bias.data))
    x = rng.standard_normal((2, 4, 5))
    xt = _t(x, True)
    xd = dp.tensor(x, requires_grad=True)
    u = rng.standard_normal((2, 4, 3))
    dp.sum(layer(xd) * u).backward()
    (ref(xt) * _t(u)).sum().backward()
    np.testing.assert_allclose(layer(x).data, ref(xt).detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(xd.grad, xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, ref.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, ref.bias.grad.numpy(), rtol=1e-12)
    bound = 1 / np.sqrt(5)
    assert np.all(np.abs(layer.weight.data) <= bound) and np.all(np.abs(layer.bias.data) <= bound)
    dp.gradcheck(lambda x, w, b: dp.matmul(x, w.T) + b, x[0], layer.weight.data, layer.bias.data)


def test_shape_errors_name_the_layer_and_expected_size():
    with pytest.raises(ValueError, match=r"Linear\(in_features=5, out_features=3\).*last dimension 5.*\(4, 2\)"):
        nn.Linear(5, 3)(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"LayerNorm\(\(6,\)\).*\(6,\).*\(2, 5\)"):
        nn.LayerNorm(6)(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(4\).*channel dimension \(axis 1\) 4"):
        nn.BatchNorm1d(4)(np.zeros((8, 3)))
    with pytest.raises(ValueError, match=r"Embedding\(10, 3\).*\[0, 10\)"):
        nn.Embedding(10, 3)(np.array([1, 10]))
    with pytest.raises(TypeError, match="integers"):
        nn.Embedding(10, 3)(np.array([1.0]))
    with pytest.raises(ValueError, match=r"MLP|Linear\(in_features=2"):
        nn.MLP(2, [8], 1)(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="same shape"):
        nn.Residual(nn.Linear(3, 2))(np.zeros((1, 3)))


def test_mlp_structure_and_init_choices():
    m = nn.MLP(3, [16, 16], 2, activation="tanh", output_activation="sigmoid", init="xavier_uniform", rng=0)
    assert [type(l).__name__ for l in m] == ["Linear", "Tanh", "Linear", "Tanh", "Linear", "Sigmoid"]
    assert len(m.parameters()) == 6 and np.all(m.linears[0].bias.data == 0)
    out = m(np.zeros((4, 3)))
    assert out.shape == (4, 2) and np.all((out.data > 0) & (out.data < 1))
    siren = nn.MLP(2, 32, 1, num_hidden_layers=3, activation="sin", init="siren", rng=0)
    assert np.abs(siren.linears[0].weight.data).max() <= 1 / 2
    assert np.abs(siren.linears[1].weight.data).max() <= np.sqrt(6 / 32) / 30
    with pytest.raises(ValueError, match="unknown activation"):
        nn.MLP(2, [4], 1, activation="swishy")
    with pytest.raises(ValueError, match="unknown init"):
        nn.Linear(2, 3, init="magic")


def test_residual_and_sequential(rng):
    block = nn.Sequential(nn.Linear(4, 4, rng=0), nn.ReLU(), nn.Linear(4, 4, rng=1))
    res = nn.Residual(block)
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(res(x).data, x + block(x).data)
    assert len(res.parameters()) == 4 and len(block[:2]) == 2


def test_embedding_matches_torch_and_accumulates_repeats():
    emb = nn.Embedding(6, 3, rng=0)
    ref = torch.nn.Embedding(6, 3).double()
    with torch.no_grad():
        ref.weight.copy_(_t(emb.weight.data))
    idx = np.array([[1, 2, 1], [5, 1, 0]])
    u = np.random.default_rng(1).standard_normal((2, 3, 3))
    dp.sum(emb(idx) * u).backward()
    (ref(torch.from_numpy(idx)) * _t(u)).sum().backward()
    np.testing.assert_allclose(emb.weight.grad, ref.weight.grad.numpy(), rtol=1e-12)


def test_dropout_train_and_eval():
    d = nn.Dropout(0.25, rng=0)
    x = np.ones((200, 200))
    y = d(x).data
    assert abs((y == 0).mean() - 0.25) < 0.01
    np.testing.assert_allclose(y[y != 0], 1 / 0.75)
    d.eval()
    assert d(x) is x
    xt = dp.tensor(x, requires_grad=True)
    d.train()
    out = d(xt)
    dp.sum(out).backward()
    np.testing.assert_allclose(xt.grad, out.data)  # gradient = mask / (1 - p)


@pytest.mark.parametrize("shape, norm_shape", [((4, 6), 6), ((2, 3, 4, 5), (4, 5))])
def test_layernorm_matches_torch(rng, shape, norm_shape):
    ln = nn.LayerNorm(norm_shape)
    ln.weight.data = rng.standard_normal(ln.weight.shape)
    ln.bias.data = rng.standard_normal(ln.bias.shape)
    ref = torch.nn.LayerNorm(norm_shape).double()
    with torch.no_grad():
        ref.weight.copy_(_t(ln.weight.data))
        ref.bias.copy_(_t(ln.bias.data))
    x = rng.standard_normal(shape) * 3 + 1
    u = rng.standard_normal(shape)
    xd, xt = dp.tensor(x, requires_grad=True), _t(x, True)
    dp.sum(ln(xd) * u).backward()
    (ref(xt) * _t(u)).sum().backward()
    np.testing.assert_allclose(ln(x).data, ref(xt).detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xd.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ln.weight.grad, ref.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(ln.bias.grad, ref.bias.grad.numpy(), rtol=1e-10)
    dp.gradcheck(lambda x: nn.LayerNorm(norm_shape)(x), x)


@pytest.mark.parametrize("shape", [(8, 3), (5, 3, 4)])
def test_batchnorm_matches_torch_train_and_eval(rng, shape):
    bn = nn.BatchNorm1d(3, momentum=0.2)
    ref = torch.nn.BatchNorm1d(3, momentum=0.2).double()
    with torch.no_grad():
        w, b = rng.standard_normal(3), rng.standard_normal(3)
        bn.weight.data, bn.bias.data = w, b
        ref.weight.copy_(_t(w))
        ref.bias.copy_(_t(b))
    for step in range(3):
        x = rng.standard_normal(shape) * 2 + step
        u = rng.standard_normal(shape)
        xd, xt = dp.tensor(x, requires_grad=True), _t(x, True)
        bn.zero_grad()
        ref.zero_grad()
        dp.sum(bn(xd) * u).backward()
        (ref(xt) * _t(u)).sum().backward()
        np.testing.assert_allclose(xd.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(bn.weight.grad, ref.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(bn.running_mean, ref.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, ref.running_var.numpy(), rtol=1e-12)
    bn.eval()
    ref.eval()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(bn(x).data, ref(_t(x)).detach().numpy(), rtol=1e-10, atol=1e-12)
    assert int(bn.num_batches_tracked) == 3
    bn.train()
    dp.gradcheck(lambda x: nn.BatchNorm1d(3)(x), x)
