"""A colour field on the surface: colour(point) = MLP(encoding(point)), shaded per pixel-face pair.

The field replaces vertex colours (whose detail is limited to the vertex spacing): each pixel-face
pair's colour is the field at the pair's own surface point, the mesh's vertices interpolated with
the pair's barycentrics (or its interpolated UV, where the mesh has UVs). The point depends on the
vertices, so image losses reach the geometry through the field as well as through coverage.

Inputs are normalized to [-1, 1] by a box fixed at construction (``center``, ``extent``: half the
largest side), so ``frequencies`` and ``scale`` count cycles over the object, not over world units.

Encodings (``encoding=``):

- ``"none"``: the normalized point itself;
- ``"positional"``: NeRF's ``nn.FourierFeatures``: p, sin(2^k pi p), cos(2^k pi p), k < ``frequencies``;
- ``"sinusoidal"``: the Transformer's ``nn.SinusoidalEncoding`` of each coordinate (``2 frequencies``
  channels per coordinate, wavelengths from 2 pi / ``scale`` geometrically up to 10000x that);
- ``"gaussian"``: ``nn.GaussianFourierFeatures``: cos/sin(2 pi B p) with ``frequencies`` rows of
  B ~ N(0, ``scale``^2).

The network: ``depth`` hidden ReLU layers of ``width`` units, then 3 sigmoid outputs (RGB in (0, 1)).
"""
import numpy as np

import diffprog.autodiff as dp
from diffprog import nn
from diffprog import render as R

ENCODINGS = ("none", "positional", "sinusoidal", "gaussian")
FIELD_CHUNK = 1 << 15       # pairs per checkpointed block (bounds the memory of the MLP's graph)


