"""A corpus of plain NumPy programs: NumPy imported as np and nothing else.

``test_numpy_corpus`` differentiates each one (the Tensors reach NumPy's functions
through ``__array_function__``/``__array_ufunc__``) and compares with HIPS autograd running the very
same source with ``np`` bound to ``autograd.numpy``. ``PROGRAMS[name] = (function, inputs)``, where
``inputs`` lists one (generator, shape) per argument; generators keep inputs away from kinks and
ties, where conventions differ between libraries.
"""
import numpy as np

PROGRAMS = {}


def program(*inputs):
    def register(fn):
        PROGRAMS[fn.__name__] = (fn, inputs)
        return fn
    return register


N, P, U, S, D = "normal", "positive", "unit", "spd", "distinct"


# ---- elementwise and reductions ----------------------------------------------------------------
@program((N, (5,)))
def clip_times_x(x):
    return np.sum(np.clip(x, -0.5, 0.5) * x)


@program((N, (4,)))
def concatenate_twice(x):
    return np.sum(np.concatenate([x, 2 * x, x ** 2]) ** 2)


@program((N, (3,)))
def stack_rows(x):
    return np.mean(np.stack([x, np.sin(x), np.cos(x)], axis=1) ** 2)


@program((N, (6,)))
def where_leaky(x):
    return np.sum(np.where(x > 0, x, 0.1 * x) ** 2)


@program((N, (3, 4)), (N, (4,)))
def dot_tanh(W, x):
    return np.sum(np.tanh(np.dot(W, x)))


@program((N, (3, 4)), (N, (4, 2)))
def matmul_operator(A, B):
    return np.sum((A @ B) ** 2)


@program((N, (4,)), (N, (4, 4)))
def einsum_quadratic_form(x, A):
    return np.einsum("i,ij,j->", x, A, x)


@program((N, (6,)))
def log_sum_exp_by_hand(x):
    m = np.max(x)
    return np.log(np.sum(np.exp(x - m))) + m - x[0]


@program((N, (5,)))
def euclidean_norm(x):
    return np.linalg.norm(x)


@program((N, (4, 3)))
def row_norms(X):
    return np.sum(np.linalg.norm(X, axis=1))


@program((N, (3, 3)))
def frobenius_norm(A):
    return np.linalg.norm(A, "fro")


@program((N, (2, 3)), (N, (2, 3)))
def reshape_transpose(x, y):
    return np.sum(np.transpose(np.reshape(x, (3, 2))) * y)


@program((N, (5,)))
def take_with_repeats(x):
    return np.sum(np.take(x, [0, 2, 2, 4]) ** 3)


@program((N, (4,)))
def pad_weighted(x):
    return np.sum(np.pad(x, 2) * np.arange(8.0))


@program((N, (6,)))
def cumsum_squares(x):
    return np.sum(np.cumsum(x) ** 2)


@program((D, (7,)))
def sort_weighted(x):
    return np.sum(np.sort(x) * np.arange(7.0))


@program((D, (4, 3)))
def max_over_axis(X):
    return np.sum(np.max(X, axis=0)) + np.min(X)


@program((N, (5, 3)))
def variance_and_std(X):
    return np.var(X) + np.std(X, axis=0).sum()


@program((P, (5,)))
def product(x):
    return np.prod(x)


@program((N, (3,)), (N, (4,)))
def outer_product(x, y):
    return np.sum(np.outer(x, y) ** 2)


@program((N, (3, 3)))
def trace_gram(A):
    return np.trace(A @ A.T)


@program((N, (3,)), (N, (3, 3)))
def diag_scaling(x, A):
    return np.sum(np.diag(x) @ A) + np.sum(np.diag(A) ** 2)


@program((N, (4, 4)))
def triangles(A):
    return np.sum(np.tril(A) * np.triu(A.T, 1)) + np.sum(np.tril(A, -1) ** 2)


@program((N, (6,)))
def roll_correlation(x):
    return np.sum(np.roll(x, 2) * x)


@program((N, (7,)))
def finite_differences(x):
    return np.sum(np.diff(x) ** 2) + np.sum(np.diff(x, n=2))


@program((N, (6,)))
def cumulative_product(x):
    return np.sum(np.cumprod(x))


@program((P, (5,)))
def sqrt_log(x):
    return np.sum(np.sqrt(x) * np.log(x))


@program((N, (5,)))
def softplus_by_hand(x):
    return np.sum(np.log1p(np.exp(x)))


@program((N, (4,)), (N, (4,)))
def arctan2_hypot(x, y):
    return np.sum(np.arctan2(x, y) + np.hypot(x, y))


@program((N, (4,)), (N, (4,)))
def logaddexp_pair(x, y):
    return np.sum(np.logaddexp(x, y))


