"""Recurrent cells (RNN, GRU, LSTM; PyTorch's parameter layout and gate order) and a sequence
runner with backpropagation through time, optionally truncated.

Sequences are time-major ``(T, N, input_size)`` (``batch_first=True`` on the stacked modules for
``(N, T, input_size)``). A cell's state is ``h`` (RNN, GRU) or ``(h, c)`` (LSTM), each ``(N, hidden)``.
The input projection ``x W_ih^T + b`` of a whole sequence is one matrix product; only the
recurrent product runs step by step.
"""
import math

import numpy as np

import diffprog.autodiff as ad
from diffprog.autodiff import Tensor
from diffprog.autodiff.extend import Primitive, apply
from .module import Module, Parameter
from . import init as _init
from .layers import check_features, linear_map
from .lstm_kernel import lstm_sequence


def _sigmoid(x):
    return np.exp(-np.logaddexp(0, -x))


def _lstm_pointwise_forward(z, c):
    """z: (N, 4H) gate pre-activations (i, f, g, o); c: (N, H). Returns stacked (2, N, H) = (h', c')."""
    H = c.shape[-1]
    i, f, o = _sigmoid(z[..., :H]), _sigmoid(z[..., H:2 * H]), _sigmoid(z[..., 3 * H:])
    g = np.tanh(z[..., 2 * H:3 * H])
    c_new = f * c + i * g
    return np.stack([o * np.tanh(c_new), c_new])


def _lstm_pointwise_vjp(g, ans, args, needs, kw):
    if type(ans) is Tensor:
        raise NotImplementedError("the fused LSTM cell has a first-order backward only; build the cell with "
                                  "LSTMCell(..., fused=False) to differentiate twice")
    z, c = args
    H = c.shape[-1]
    i, f, o = _sigmoid(z[..., :H]), _sigmoid(z[..., H:2 * H]), _sigmoid(z[..., 3 * H:])
    gg = np.tanh(z[..., 2 * H:3 * H])
    tc = np.tanh(ans[1])
    gh, gc = g[0], g[1]
    dc = gc + gh * o * (1 - tc * tc)
    dz = np.concatenate([dc * gg * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - gg * gg),
                         gh * tc * o * (1 - o)], axis=-1)
    return [dz if needs[0] else None, dc * f if needs[1] else None]


LSTM_POINTWISE = Primitive("lstm_pointwise", _lstm_pointwise_forward, vjp_all=_lstm_pointwise_vjp)


class _CellBase(Module):
    gates = 1

    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float64):
        super().__init__()
        if int(input_size) < 1 or int(hidden_size) < 1:
            raise ValueError(f"{type(self).__name__}: input_size and hidden_size must be positive, got "
                             f"{input_size}, {hidden_size}")
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        rng = _init.as_generator(rng)
        k = 1.0 / math.sqrt(self.hidden_size)
        G = self.gates * self.hidden_size
        self.weight_ih = Parameter(_init.uniform((G, self.input_size), -k, k, rng, dtype))
        self.weight_hh = Parameter(_init.uniform((G, self.hidden_size), -k, k, rng, dtype))
        if bias:
            self.bias_ih = Parameter(_init.uniform((G,), -k, k, rng, dtype))
            self.bias_hh = Parameter(_init.uniform((G,), -k, k, rng, dtype))
        else:
            self.bias_ih = self.bias_hh = None

    def _name(self):
        return f"{type(self).__name__}(input_size={self.input_size}, hidden_size={self.hidden_size})"

    def project_input(self, x):
        """x W_ih^T + b_ih (and + b_hh where the gate allows): (..., input_size) -> (..., gates*hidden)."""
        check_features(self._name(), x, self.input_size)
        y = linear_map(x, self.weight_ih)
        if self.bias_ih is not None:
            y = y + (self.bias_ih + self.bias_hh if self._merge_biases else self.bias_ih)
        return y

    _merge_biases = True

    def initial_state(self, batch_size, dtype=np.float64):
        return ad.zeros((batch_size, self.hidden_size), dtype=dtype)

    def output(self, state):
        """The hidden vector h of a state."""
        return state

    def detach_state(self, state):
        return state.detach()

    def _check_state(self, h, n):
        if tuple(np.shape(h.data if type(h) is Tensor else h)) != (n, self.hidden_size):
            raise ValueError(f"{self._name()}: expected hidden state of shape ({n}, {self.hidden_size}), got "
                             f"{np.shape(h.data if type(h) is Tensor else h)}")

    def forward(self, x, state=None):
        """One step: x (N, input_size), state -> new state."""
        n = np.shape(x.data if type(x) is Tensor else x)[0]
        if state is None:
            state = self.initial_state(n, getattr(x, "dtype", np.float64))
        return self.recurrence()(self.project_input(x), state)

    def recurrence(self):
        """A function ``step(projected_input_t, state) -> state`` (weights transposed once)."""
        raise NotImplementedError

    def extra_repr(self):
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}"


