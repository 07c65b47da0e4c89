"""dp.linalg: values against NumPy/SciPy, gradients against central differences (reverse and
forward mode) and against torch.linalg, batched inputs, repeated values, errors."""
import numpy as np
import pytest
from scipy.linalg import expm as scipy_expm

import diffprog as dp
import diffprog.linalg as L

rng = np.random.default_rng(0)
A = rng.standard_normal((3, 4, 4))
B = rng.standard_normal((3, 4, 2))
TALL = rng.standard_normal((2, 5, 3))
WIDE = rng.standard_normal((2, 3, 5))


def sym(x):
    """A symmetric positive-definite matrix from any square x (differentiable)."""
    return (x + dp.swapaxes(x, -1, -2)) / 2 + 4 * np.eye(x.shape[-1])


def svd_loss(x):
    u, s, vh = L.svd(x, full_matrices=False)
    return dp.sum(u ** 4) + dp.sum(s ** 2) + dp.sum(vh ** 4)      # invariant to the sign gauge


def eigh_loss(x):
    w, v = L.eigh(sym(x))
    return dp.sum(w ** 2) + dp.sum(v ** 4)


def qr_loss(x):
    q, r = L.qr(x)
    return dp.sum(q ** 3) + dp.sum(r ** 3)


# name: (diffprog function, inputs, the same function in torch)
CASES = {
    "solve": (lambda a, b: L.solve(a, b), (A, B), lambda t, a, b: t.linalg.solve(a, b)),
    "solve_vector": (lambda a, b: L.solve(a, b), (A[0], B[0, :, 0]), lambda t, a, b: t.linalg.solve(a, b)),
    "inv": (L.inv, (A,), lambda t, a: t.linalg.inv(a)),
    "det": (L.det, (A,), lambda t, a: t.linalg.det(a)),
    "slogdet": (lambda a: L.slogdet(a)[1], (A,), lambda t, a: t.linalg.slogdet(a)[1]),
    "cholesky": (lambda a: L.cholesky(sym(a)), (A,),
                 lambda t, a: t.linalg.cholesky((a + a.mT) / 2 + 4 * t.eye(4, dtype=a.dtype))),
    "cho_solve": (lambda a, b: L.cho_solve(L.cholesky(sym(a)), b), (A, B),
                  lambda t, a, b: t.cholesky_solve(b, t.linalg.cholesky((a + a.mT) / 2 + 4 * t.eye(4, dtype=a.dtype)))),
    "qr": (qr_loss, (TALL,), lambda t, a: (t.linalg.qr(a)[0] ** 3).sum() + (t.linalg.qr(a)[1] ** 3).sum()),
    "eigh": (eigh_loss, (A,), lambda t, a: ((t.linalg.eigh((a + a.mT) / 2 + 4 * t.eye(4, dtype=a.dtype))[0] ** 2).sum()
                                          + (t.linalg.eigh((a + a.mT) / 2 + 4 * t.eye(4, dtype=a.dtype))[1] ** 4).sum())),
    "svd_tall": (svd_loss, (TALL,), lambda t, a: sum((o ** p).sum() for o, p in zip(t.linalg.svd(a, full_matrices=False), (4, 2, 4)))),
    "svd_wide": (svd_loss, (WIDE,), lambda t, a: sum((o ** p).sum() for o, p in zip(t.linalg.svd(a, full_matrices=False), (4, 2, 4)))),
    "lstsq_tall": (L.lstsq, (TALL[0], rng.standard_normal((5, 2))),
                   lambda t, a, b: t.linalg.lstsq(a, b).solution),
    "lstsq_wide": (lambda a, b: L.lstsq(a, b), (WIDE[0], rng.standard_normal(3)),
                   lambda t, a, b: t.linalg.pinv(a) @ b),
    "norm_fro": (lambda a: L.norm(a, axis=(-2, -1)), (A,), lambda t, a: t.linalg.matrix_norm(a, "fro")),
    "norm_nuc": (lambda a: L.norm(a, "nuc", axis=(-2, -1)), (A,), lambda t, a: t.linalg.matrix_norm(a, "nuc")),
    "norm_2": (lambda a: L.norm(a, 2, axis=(1, 2)), (A,), lambda t, a: t.linalg.matrix_norm(a, 2)),
    "norm_-2": (lambda a: L.norm(a, -2, axis=(1, 2)), (A,), lambda t, a: t.linalg.matrix_norm(a, -2)),
    "norm_1": (lambda a: L.norm(a, 1, axis=(1, 2)), (A,), lambda t, a: t.linalg.matrix_norm(a, 1)),
    "norm_inf": (lambda a: L.norm(a, np.inf, axis=(1, 2)), (A,), lambda t, a: t.linalg.matrix_norm(a, float("inf"))),
    "norm_vector_3": (lambda a: L.norm(a, 3, axis=-1), (A,), lambda t, a: t.linalg.vector_norm(a, 3, dim=-1)),
    "matrix_power_5": (lambda a: L.matrix_power(a, 5), (A * 0.5,), lambda t, a: t.linalg.matrix_power(a, 5)),
    "matrix_power_-2": (lambda a: L.matrix_power(a, -2), (A,), lambda t, a: t.linalg.matrix_power(a, -2)),
    "expm": (L.expm, (A * 0.5,), lambda t, a: t.linalg.matrix_exp(a)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_finite_differences_both_modes(name):
    f, args, _ = CASES[name]
    dp.gradcheck(f, *args, modes=("rev", "fwd"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_torch(name):
    torch = pytest.importorskip("torch")
    f, args, tf = CASES[name]
    targs = [torch.tensor(a, requires_grad=True) for a in args]
    tout = tf(torch, *targs)
    out = f(*args)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-9, atol=1e-10)
    w = np.random.default_rng(1).standard_normal(out.shape)
    (tout * torch.tensor(w)).sum().backward()
    ours = dp.grad(lambda *xs: dp.sum(f(*xs) * w), argnums=tuple(range(len(args))))(*args)
    for g, t in zip(ours, targs):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ["solve", "inv", "det", "expm", "eigh", "cholesky", "svd_tall", "qr"])
def test_second_derivatives(name):
    f, args, _ = CASES[name]
    small = tuple(a[:1] for a in args) if np.ndim(args[0]) == 3 else args
    dp.gradcheck(f, *small, order=2, atol=1e-4)


def test_values_match_numpy_and_scipy():
    np.testing.assert_allclose(L.expm(A).data, scipy_expm(A), rtol=1e-12)
    np.testing.assert_allclose(L.det(A).data, np.linalg.det(A))
    w, v = L.eigh(A + np.swapaxes(A, -1, -2))
    np.testing.assert_allclose(w.data, np.linalg.eigvalsh(A + np.swapaxes(A, -1, -2)))
    np.testing.assert_allclose(L.svdvals(TALL).data, np.linalg.svd(TALL, compute_uv=False))
    np.testing.assert_allclose(L.matrix_power(A, 0).data, np.broadcast_to(np.eye(4), A.shape))
    np.testing.assert_allclose(L.norm(A[0]).data, np.linalg.norm(A[0]))
    x = L.lstsq(TALL[0], np.arange(5.0))
    np.testing.assert_allclose(x.data, np.linalg.lstsq(TALL[0], np.arange(5.0), rcond=None)[0])
    q, r = L.qr(TALL)
    np.testing.assert_allclose((q @ r).data, TALL, atol=1e-12)
    u, s, vh = L.svd(A[0])
    np.testing.assert_allclose((u * s @ vh).data, A[0], atol=1e-12)
    assert L.svd(TALL[0])[0].shape == (5, 5)           # full matrices without gradient, as NumPy


def test_repeated_eigenvalues_give_finite_exact_gradients_for_invariant_losses():
    q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    a = q @ np.diag([1.0, 2.0, 2.0, 3.0]) @ q.T          # a double eigenvalue
    # the projector onto the repeated eigenspace is invariant to rotations within it
    def loss(x):
        w, v = L.eigh(x)
        p = v[:, 1:3] @ dp.swapaxes(v[:, 1:3], 0, 1)
        return dp.sum(p * np.arange(16.0).reshape(4, 4)) + dp.sum(w ** 3)
    g = dp.grad(loss)(a)
    assert np.all(np.isfinite(g))
    sym_dir = rng.standard_normal((4, 4))
    sym_dir = sym_dir + sym_dir.T
    eps = 1e-6
    fd = (loss(a + eps * sym_dir).item() - loss(a - eps * sym_dir).item()) / (2 * eps)
    np.testing.assert_allclose(np.sum(g * sym_dir), fd, rtol=1e-5)
    g2 = dp.grad(lambda x: L.norm(x, 2))(np.diag([3.0, 3.0, 1.0]))   # repeated top singular value
    assert np.all(np.isfinite(g2))


def test_complex_solve_and_expm_follow_the_wirtinger_convention():
    torch = pytest.importorskip("torch")
    a = A[0] + 1j * rng.standard_normal((4, 4))
    b = B[0, :, 0] + 1j * rng.standard_normal(4)
    at, bt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (torch.abs(torch.linalg.solve(at, bt)) ** 2).sum().backward()
    ga, gb = dp.grad(lambda x, y: dp.sum(dp.abs(L.solve(x, y)) ** 2), argnums=(0, 1))(a, b)
    np.testing.assert_allclose(ga, at.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(gb, bt.grad.numpy(), rtol=1e-9)
    at = torch.tensor(a * 0.3, requires_grad=True)
    torch.abs(torch.linalg.matrix_exp(at)).sum().backward()
    np.testing.assert_allclose(dp.grad(lambda x: dp.sum(dp.abs(L.expm(x))))(a * 0.3), at.grad.numpy(), rtol=1e-9)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="square"):
        L.inv(np.ones((2, 3)))
    with pytest.raises(ValueError, match="matrix"):
        L.det(np.ones(3))
    with pytest.raises(ValueError, match="positive definite"):
        L.cholesky(-np.eye(2))
    with pytest.raises(ValueError, match="b must"):
        L.solve(np.eye(3), np.ones(4))
    with pytest.raises(ValueError, match="full_matrices"):
        L.svd(dp.tensor(TALL[0], requires_grad=True))
    with pytest.raises(TypeError, match="integer"):
        L.matrix_power(np.eye(2), 1.5)
    with pytest.raises(ValueError, match="ord"):
        L.norm(A[0], "spectral")
