"""``Fragments``: the pixel-face pairs a rasterizer found, with their differentiable geometry.

``pixel`` (flat index n * H * W + row * W + col), ``face`` (index of the screen triangle) and
``parent`` (its mesh face) are integer arrays; ``dist``, ``bary``, ``depth`` are Tensors (see
``render.pairs`` for their conventions).
"""
import numpy as np

import diffprog.autodiff as dp


class Fragments:
    """Pixel-face pairs and their geometry (ragged: any number of faces per pixel).

    pixel: (P,) flat pixel index n * H * W + row * W + col; face: (P,) screen-triangle index;
    parent: (P,) index of the mesh face the triangle comes from; dist, depth: (P,) Tensors;
    bary: (P, 3) Tensor of barycentrics over the *mesh face's* vertices; image_shape: (N, H, W).
    ``interpolation``: instead of ``bary`` and ``depth``, a function returning them, called (with
    the recording mode of construction) the first time either is read, so that renders that never
    read them (silhouettes) record no node for them.
    """

    def __init__(self, pixel, face, parent, dist, bary, depth, image_shape, interpolation=None):
        self.pixel, self.face, self.parent = pixel, face, parent
        self.dist, self._bary, self._depth = dist, bary, depth
        self.image_shape = tuple(image_shape)
        self._interpolation = None
        if interpolation is not None:
            self._interpolation = (interpolation, dp.is_grad_enabled())

    def _interpolate(self):
        fn, grad = self._interpolation
        with (dp.enable_grad() if grad else dp.no_grad()):
            self._bary, self._depth = fn()
        self._interpolation = None

    @property
    def bary(self):
        if self._interpolation is not None:
            self._interpolate()
        return self._bary

    @property
    def depth(self):
        if self._interpolation is not None:
            self._interpolate()
        return self._depth

    def __len__(self):
        return len(self.parent)

    def pixel_to_face(self):
        """(N, H, W) int array: the nearest face per pixel (mesh face index), -1 where none."""
        n = int(np.prod(self.image_shape))
        out = np.full(n, -1, dtype=np.int64)
        if len(self.pixel):
            order = np.lexsort((-self.depth.data, self.pixel))       # per pixel, nearest last
            out[self.pixel[order]] = self.parent[order]
        return out.reshape(self.image_shape)

    def depth_map(self, background=np.inf):
        """(N, H, W) float array: the nearest depth per pixel, ``background`` where none."""
        n = int(np.prod(self.image_shape))
        out = np.full(n, np.inf)
        np.minimum.at(out, self.pixel, self.depth.data)
        out[np.isinf(out)] = background
        return out.reshape(self.image_shape)

    def __repr__(self):
        return f"Fragments({len(self)} pixel-face pairs, image_shape={self.image_shape})"
