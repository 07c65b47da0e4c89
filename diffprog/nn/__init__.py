"""Neural-network building blocks: modules, layers, activations, initializers, losses, recurrent
and tree-structured cells, positional encodings and gradient-flow diagnostics."""
from .module import Module, Parameter, is_parameter
from .layers import Linear, Sequential, MLP, Residual, Embedding, Dropout, LayerNorm, BatchNorm1d
from .activations import (relu, leaky_relu, gelu, elu, sigmoid, tanh, softplus, sin, erf,
                          ReLU, LeakyReLU, GELU, ELU, Sigmoid, Tanh, Softplus, Sine, Identity)
from .losses import mse_loss, l1_loss, huber_loss, cross_entropy, nll_loss, binary_cross_entropy_with_logits
from .recurrent import RNNCell, GRUCell, LSTMCell, RNN, GRU, LSTM, run_sequence
from .tree import TreeCell
from .encodings import SinusoidalEncoding, FourierFeatures, GaussianFourierFeatures
from .diagnostics import grad_norms
from . import init
