import numpy as np

import diffprog as dp


def test_readme_example(rng):
    x = dp.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    W = dp.tensor(rng.standard_normal((4, 2)), requires_grad=True)
    loss = dp.sum(dp.tanh(x @ W) ** 2) + 0.1 * dp.sum(dp.abs(W))
    loss.backward()
    assert x.grad.shape == (3, 4) and W.grad.shape == (4, 2)
    dp.gradcheck(lambda x, W: dp.sum(dp.tanh(x @ W) ** 2) + 0.1 * dp.sum(dp.abs(W)), x.data, W.data)
