"""Every optimizer matches torch.optim step for step (float64, 1e-10), saves/loads its state,
applies the prox hook, and the clipping helpers match torch.nn.utils."""
import numpy as np
import pytest
import torch

import diffprog as dp
from diffprog import optim


def _problem(seed=0):
    """A small non-quadratic loss on two parameters: sum(tanh(A x)^2) + sum(y^4) + x.y-ish terms."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((5, 4))
    x0 = rng.standard_normal(4)
    y0 = rng.standard_normal((2, 3))
    return A, x0, y0


def _loss(lib, A, x, y):
    if lib is torch:
        return (torch.tanh(torch.from_numpy(A) @ x) ** 2).sum() + (y ** 4).sum() + x[:3] @ y[0] - 0.5 * y.sum()
    return dp.sum(dp.tanh(dp.matmul(A, x)) ** 2) + dp.sum(y ** 4) + dp.matmul(x[:3], y[0]) - 0.5 * dp.sum(y)


CASES = [
    (optim.SGD, torch.optim.SGD, dict(lr=0.05)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.03)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.03, betas=(0.8, 0.95), weight_decay=0.1, amsgrad=True)),
    (optim.AdamW, torch.optim.AdamW, dict(lr=0.03)),
    (optim.AdamW, torch.optim.AdamW, dict(lr=0.03, weight_decay=0.5, amsgrad=True)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
    (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1)),
    (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.1,
                                              initial_accumulator_value=0.2)),
]


@pytest.mark.parametrize("ours, theirs, kwargs", CASES, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_matches_torch_step_for_step(ours, theirs, kwargs):
    A, x0, y0 = _problem()
    x, y = dp.tensor(x0, requires_grad=True), dp.tensor(y0, requires_grad=True)
    tx, ty = torch.tensor(x0, requires_grad=True), torch.tensor(y0, requires_grad=True)
    opt, topt = ours([x, y], **kwargs), theirs([tx, ty], **kwargs)
    for step in range(25):
        opt.zero_grad()
        _loss(dp, A, x, y).backward()
        opt.step()
        topt.zero_grad()
        _loss(torch, A, tx, ty).backward()
        topt.step()
        np.testing.assert_allclose(x.data, tx.detach().numpy(), rtol=1e-10, atol=1e-10, err_msg=f"step {step}")
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-10, err_msg=f"step {step}")


def test_maximize_and_param_groups_match_torch():
    A, x0, y0 = _problem(1)
    x, y = dp.tensor(x0, requires_grad=True), dp.tensor(y0, requires_grad=True)
    tx, ty = torch.tensor(x0, requires_grad=True), torch.tensor(y0, requires_grad=True)
    opt = optim.Adam([{"params": [x]}, {"params": [y], "lr": 0.001}], lr=0.02, maximize=True)
    topt = torch.optim.Adam([{"params": [tx]}, {"params": [ty], "lr": 0.001}], lr=0.02, maximize=True)
    for _ in range(10):
        opt.zero_grad()
        (-_loss(dp, A, x, y)).backward()
        opt.step()
        topt.zero_grad()
        (-_loss(torch, A, tx, ty)).backward()
        topt.step()
    np.testing.assert_allclose(x.data, tx.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop, optim.Adagrad])
def test_state_dict_round_trip_resumes_identically(cls, tmp_path):
    A, x0, y0 = _problem(2)
    kwargs = dict(lr=0.01, momentum=0.9) if cls in (optim.SGD, optim.RMSprop) else dict(lr=0.01)

    def run(params, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            _loss(dp, A, *params).backward()
            opt.step()

    p1 = [dp.tensor(x0, requires_grad=True), dp.tensor(y0, requires_grad=True)]
    opt1 = cls(p1, **kwargs)
    run(p1, opt1, 5)
    opt1.save(tmp_path / "opt.npz")
    p2 = [dp.tensor(p.data.copy(), requires_grad=True) for p in p1]
    opt2 = cls(p2, **kwargs)
    opt2.load(tmp_path / "opt.npz")
    run(p1, opt1, 5)
    run(p2, opt2, 5)
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a.data, b.data)
    fresh = [dp.tensor(p.data.copy(), requires_grad=True) for p in p1[:1]]
    with pytest.raises(ValueError, match="parameter 1"):
        cls(fresh, **kwargs).load_state_dict(opt1.state_dict())


def test_prox_is_applied_after_the_step_with_the_learning_rate():
    calls = []

    def soft_threshold(x, step):
        calls.append(step)
        return np.sign(x) * np.maximum(np.abs(x) - step * 0.5, 0)

    x0 = np.array([1.0, -0.2, 0.05, 3.0])
    x = dp.tensor(x0, requires_grad=True)
    opt = optim.SGD([x], lr=0.1, prox=soft_threshold)
    dp.sum(x * np.array([1.0, 1.0, -1.0, 0.0])).backward()
    opt.step()
    after_step = x0 - 0.1 * np.array([1.0, 1.0, -1.0, 0.0])
    np.testing.assert_allclose(x.data, np.sign(after_step) * np.maximum(np.abs(after_step) - 0.05, 0))
    assert calls == [0.1]
    with pytest.raises(TypeError, match="prox"):
        optim.Adam([x], prox="l1")


def test_clipping_matches_torch():
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal((3, 4)) * 5, rng.standard_normal(7)]
    ps = [dp.tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    tps = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, tp, g in zip(ps, tps, grads):
        p.grad, tp.grad = g.copy(), torch.from_numpy(g.copy())
    total = optim.clip_grad_norm(ps, 2.0)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, 2.0)
    assert total == pytest.approx(float(ttotal), rel=1e-12)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12)
    assert optim.global_grad_norm(ps) == pytest.approx(2.0, rel=1e-6)
    optim.clip_grad_value(ps, 0.1)
    torch.nn.utils.clip_grad_value_(tps, 0.1)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="max_norm"):
        optim.clip_grad_norm(ps, 0)


def test_schedules_match_torch():
    def pair(ours, theirs, steps=30):
        p, tp = dp.tensor([1.0], requires_grad=True), torch.tensor([1.0], requires_grad=True)
        o, to = optim.SGD([p], lr=0.5), torch.optim.SGD([tp], lr=0.5)
        s, ts = ours(o), theirs(to)
        for _ in range(steps):
            assert s.get_last_lr()[0] == pytest.approx(ts.get_last_lr()[0], rel=1e-12, abs=1e-15)
            o.step()
            to.step()
            s.step()
            ts.step()

    pair(lambda o: optim.StepLR(o, 7, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 7, 0.5))
    pair(lambda o: optim.ExponentialLR(o, 0.9), lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9))
    pair(lambda o: optim.CosineAnnealingLR(o, 20, eta_min=0.01),
         lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 20, eta_min=0.01), steps=20)
    pair(lambda o: optim.LinearWarmup(o, 10, start_factor=0.1),
         lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=10))


def test_warmup_then_cosine():
    p = dp.tensor([1.0], requires_grad=True)
    o = optim.SGD([p], lr=1.0)
    s = optim.LinearWarmup(o, 4, after=optim.CosineAnnealingLR(o, 10))
    lrs = []
    for _ in range(16):
        lrs.append(s.get_last_lr()[0])
        s.step()
    np.testing.assert_allclose(lrs[:5], [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(lrs[4:15], (1 + np.cos(np.pi * np.arange(11) / 10)) / 2, atol=1e-15)


def test_errors_name_the_argument():
    x = dp.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="parameter 0"):
        optim.Adam([np.zeros(3)])
    with pytest.raises(ValueError, match="does not require grad"):
        optim.Adam([dp.tensor([1.0])])
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([x], betas=(0.9, 1.5))
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([x], lr=0.1, nesterov=True)
