"""Bilinear texture sampling, differentiable with respect to the texels and the UVs.

UV convention: u runs left to right, v bottom to top, both over [0, 1] (OBJ/glTF-as-OBJ style);
texel (row i, column j) has its centre at u = (j + 0.5) / W, v = 1 - (i + 0.5) / H. Lookups
outside [0, 1] clamp to the border texels.
"""
import diffprog.autodiff as dp
from . import kernels


class Bilinear(dp.Function):
    """(texture (H, W, C), uvs (P, 2)) -> (P, C) bilinear lookups (the active kernel set)."""

    @staticmethod
    def forward(ctx, texture, uvs):
        ctx.kernels, ctx.texture, ctx.uvs = kernels.active(), texture, uvs
        return ctx.kernels.sample_bilinear(texture, uvs)

    @staticmethod
    def backward(ctx, g):
        return ctx.kernels.sample_bilinear_backward(ctx.texture, ctx.uvs, g)


def sample_texture(texture, uv):
    """texture: (H, W, C) Tensor; uv: (P, 2) Tensor -> (P, C) bilinearly interpolated colours.
    One fused op: differentiable with respect to the texels and the UVs."""
    return Bilinear.apply(texture, uv)
