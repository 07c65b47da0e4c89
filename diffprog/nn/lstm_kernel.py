"""A fused LSTM layer: the whole sequence's recurrence and its backward pass in one NumPy kernel.

Only the recurrent product h W_hh^T runs step by step; the input projection is a separate
(engine) matrix product over the whole sequence, the weight gradient of W_hh is one product over
all steps, the gate derivatives are stored by the forward pass while they are in cache, and the
steps work in place on preallocated buffers. First-order only: use ``LSTMCell(fused=False)`` to
differentiate twice (asking for more raises NotImplementedError).
"""
import numpy as np

from diffprog.autodiff import Tensor
from diffprog.autodiff.extend import Primitive, apply


def lstm_sequence(projected, weight_hh, h0, c0, truncate=0):
    """Run an LSTM layer over a sequence as one recorded primitive.

    projected: (T, N, 4H) = x W_ih^T + b_ih + b_hh (gate order i, f, g, o); weight_hh: (4H, H);
    h0, c0: (N, H); ``truncate`` = k > 0 stops gradients between steps t-1 and t for t = k, 2k, ...
    (0: full BPTT). Returns a (T + 1, N, H) Tensor: the hidden states h_1..h_T, then the final
    cell state c_T. Reverse mode only, first order.
    """
    saved = {}

    def forward(xp, w, h, c):
        out, saved["residuals"] = _forward(xp, w, h, c)
        return out

    def vjp_all(g, ans, args, needs, kw):
        if type(ans) is Tensor:
            raise NotImplementedError("the fused LSTM sequence kernel has a first-order backward only; build the "
                                      "cells with fused=False (e.g. LSTM(..., fused=False)) to differentiate twice")
        grads = _backward(saved["residuals"], g, int(truncate))
        return [gr if need else None for gr, need in zip(grads, needs)]

    return apply(Primitive("lstm_sequence", forward, vjp_all=vjp_all), projected, weight_hh, h0, c0)


def _forward(projected, weight_hh, h0, c0):
    T, N, G = projected.shape
    H = G // 4
    dtype = projected.dtype
    scale = np.full(G, 0.5, dtype)
    scale[2 * H:3 * H] = 1.0                       # sigmoid(x) = 0.5 tanh(x / 2) + 0.5
    offset = np.where(scale == 0.5, 0.5, 0.0).astype(dtype)
    gates = np.empty((T, N, G), dtype)
    cells = np.empty((T + 1, N, H), dtype)
    tanh_c = np.empty((T, N, H), dtype)
    out = np.empty((T + 1, N, H), dtype)
    cells[0] = c0
    w_scaled = np.ascontiguousarray(weight_hh.T * scale)           # the 1/2 folded into the weights
    np.multiply(projected, scale, out=gates)                        # and into the inputs
    input_g = np.empty((N, H), dtype)
    slopes = np.empty((T, N, G), dtype)            # gate derivatives: s (1 - s) and 1 - tanh^2
    slope_scale = scale * scale
    h = np.asarray(h0, dtype)
    for t in range(T):
        z = gates[t]
        z += h @ w_scaled
        np.tanh(z, out=z)
        slope = slopes[t]
        np.multiply(z, z, out=slope)
        np.subtract(1, slope, out=slope)
        slope *= slope_scale                       # with u = tanh(x/2): s (1 - s) = (1 - u^2) / 4
        z *= scale
        z += offset
        i, f, g, o = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
        c = cells[t + 1]
        np.multiply(f, cells[t], out=c)
        np.multiply(i, g, out=input_g)
        c += input_g
        np.tanh(c, out=tanh_c[t])
        h = out[t]
        np.multiply(o, tanh_c[t], out=h)
    out[T] = cells[T]
    return out, (gates, slopes, cells, tanh_c, out, np.asarray(h0, dtype), weight_hh)


def _backward(residuals, grad, k_trunc):
    gates, slopes, cells, tanh_c, out, h0, weight_hh = residuals
    T, N, G = gates.shape
    H = G // 4
    dz = np.empty((T, N, G), gates.dtype)
    dh_rec = np.zeros((N, H), gates.dtype)
    dc_carry = np.array(grad[T], dtype=gates.dtype)
    grad_h = grad[:T]
    for t in range(T - 1, -1, -1):
        z = gates[t]
        i, f, g, o = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
        tc = tanh_c[t]
        d = dz[t]
        dh = grad_h[t] + dh_rec
        dc = dh * o
        dc *= 1 - tc * tc
        dc += dc_carry
        np.multiply(dc, g, out=d[:, :H])                       # d/di
        np.multiply(dc, cells[t], out=d[:, H:2 * H])           # d/df
        np.multiply(dc, i, out=d[:, 2 * H:3 * H])              # d/dg
        np.multiply(dh, tc, out=d[:, 3 * H:])                  # d/do
        d *= slopes[t]
        if k_trunc and t % k_trunc == 0 and t > 0:
            dh_rec = np.zeros_like(dh_rec)
            dc_carry = np.zeros_like(dc_carry)
        else:
            dh_rec = d @ weight_hh
            dc_carry = dc * f
    h_prev = np.concatenate([h0[None], out[:T - 1]], axis=0)
    d_weight_hh = dz.reshape(-1, G).T @ h_prev.reshape(-1, H)
    return dz, d_weight_hh, dh_rec, dc_carry