class RNNCell(_CellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (``nonlinearity='relu'`` for ReLU)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", rng=None, dtype=np.float64):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, rng, dtype)

    def recurrence(self):
        w = self.weight_hh.T
        act = ad.tanh if self.nonlinearity == "tanh" else ad.relu

        def step(xp, h):
            return act(xp + ad.matmul(h, w))
        return step


class GRUCell(_CellBase):
    """r = s(W_ir x + b_ir + W_hr h + b_hr), z = s(W_iz x + b_iz + W_hz h + b_hz),
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) n + z h (gate order r, z, n)."""

    gates = 3
    _merge_biases = False

    def recurrence(self):
        w = self.weight_hh.T
        b = self.bias_hh
        H = self.hidden_size

        def step(xp, h):
            hp = ad.matmul(h, w)
            if b is not None:
                hp = hp + b
            rz = ad.sigmoid(xp[..., :2 * H] + hp[..., :2 * H])
            r, z = rz[..., :H], rz[..., H:]
            n = ad.tanh(xp[..., 2 * H:] + r * hp[..., 2 * H:])
            return n + z * (h - n)
        return step


class LSTMCell(_CellBase):
    """Gates i, f, g, o from x W_ih^T + b_ih + h W_hh^T + b_hh; c' = f c + i g, h' = o tanh(c').
    State ``(h, c)``. ``fused=True`` computes a step's gate non-linearities and their backward in
    one primitive, and :func:`run_sequence` runs whole sequences in one NumPy kernel
    (:mod:`.lstm_kernel`); both are first-order only. ``fused=False`` composes every step from
    engine operations (differentiable to any order)."""

    gates = 4

    def __init__(self, input_size, hidden_size, bias=True, fused=True, rng=None, dtype=np.float64):
        self.fused = bool(fused)
        super().__init__(input_size, hidden_size, bias, rng, dtype)

    def initial_state(self, batch_size, dtype=np.float64):
        return (ad.zeros((batch_size, self.hidden_size), dtype=dtype),
                ad.zeros((batch_size, self.hidden_size), dtype=dtype))

    def output(self, state):
        return state[0]

    def detach_state(self, state):
        return (state[0].detach(), state[1].detach())

    def recurrence(self):
        w = self.weight_hh.T
        H = self.hidden_size

        def step(xp, state):
            h, c = state
            z = xp + ad.matmul(h, w)
            if self.fused:
                hc = apply(LSTM_POINTWISE, z, c)
                return hc[0], hc[1]
            ifo = ad.sigmoid(ad.concatenate([z[..., :2 * H], z[..., 3 * H:]], axis=-1))
            i, f, o = ifo[..., :H], ifo[..., H:2 * H], ifo[..., 2 * H:]
            c_new = f * c + i * ad.tanh(z[..., 2 * H:3 * H])
            return o * ad.tanh(c_new), c_new
        return step


def run_sequence(cell, inputs, state=None, truncate=None):
    """Run ``cell`` over ``inputs`` (T, N, input_size) from ``state`` (zeros if None).

    Returns ``(outputs, final_state)`` with outputs (T, N, hidden). Backpropagation runs through
    all T steps; with ``truncate=k`` the state is detached every k steps (after steps k, 2k, ...),
    so gradients flow back at most k steps within each window of k (truncated BPTT). ``truncate``
    >= T is exactly full BPTT.
    """
    if not isinstance(cell, _CellBase):
        raise TypeError(f"run_sequence: cell must be an RNNCell, GRUCell or LSTMCell, got {type(cell).__name__}")
    shape = np.shape(inputs.data if type(inputs) is Tensor else inputs)
    if len(shape) != 3:
        raise ValueError(f"run_sequence: inputs must have shape (T, N, input_size), got {shape}")
    if truncate is not None and int(truncate) < 1:
        raise ValueError(f"run_sequence: truncate must be a positive number of steps or None, got {truncate}")
    T, n, _ = shape
    dtype = inputs.dtype if type(inputs) is Tensor else np.asarray(inputs).dtype
    if state is None:
        state = cell.initial_state(n, dtype if dtype.kind == "f" else np.float64)
    else:
        for h in (state if isinstance(state, tuple) else (state,)):
            cell._check_state(h, n)
    projected = cell.project_input(inputs)
    if isinstance(cell, LSTMCell) and cell.fused:
        packed = lstm_sequence(projected, cell.weight_hh, state[0], state[1], int(truncate or 0))
        return packed[:T], (packed[T - 1], packed[T])
    step = cell.recurrence()
    outputs = []
    for t in range(T):
        if truncate is not None and t > 0 and t % int(truncate) == 0:
            state = cell.detach_state(state)
        state = step(projected[t], state)
        outputs.append(cell.output(state))
    return ad.stack(outputs), state


class _Stacked(Module):
    cell_class = None

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, rng=None,
                 dtype=np.float64, **cell_kwargs):
        super().__init__()
        if int(num_layers) < 1:
            raise ValueError(f"{type(self).__name__}: num_layers must be >= 1, got {num_layers}")
        rng = _init.as_generator(rng)
        self.input_size, self.hidden_size, self.num_layers = int(input_size), int(hidden_size), int(num_layers)
        self.batch_first = bool(batch_first)
        self.cells = [self.cell_class(self.input_size if i == 0 else self.hidden_size, self.hidden_size, bias=bias,
                                      rng=rng, dtype=dtype, **cell_kwargs) for i in range(self.num_layers)]

    def forward(self, inputs, states=None, truncate=None):
        """inputs (T, N, input_size) (or (N, T, ...) with batch_first) -> (outputs (T, N, hidden), list
        of each layer's final state). ``states``: list of initial states per layer (None: zeros)."""
        if states is not None and len(states) != self.num_layers:
            raise ValueError(f"{type(self).__name__}: states must list {self.num_layers} per-layer states, got "
                             f"{len(states)}")
        x = ad.swapaxes(inputs, 0, 1) if self.batch_first else inputs
        finals = []
        for i, cell in enumerate(self.cells):
            x, final = run_sequence(cell, x, None if states is None else states[i], truncate)
            finals.append(final)
        return (ad.swapaxes(x, 0, 1) if self.batch_first else x), finals

    def extra_repr(self):
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}, num_layers={self.num_layers}"


class RNN(_Stacked):
    """Stacked Elman RNN layers (see :class:`RNNCell`)."""
    cell_class = RNNCell


class GRU(_Stacked):
    """Stacked GRU layers (see :class:`GRUCell`)."""
    cell_class = GRUCell


class LSTM(_Stacked):
    """Stacked LSTM layers (see :class:`LSTMCell`)."""
    cell_class = LSTMCell
