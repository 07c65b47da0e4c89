"""Learning-rate schedules: ``scheduler.step()`` once per epoch (or iteration) sets each group's
``lr`` to ``initial_lr * factor(t)``, where ``t`` counts the calls to ``step``."""
import math

from .optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses define ``factor(t)``; ``get_last_lr()`` lists the current rates."""

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: optimizer must be a diffprog.optim.Optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    def factor(self, t):
        raise NotImplementedError

    def _apply(self):
        f = self.factor(self.last_epoch)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * f

    def step(self):
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        return {"last_epoch": self.last_epoch}

    def load_state_dict(self, state):
        self.last_epoch = int(state["last_epoch"])
        self._apply()


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        if int(step_size) < 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size}")
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer)

    def factor(self, t):
        return self.gamma ** (t // self.step_size)


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every step."""

    def __init__(self, optimizer, gamma):
        self.gamma = gamma
        super().__init__(optimizer)

    def factor(self, t):
        return self.gamma ** t


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from the initial rate down to ``eta_min`` over ``T_max`` steps (closed form;
    periodic afterwards as in PyTorch)."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        if int(T_max) < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive integer, got {T_max}")
        self.T_max, self.eta_min = int(T_max), eta_min
        super().__init__(optimizer)

    def _apply(self):
        c = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.eta_min + (base - self.eta_min) * c

    def factor(self, t):
        return (1 + math.cos(math.pi * t / self.T_max)) / 2


class LinearWarmup(LRScheduler):
    """Ramp the rate linearly from ``start_factor * lr`` to ``lr`` over ``warmup_steps`` steps
    (PyTorch's ``LinearLR``), then follow ``after`` (another schedule's ``factor``, counted from
    the end of the warm-up) if given."""

    def __init__(self, optimizer, warmup_steps, start_factor=0.0, after=None):
        if int(warmup_steps) < 1:
            raise ValueError(f"LinearWarmup: warmup_steps must be a positive integer, got {warmup_steps}")
        if not 0 <= start_factor <= 1:
            raise ValueError(f"LinearWarmup: start_factor must be in [0, 1], got {start_factor}")
        if after is not None and not isinstance(after, LRScheduler):
            raise TypeError(f"LinearWarmup: after must be a schedule (e.g. CosineAnnealingLR), got "
                            f"{type(after).__name__}")
        self.warmup_steps, self.start_factor, self.after = int(warmup_steps), start_factor, after
        super().__init__(optimizer)

    def factor(self, t):
        if t < self.warmup_steps:
            return self.start_factor + (1 - self.start_factor) * t / self.warmup_steps
        return 1.0 if self.after is None else self.after.factor(t - self.warmup_steps)