@program((P, (4,)), (N, (4,)))
def power_both(x, y):
    return np.sum(x ** y)


@program((N, (5,)))
def abs_power(x):
    return np.sum(np.abs(x) ** 1.5)


@program((N, (6, 3)))
def standardize(X):
    Z = (X - X.mean(axis=0, keepdims=True)) / X.std(axis=0, keepdims=True)
    return np.sum(Z ** 3)


@program((N, (2, 3)))
def tensor_methods(x):
    return x.sum() * x.T.reshape(-1)[1] + x.mean() + (x ** 2).max(axis=1).sum()


@program((N, (2, 2)), (N, (2, 3)))
def kronecker(A, B):
    return np.sum(np.kron(A, B) ** 2)


@program((N, (2, 3, 4)), (N, (4, 3)))
def tensordot_axes(A, B):
    return np.sum(np.tensordot(A, B, axes=([1, 2], [1, 0])) ** 2)


@program((N, (3,)), (N, (2, 3)))
def hstack_vstack(x, Y):
    return np.sum(np.vstack([x, Y]) ** 2) + np.sum(np.hstack([x, x]) * np.arange(6.0))


@program((N, (3,)))
def broadcast_and_squeeze(x):
    return np.sum(np.broadcast_to(x, (4, 3)) * np.arange(12.0).reshape(4, 3)) + \
        np.sum(np.squeeze(np.expand_dims(x, 0)) ** 2)


@program((N, (2, 3)))
def flip_tile_repeat(x):
    return np.sum(np.flip(x, axis=1) * x) + np.sum(np.tile(x, (2, 1)) ** 2) + np.sum(np.repeat(x, 2) ** 3)


@program((N, (4, 3)), (P, (3,)))
def weighted_average(X, w):
    return np.sum(np.average(X, axis=1, weights=w) ** 2)


@program((D, (5,)))
def median_of_five(x):
    return np.median(x) * np.sum(x)


@program((N, (4,)), (N, (6,)))
def polynomial_values(p, x):
    return np.sum(np.polyval(p, x))


@program((N, (6,)), (N, (3,)))
def convolution(a, v):
    return np.sum(np.convolve(a, v) ** 2) + np.sum(np.convolve(a, v, mode="valid"))


@program((N, (3,)), (N, (3,)))
def cross_product(a, b):
    return np.sum(np.cross(a, b) ** 2)


# ---- linear algebra and Fourier transforms ---------------------------------------------------------
@program((S, (3, 3)), (N, (3,)))
def linear_solve(A, b):
    return np.sum(np.linalg.solve(A, b) ** 2)


@program((S, (3, 3)))
def inverse_trace(A):
    return np.trace(np.linalg.inv(A))


@program((S, (3, 3)))
def log_determinant(A):
    return np.linalg.slogdet(A)[1] + np.linalg.det(A)


@program((S, (3, 3)))
def symmetric_eigenvalues(A):
    w, V = np.linalg.eigh((A + A.T) / 2)        # symmetric input: every convention agrees
    return np.sum(w * np.arange(1.0, 4.0))


@program((S, (3, 3)))
def cholesky_factor(A):
    return np.sum(np.linalg.cholesky(A) ** 2)


@program((N, (4, 3)))
def singular_values(A):
    return np.sum(np.linalg.svd(A, compute_uv=False) ** 3)


@program((N, (8,)))
def power_spectrum(x):
    return np.sum(np.abs(np.fft.fft(x)) ** 2 * np.arange(8.0))


@program((N, (8,)))
def real_fft_roundtrip(x):
    X = np.fft.rfft(x)
    return np.sum(np.fft.irfft(X * np.exp(-np.arange(5.0))) ** 2)


@program((S, (3, 3)))
def matrix_square(A):
    return np.sum(np.linalg.matrix_power(A, 3))


# ---- small models ------------------------------------------------------------------------------------
@program((N, (3,)), (N, (10, 3)), (U, (10,)))
def logistic_regression(w, X, y):
    z = X @ w
    return np.mean(np.log1p(np.exp(-np.sign(y) * z)))


@program((N, (4,)), (N, (8, 4)), (N, (8,)))
def ridge_loss(w, X, y):
    r = X @ w - y
    return 0.5 * np.dot(r, r) + 0.1 * np.sum(w ** 2)


@program((N, (2,)))
def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


@program((N, (5, 3)), (N, (4, 5)), (N, (4,)), (N, (2, 4)), (N, (6, 3)))
def two_layer_mlp(W1, W2, b2, W3, X):
    h = np.tanh(X @ W1.T)
    h = np.maximum(h @ W2.T + b2, 0.01 * (h @ W2.T + b2))
    out = h @ W3.T
    return np.mean((out - 1.0) ** 2)


