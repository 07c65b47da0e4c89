"""The gradient-flow claims that examples/gradient_flow.py illustrates, on smaller nets."""
import numpy as np

import diffprog as dp
from diffprog import nn

DEPTH, WIDTH = 20, 64


def _norms(model, rng, examples=4):
    """Per-layer gradient norms of sum(model(x) * u), u a random cotangent, mean over examples."""
    out = []
    for _ in range(examples):
        x, u = rng.standard_normal((1, WIDTH)), rng.standard_normal((1, WIDTH))
        model.zero_grad()
        dp.sum(model(x) * u).backward()
        out.append(list(nn.grad_norms(model).values()))
    return np.mean(out, axis=0)


def _stack(activation, init):
    rng = np.random.default_rng(0)
    layers = []
    for _ in range(DEPTH):
        layers += [nn.Linear(WIDTH, WIDTH, init=init, rng=rng), activation()]
    return nn.Sequential(*layers[:-1])


def test_sigmoid_vanishes_relu_he_preserves_residual_rescues():
    rng = np.random.default_rng(1)
    sigmoid = _norms(_stack(nn.Sigmoid, "default"), rng)
    assert sigmoid[0] / sigmoid[-1] < 1e-8
    relu = _norms(_stack(nn.ReLU, "kaiming_normal"), rng)
    assert relu.max() / relu.min() < 2.0
    blocks = [nn.Residual(nn.Sequential(nn.Linear(WIDTH, WIDTH, rng=i), nn.Sigmoid())) for i in range(DEPTH - 1)]
    residual = _norms(nn.Sequential(*blocks, nn.Linear(WIDTH, WIDTH, rng=99)), rng)
    assert residual[0] / residual[-2] > 0.05


def test_clipping_bounds_the_update_of_an_exploding_network():
    rng = np.random.default_rng(2)
    model = _stack(nn.ReLU, "kaiming_normal")
    for layer in model.layers[::2]:
        layer.weight.data = layer.weight.data * 2.0
    x, y = rng.standard_normal((8, WIDTH)), rng.standard_normal((8, WIDTH))
    nn.mse_loss(model(x), y).backward()
    params = model.parameters()
    before = dp.optim.global_grad_norm(params)
    assert before > 1e6
    returned = dp.optim.clip_grad_norm(params, 1.0)
    assert returned == before and abs(dp.optim.global_grad_norm(params) - 1.0) < 1e-6
