"""Lights and materials (all parameters are Tensors, so they are differentiable).

``DirectionalLight.direction`` is the direction the light travels (from the light into the
scene): (0, -1, 0) shines straight down. ``PointLight.position`` is a world point. ``color`` scales
the diffuse and specular terms; ``ambient`` is the light's ambient intensity (scalar or RGB).
"""
import numpy as np

import diffprog.autodiff as dp
from diffprog.autodiff import Tensor


def _param(x, name, requires_grad, size=None):
    t = x if type(x) is Tensor else dp.tensor(np.asarray(x, dtype=np.float64), requires_grad=requires_grad)
    if size is not None and t.shape not in ((), (size,), (1,)):
        raise ValueError(f"{name}: expected a scalar or shape ({size},), got shape {t.shape}")
    if not np.all(np.isfinite(t.data)):
        raise ValueError(f"{name}: expected finite numbers, got {np.asarray(t.data).tolist()}")
    return t


class DirectionalLight:
    """A light at infinity travelling along ``direction``."""

    def __init__(self, direction=(0.0, -1.0, -1.0), color=(1.0, 1.0, 1.0), ambient=0.5, requires_grad=True):
        self.direction = _param(direction, "direction", requires_grad)
        if self.direction.shape != (3,):
            raise ValueError(f"direction: expected shape (3,), got {self.direction.shape}")
        if np.linalg.norm(self.direction.data) < 1e-12:
            raise ValueError(f"direction: has zero length ({self.direction.data.tolist()})")
        self.color = _param(color, "color", requires_grad, 3)
        self.ambient = _param(ambient, "ambient", requires_grad, 3)

    def to_light(self, points):
        """Unit vectors from surface points (P, 3) towards the light, and the (P, 1) intensity."""
        d = -self.direction / dp.norm(self.direction)
        return dp.broadcast_to(d, points.shape), 1.0

    def __repr__(self):
        return f"DirectionalLight(direction={self.direction.data.tolist()})"


class PointLight:
    """A point light at ``position``; ``attenuation`` None (no fall-off, PyTorch3D's default) or
    (constant, linear, quadratic) coefficients of 1 / (c + l d + q d^2)."""

    def __init__(self, position=(0.0, 2.0, 2.0), color=(1.0, 1.0, 1.0), ambient=0.5, attenuation=None,
                 requires_grad=True):
        self.position = _param(position, "position", requires_grad)
        if self.position.shape != (3,):
            raise ValueError(f"position: expected shape (3,), got {self.position.shape}")
        self.color = _param(color, "color", requires_grad, 3)
        self.ambient = _param(ambient, "ambient", requires_grad, 3)
        self.attenuation = None if attenuation is None else _param(attenuation, "attenuation", False, 3)

    def to_light(self, points):
        diff = self.position - points
        d2 = dp.sum(diff * diff, axis=-1, keepdims=True)
        d = dp.sqrt(dp.maximum(d2, 1e-24))
        scale = 1.0
        if self.attenuation is not None:
            c, l_, q = self.attenuation[0], self.attenuation[1], self.attenuation[2]
            scale = 1.0 / (c + l_ * d + q * d2)
        return diff / d, scale

    def __repr__(self):
        return f"PointLight(position={self.position.data.tolist()})"


class Material:
    """Reflectance: ambient, diffuse and specular coefficients (scalar or RGB) and ``shininess``
    (the Phong exponent)."""

    def __init__(self, ambient=1.0, diffuse=1.0, specular=0.2, shininess=32.0, requires_grad=False):
        self.ambient = _param(ambient, "ambient", requires_grad, 3)
        self.diffuse = _param(diffuse, "diffuse", requires_grad, 3)
        self.specular = _param(specular, "specular", requires_grad, 3)
        self.shininess = _param(shininess, "shininess", requires_grad)
        if np.any(self.shininess.data <= 0):
            raise ValueError(f"shininess: expected a positive exponent, got {self.shininess.data.tolist()}")

    def __repr__(self):
        return (f"Material(ambient={self.ambient.data.tolist()}, diffuse={self.diffuse.data.tolist()}, "
                f"specular={self.specular.data.tolist()}, shininess={self.shininess.data.tolist()})")
