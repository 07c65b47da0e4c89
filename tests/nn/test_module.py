"""Module bookkeeping: parameters, buffers, train/eval, state_dict round trip, init statistics."""
import numpy as np
import pytest

import diffprog as dp
from diffprog import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(3, 8, rng=0), nn.ReLU(), nn.BatchNorm1d(8))
        self.head = nn.Linear(8, 2, rng=1)
        self.tied = self.head.weight      # a shared parameter is listed once
        self.dropout = nn.Dropout(0.5, rng=0)

    def forward(self, x):
        return self.head(self.dropout(self.encoder(x)))


def test_parameters_names_and_modes():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["encoder.layers.0.weight", "encoder.layers.0.bias", "encoder.layers.2.weight",
                     "encoder.layers.2.bias", "head.weight", "head.bias"]
    assert len(net.parameters()) == 6
    net.eval()
    assert all(not m.training for m in net.modules())
    net.train()
    assert net.dropout.training and net.encoder.layers[2].training


def test_state_dict_round_trip_through_npz(tmp_path):
    net = Net()
    x = np.random.default_rng(0).standard_normal((16, 3))
    net(x)                                  # updates BatchNorm running statistics
    net.save(tmp_path / "net.npz")
    other = Net()
    for p in other.parameters():
        p.data = p.data * 0 + 7.0
    other.load(tmp_path / "net.npz")
    for (n1, a), (n2, b) in zip(net.state_dict().items(), other.state_dict().items()):
        assert n1 == n2
        np.testing.assert_array_equal(a, b)
    assert "encoder.layers.2.running_mean" in net.state_dict()
    net.eval(), other.eval()
    np.testing.assert_array_equal(net(x).data, other(x).data)
    sd = net.state_dict()
    sd["head.weight"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"head.weight has shape \(3, 3\), the model expects \(2, 8\)"):
        other.load_state_dict(sd)
    del sd["head.weight"]
    with pytest.raises(KeyError, match="missing keys.*head.weight"):
        other.load_state_dict(sd)
    missing, unexpected = other.load_state_dict(sd, strict=False)
    assert missing == ["head.weight"] and unexpected == []


def test_state_dict_returns_copies():
    lin = nn.Linear(2, 2, rng=0)
    sd = lin.state_dict()
    sd["weight"][:] = 0
    assert np.any(lin.weight.data != 0)


def test_initializers_statistics_and_seeding():
    shape = (400, 300)
    for name, std in [("xavier_normal", np.sqrt(2 / 700)), ("kaiming_normal", np.sqrt(2 / 300)),
                      ("xavier_uniform", np.sqrt(6 / 700) / np.sqrt(3)),
                      ("kaiming_uniform", np.sqrt(6 / 300) / np.sqrt(3))]:
        w = getattr(nn.init, name)(shape, rng=0)
        assert w.std() == pytest.approx(std, rel=0.02), name
        np.testing.assert_array_equal(w, getattr(nn.init, name)(shape, rng=np.random.default_rng(0)))
    q = nn.init.orthogonal((5, 8), rng=1)
    np.testing.assert_allclose(q @ q.T, np.eye(5), atol=1e-12)
    q = nn.init.orthogonal((8, 5), gain=2.0, rng=1)
    np.testing.assert_allclose(q.T @ q, 4 * np.eye(5), atol=1e-12)
    s = nn.init.siren_uniform((64, 32), omega_0=30, rng=0)
    assert np.abs(s).max() <= np.sqrt(6 / 32) / 30
    assert np.abs(nn.init.siren_uniform((64, 2), is_first=True, rng=0)).max() <= 0.5
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(np.sqrt(2 / 1.04))
    with pytest.raises(TypeError, match="rng"):
        nn.init.normal((2, 2), rng="seed")
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.init.calculate_gain("swish")


def test_grad_norms_per_layer_and_parameter():
    m = nn.MLP(2, [4], 1, rng=0)
    nn.mse_loss(m(np.ones((3, 2))), np.zeros((3, 1))).backward()
    per_layer = nn.grad_norms(m)
    per_param = nn.grad_norms(m, per="parameter")
    assert list(per_layer) == ["layers.0", "layers.2"]
    assert per_layer["layers.0"] == pytest.approx(np.hypot(per_param["layers.0.weight"], per_param["layers.0.bias"]))
    expected = np.sqrt(np.sum(m.linears[1].weight.grad ** 2) + np.sum(m.linears[1].bias.grad ** 2))
    assert per_layer["layers.2"] == pytest.approx(expected)