@program((N, (4, 3)), (N, (5, 3)), (N, (5, 3)))
def attention(Q, K, V):
    scores = Q @ K.T / np.sqrt(3.0)
    scores = scores - np.max(scores, axis=1, keepdims=True)
    weights = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
    return np.sum((weights @ V) ** 2)


@program((N, (3, 3)), (N, (3, 2)), (N, (4, 2)))
def recurrent_loop(Wh, Wx, xs):
    h = np.zeros(3)
    for t in range(xs.shape[0]):
        h = np.tanh(Wh @ h + Wx @ xs[t])
    return np.sum(h ** 2)


@program((N, (2,)))
def runge_kutta_pendulum(y0):
    def f(y):
        return np.array([0.0, 0.0]) + np.stack([y[1], -np.sin(y[0])])
    y, dt = y0, 0.1
    for _ in range(5):
        k1 = f(y)
        k2 = f(y + dt / 2 * k1)
        k3 = f(y + dt / 2 * k2)
        k4 = f(y + dt * k3)
        y = y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return np.sum(y ** 2)


@program((N, (3,)), (P, (3,)), (N, (7,)))
def gaussian_mixture_likelihood(means, scales, x):
    z = (x[:, None] - means[None, :]) / scales[None, :]
    logp = -0.5 * z ** 2 - np.log(scales)[None, :] - 0.5 * np.log(2 * np.pi)
    m = np.max(logp, axis=1, keepdims=True)
    return -np.sum(np.log(np.sum(np.exp(logp - m), axis=1)) + m[:, 0])


@program((N, (6, 3)), (N, (3, 2)))
def pca_reconstruction(X, W):
    Z = X @ W
    return np.sum((X - Z @ W.T) ** 2)


@program((N, (3, 2)), (N, (8, 2)))
def soft_kmeans(C, X):
    d2 = np.sum((X[:, None, :] - C[None, :, :]) ** 2, axis=2)
    r = np.exp(-d2) / np.sum(np.exp(-d2), axis=1, keepdims=True)
    return np.sum(r * d2)


@program((N, (4, 2)))
def spring_energy(p):
    d = p[1:] - p[:-1]
    lengths = np.sqrt(np.sum(d ** 2, axis=1))
    return np.sum((lengths - 1.0) ** 2)


@program((N, (5,)))
def huber_loss(r):
    a = np.abs(r)
    return np.sum(np.where(a < 0.7, 0.5 * r ** 2, 0.7 * (a - 0.35)))


@program((U, (6,)))
def special_functions(x):
    return np.sum(np.arcsinh(x) + np.arctanh(x) + np.log2(2 + x) + np.exp2(x) + np.cbrt(x + 2) +
                  np.log10(3 + x) + np.sinc(x + 0.1))


@program((N, (5, 2)))
def covariance(X):
    return np.sum(np.cov(X.T) ** 2)


@program((N, (6,)))
def trapezoid_integral(y):
    return np.trapezoid(y ** 2, dx=0.5)


@program((N, (3, 3)), (N, (3, 3)), (N, (3, 3)))
def chained_products(A, B, C):
    return np.sum(np.linalg.multi_dot([A, B, C]))


@program((N, (3,)), (N, (2,)))
def meshgrid_field(x, y):
    X, Y = np.meshgrid(x, y)
    return np.sum(np.sin(X) * np.cos(Y) * np.arange(6.0).reshape(2, 3))


@program((N, (4, 3)))
def ufunc_reductions(X):
    return np.add.reduce(X ** 2, axis=1).sum() + np.multiply.reduce(X + 3, axis=0).sum() + \
        np.maximum.reduce(X, axis=None)


@program((N, (5,)))
def ufunc_accumulate(x):
    return np.sum(np.add.accumulate(x) ** 2) + np.sum(np.multiply.accumulate(x))


@program((N, (3,)), (N, (4,)))
def ufunc_outer(x, y):
    return np.sum(np.multiply.outer(x, y) ** 2) + np.sum(np.subtract.outer(x, y) ** 2)


@program((N, (4,)), (N, (4,)))
def remainder_and_fmax(x, y):
    return np.sum(np.mod(3 * x, 0.7) + np.fmax(x, y) ** 2)


@program((N, (3, 4)))
def take_along_and_argsort(X):
    idx = np.argsort(X, axis=1)
    return np.sum(np.take_along_axis(X, idx, axis=1) * np.arange(4.0))


@program((N, (2, 3, 4)))
def moveaxis_swapaxes(x):
    return np.sum(np.moveaxis(x, 0, -1) * np.swapaxes(x, 0, 2).transpose((1, 0, 2)))


@program((N, (6,)))
def split_and_append(x):
    a, b, c = np.split(x, 3)
    return np.sum(np.append(a * b, c) ** 2) + np.sum(np.column_stack([a, c]) ** 3)
