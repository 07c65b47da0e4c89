"""Optimizers, gradient clipping and learning-rate schedules for diffprog parameters.

Every optimizer updates the ``data`` of leaf Tensors that require grad from their ``grad``, step
for step as ``torch.optim`` does, and accepts ``prox=`` (a callable ``prox(x, step) -> array``
applied to each parameter after its step, with ``step`` the current learning rate).
"""
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from .rmsprop import RMSprop
from .adagrad import Adagrad
from .clip import clip_grad_norm, clip_grad_value, global_grad_norm
from .schedules import LRScheduler, StepLR, ExponentialLR, CosineAnnealingLR, LinearWarmup
from .proximal import prox, ista, fista, lipschitz_constant, ProximalResult
from .large_steps import LargeSteps, AdamUniform, uniform_laplacian
