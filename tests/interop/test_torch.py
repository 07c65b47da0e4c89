"""The PyTorch bridge: gradients through to_torch_function equal diffprog's own (the soft
rasterizer above all) and PyTorch's autograd; from_torch trains a torch module with diffprog."""
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import diffprog as dp  # noqa: E402
from diffprog import render as R  # noqa: E402
from diffprog.interop.torch import from_torch, to_torch_function  # noqa: E402


def test_import_diffprog_does_not_import_torch():
    code = "import sys, diffprog, diffprog.interop; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _composite(x, W, b):
    h = dp.tanh(x @ W + b)
    return dp.sum(h * h, axis=1), dp.logsumexp(h, axis=0)


def test_composite_matches_torch_autograd(rng):
    x, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    bridged = to_torch_function(_composite)
    tx, tW, tb = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    s, m = bridged(tx, tW, tb)
    (s @ torch.arange(5.0, dtype=torch.float64) + m.sum() ** 2).backward()
    rx, rW, rb = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    h = torch.tanh(rx @ rW + rb)
    ((h * h).sum(1) @ torch.arange(5.0, dtype=torch.float64) + torch.logsumexp(h, 0).sum() ** 2).backward()
    for ours, theirs in ((tx, rx), (tW, rW), (tb, rb)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-13)
    assert torch.autograd.gradcheck(bridged, (tx, tW, tb))


def test_only_requested_gradients_and_constants_pass_through(rng):
    calls = []

    def f(x, scale, faces, power=2):
        calls.append((type(x), scale, faces.dtype))
        return dp.sum(x[faces] ** power) * scale
    bridged = to_torch_function(f)
    x = torch.tensor(rng.standard_normal(6), requires_grad=True)
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    y = bridged(x, 0.5, faces, power=3)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 1.5 * x.detach().numpy() ** 2)
    assert calls[0][1:] == (0.5, np.int64)
    with torch.no_grad():
        assert float(bridged(x, 0.5, faces)) == pytest.approx(0.5 * float((x ** 2).sum()))


def _scene(size=24):
    mesh = R.ico_sphere(1)
    verts = np.asarray(mesh.verts.data, float)
    colors = np.random.default_rng(1).random(verts.shape)
    cams = R.look_at(eye=R.orbit(n=2, elev=25, dist=2.6), fov=50, image_size=(size, size), requires_grad=False)
    return verts, mesh.faces, colors, cams


def _render(verts, colors, faces, cams):
    mesh = R.Mesh(verts, faces, colors=colors)
    return R.render(mesh, cams, R.DirectionalLight(direction=(0, -1, -1), ambient=0.3),
                    rasterizer=R.SoftRasterizer(sigma=1e-4, gamma=1e-4), shader="gouraud")


def test_pytorch_loop_through_soft_rasterizer_gets_diffprog_gradients():
    verts, faces, colors, cams = _scene()
    target = np.random.default_rng(2).random((2, 24, 24, 4))
    bridged = to_torch_function(lambda v, c: _render(v, c, faces, cams))
    tv = torch.tensor(verts, requires_grad=True)
    tc = torch.tensor(colors, requires_grad=True)
    optimizer = torch.optim.SGD([tv, tc], lr=0.1)
    dv, dc = verts.copy(), colors.copy()
    for _ in range(3):                               # a PyTorch training loop, mirrored in diffprog
        optimizer.zero_grad()
        loss = ((bridged(tv, tc) - torch.from_numpy(target)) ** 2).mean()
        loss.backward()
        value, (gv, gc) = dp.value_and_grad(lambda v, c: dp.mean((_render(v, c, faces, cams) - target) ** 2),
                                            argnums=(0, 1))(dv, dc)
        assert loss.item() == pytest.approx(float(value), rel=1e-12)
        np.testing.assert_allclose(tv.grad.numpy(), gv, rtol=0, atol=1e-12 * np.abs(gv).max())
        np.testing.assert_allclose(tc.grad.numpy(), gc, rtol=0, atol=1e-12 * np.abs(gc).max())
        optimizer.step()
        dv, dc = dv - 0.1 * gv, dc - 0.1 * gc
    np.testing.assert_allclose(tv.detach().numpy(), dv, atol=1e-12)


def test_float32_stays_float32():
    bridged = to_torch_function(lambda x: dp.sin(x) * 2)
    x = torch.ones(3, dtype=torch.float32, requires_grad=True)
    y = bridged(x)
    y.sum().backward()
    assert y.dtype == torch.float32 and x.grad.dtype == torch.float32
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(1.0), rtol=1e-6)


def test_from_torch_module_trains_with_diffprog(rng):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    module = from_torch(net)
    assert [n for n, _ in module.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    x = rng.standard_normal((16, 3))
    y = np.sin(x.sum(1, keepdims=True))
    xt = dp.tensor(x, requires_grad=True)
    loss = dp.mean((module(xt) - y) ** 2)
    loss.backward()
    rx = torch.tensor(x, requires_grad=True)
    ref = ((net(rx) - torch.from_numpy(y)) ** 2).mean()
    ref.backward()
    assert float(loss) == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(xt.grad, rx.grad.numpy(), rtol=1e-12, atol=1e-14)
    for p, (_, q) in zip(module.parameters(), net.named_parameters()):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-12, atol=1e-14)
    optimizer = dp.optim.Adam(module.parameters(), lr=0.05)
    first = float(loss)
    for _ in range(60):
        optimizer.zero_grad()
        loss = dp.mean((module(x) - y) ** 2)
        loss.backward()
        optimizer.step()
    assert float(loss) < 0.5 * first
    module.copy_to_torch()
    assert float(((net(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2).mean()) == pytest.approx(
        float(dp.mean((module(x) - y) ** 2)), rel=1e-12)


def test_from_torch_function_passes_gradcheck(rng):
    f = from_torch(lambda a, b: torch.sin(a) * b.exp())
    assert dp.gradcheck(f, rng.standard_normal(4), rng.standard_normal(4))


def test_errors_name_the_problem():
    with pytest.raises(TypeError, match="module: expected a torch.nn.Module"):
        from_torch(3)
    bridged = to_torch_function(lambda x: "text")
    with pytest.raises(TypeError, match="expected the function to return"):
        bridged(torch.ones(2, requires_grad=True))