class ColorField(nn.Module):
    """colour = sigmoid(MLP(encoding((point - center) / extent))): (..., in_dim) -> (..., 3).

    encoding: one of ``ENCODINGS``; frequencies: number of octaves (positional, sinusoidal) or of
    random features (gaussian); scale: standard deviation of the Gaussian frequencies, or the
    highest angular frequency of the sinusoidal encoding, in cycles per unit of the normalized box;
    width, depth: hidden units and hidden layers; in_dim: 3 (positions) or 2 (UVs); center (in_dim,),
    extent (scalar): the normalizing box; seed: initialization and Gaussian frequencies.
    """

    def __init__(self, encoding="gaussian", frequencies=64, scale=4.0, width=64, depth=2, in_dim=3, center=None,
                 extent=1.0, seed=0):
        super().__init__()
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding: expected one of {ENCODINGS}, got {encoding!r}")
        for name, value in (("frequencies", frequencies), ("width", width), ("depth", depth), ("in_dim", in_dim)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale: expected a positive number, got {scale!r}")
        if not (np.isfinite(extent) and extent > 0):
            raise ValueError(f"extent: expected a positive number, got {extent!r}")
        self.encoding_name, self.frequencies, self.scale = encoding, int(frequencies), float(scale)
        self.width, self.depth, self.in_dim = int(width), int(depth), int(in_dim)
        center = np.zeros(self.in_dim) if center is None else np.asarray(center, float)
        if center.shape != (self.in_dim,):
            raise ValueError(f"center: expected shape ({self.in_dim},), got {center.shape}")
        self.register_buffer("center", center)
        self.register_buffer("extent", np.asarray(float(extent)))
        if encoding == "positional":
            self.encoding = nn.FourierFeatures(self.in_dim, num_freqs=self.frequencies, include_input=True)
            features = self.encoding.out_dim
        elif encoding == "sinusoidal":
            self.encoding = nn.SinusoidalEncoding(2 * self.frequencies, base=10000.0)
            features = self.in_dim * 2 * self.frequencies
        elif encoding == "gaussian":
            self.encoding = nn.GaussianFourierFeatures(self.in_dim, self.frequencies, self.scale, seed=seed)
            features = self.encoding.out_dim
        else:
            self.encoding, features = None, self.in_dim
        self.network = nn.MLP(features, self.width, 3, num_hidden_layers=self.depth, activation="relu",
                              output_activation="sigmoid", rng=np.random.default_rng([seed, 1]))

    @classmethod
    def around(cls, points, margin=1.25, **options):
        """A field whose normalizing box holds ``points`` (K, in_dim) with some ``margin``."""
        points = np.asarray(points, float)
        low, high = points.min(axis=0), points.max(axis=0)
        extent = margin * 0.5 * float(np.max(high - low))
        return cls(in_dim=points.shape[1], center=0.5 * (low + high), extent=max(extent, 1e-12), **options)

    def encode(self, points):
        """(..., in_dim) points -> (..., features) encoded normalized points."""
        x = (points - self.center) / self.extent
        if self.encoding is None:
            return x
        if self.encoding_name == "sinusoidal":
            angles = x * (2 * np.pi * self.scale)                 # the highest frequency: scale cycles per unit
            enc = self.encoding(angles)                           # (..., in_dim, 2 frequencies)
            shape = enc.shape
            return dp.reshape(enc, shape[:-2] + (shape[-2] * shape[-1],))
        return self.encoding(x)

    def forward(self, points):
        """(..., in_dim) Tensor or array -> (..., 3) colours in (0, 1)."""
        shape = points.shape
        if not shape or shape[-1] != self.in_dim:
            raise ValueError(f"ColorField(in_dim={self.in_dim}): expected points of shape (..., {self.in_dim}), "
                             f"got {shape}")
        return self.network(self.encode(points))

    def colors_at(self, points, chunk=FIELD_CHUNK):
        """(K, 3) NumPy colours at (K, in_dim) points, without recording (for baking and export)."""
        points = np.asarray(points, float)
        with dp.no_grad():
            return np.concatenate([self.forward(points[a:a + chunk]).data for a in range(0, len(points), chunk)]
                                  or [np.zeros((0, 3))])

    def evaluate(self, points, chunk=FIELD_CHUNK):
        """``forward`` over (P, in_dim) points in checkpointed blocks of ``chunk``: the backward pass
        recomputes each block, so memory holds one block's activations, not P's."""
        n = points.shape[0]
        if n <= chunk:
            return self.forward(points)
        linears = self.network.linears
        params = [p for lin in linears for p in (lin.weight, lin.bias)]

        def block(x, *values):
            saved = [(lin.weight, lin.bias) for lin in linears]
            try:
                for i, lin in enumerate(linears):
                    lin.weight, lin.bias = values[2 * i], values[2 * i + 1]
                return self.forward(x)
            finally:
                for lin, (w, b) in zip(linears, saved):
                    lin.weight, lin.bias = w, b
        return dp.concatenate([dp.checkpoint(block, points[a:a + chunk], *params) for a in range(0, n, chunk)],
                              axis=0)

    def extra_repr(self):
        return (f"encoding={self.encoding_name!r}, frequencies={self.frequencies}, scale={self.scale:g}, "
                f"width={self.width}, depth={self.depth}, in_dim={self.in_dim}")


def surface_points(fragments, mesh, use_uvs=False):
    """(P, 3) surface point (or (P, 2) UV with ``use_uvs``) of each pixel-face pair: the face's
    vertices (UVs) interpolated with the pair's barycentrics; differentiable in both."""
    if use_uvs:
        if mesh.uvs is None:
            raise ValueError("use_uvs: the mesh has no UVs (texture coordinates)")
        return R.interpolate(mesh.uvs, mesh.face_uvs, fragments)
    return R.interpolate(mesh.verts, mesh.faces, fragments)


def shade_field(field, fragments, mesh):
    """(P, 3) colours of the pairs: the field at each pair's surface point (UV when ``field.in_dim``
    is 2)."""
    if len(fragments) == 0:
        return dp.zeros((0, 3), dtype=mesh.verts.dtype)
    return field.evaluate(surface_points(fragments, mesh, use_uvs=field.in_dim == 2))


def field_shader(field):
    """A shader callable ``(fragments, mesh, cams, lights) -> (P, 3)`` for ``render(..., shader=)``:
    unlit, the colour field at each pair's point (cameras and lights do not enter)."""
    def shader(fragments, mesh, cams=None, lights=None):
        return shade_field(field, fragments, mesh)
    return shader


def render_field(mesh, cams, field, rasterizer, background):
    """(N, H, W, 4) RGBA Tensor: the field's colours blended over ``background`` (RGB), A the coverage."""
    return R.render(mesh, cams, rasterizer=rasterizer, shader=field_shader(field), background=background)
