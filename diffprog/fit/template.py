"""Sparse edits of a template mesh: per-vertex offsets from the template with proximal-L1 steps.

The fitted vertices are ``template + offsets``. The offsets start at zero and minimize

    loss(template + offsets) + smoothness * dirichlet(offsets) + l2 * mean |offsets|^2 + l1 * sum |offsets|

where the smooth part (image losses, the Dirichlet energy of the offsets over the mesh edges,
optional L2) is differentiated and the L1 part is never differentiated: after every optimizer step
the optimizers' ``prox=`` hook soft-thresholds the offsets. A coordinate whose offset is zero stays
*exactly* zero (``template + 0.0`` is bit-identical to the template) until the smooth gradient on
it exceeds ``l1``: vertices that need not move do not move, and a local change is recovered as a
local change. Both regularizers vanish with their gradients at zero offsets, so nothing but the
image evidence pulls a vertex off the template.

Metric. With Adam the step is ``lr * m / d`` with ``d = sqrt(v_hat) + eps`` per coordinate; the
proximal step matching it is the prox in the metric ``diag(d) / lr``, i.e. soft-thresholding at
``lr * l1 / d`` (closed form because the L1 norm is separable). Its fixed points are the Lasso's
(smooth gradient = -l1 sign(offset) where the offset is non-zero, |gradient| <= l1 where it is
zero), so ``l1`` is a threshold on the loss gradient whatever the optimizer. (Soft-thresholding at
``lr * l1`` alone would compare l1 with Adam's *normalized* step, which is ~1 for any consistent
gradient, however small.) With SGD ``d = 1``.

Large Steps. The L1 term is separable in the offsets themselves but not in Large Steps'
``u = (I + lambda L) x`` coordinates (its prox there has no closed form, and each u-step spreads to
every vertex through ``(I + lambda L)^-1``, which is what sparsity must avoid), so a template fit
with ``l1 > 0`` optimizes the offsets directly, without the Large Steps parameterization; the
Dirichlet energy of the offsets plays its smoothing role.

Debiasing (``refit``): the L1 shrinkage leaves the moved vertices short of their target by
about l1 / curvature (the Lasso's bias). ``restrict_to_support`` switches the prox to the
projection onto the offsets found non-zero so far (others pinned at exactly zero): a relaxed-Lasso
refit of the edited region alone.
"""
import numpy as np

import diffprog.autodiff as dp
from diffprog import optim
from diffprog.prox import l1 as l1_prox


class OffsetL1:
    """The prox hook ``prox(x, step)`` of a template fit: soft-thresholding at ``l1 * step / d``
    with ``d`` the optimizer's current per-coordinate step denominator (Adam: ``sqrt(v_hat) + eps``;
    others: 1). After :meth:`restrict_to_support` it is instead the projection that zeroes the
    coordinates outside ``support`` (a relaxed-Lasso refit). Attach with ``optimizer.prox = hook``
    after ``hook.optimizer = optimizer``; the optimizer must hold the offsets only."""

    def __init__(self, l1):
        if not (np.isfinite(l1) and l1 >= 0):
            raise ValueError(f"l1: expected a number >= 0, got {l1!r}")
        self.l1 = float(l1)
        self.optimizer = None
        self.support = None

    def denominator(self):
        """(V, 3) array (or 1.0): the optimizer's step denominator for the offsets."""
        if not isinstance(self.optimizer, optim.Adam) or not self.optimizer.state:
            return 1.0
        group = self.optimizer.param_groups[0]
        (state,) = self.optimizer.state.values()
        v = state.get("max_exp_avg_sq", state["exp_avg_sq"])
        beta2 = group["betas"][1]
        return np.sqrt(v / (1.0 - beta2 ** state["step"])) + group["eps"]

    def __call__(self, x, step):
        if self.support is not None:
            return np.where(self.support, x, 0.0)
        if self.l1 == 0:
            return x
        return l1_prox(self.l1)(x, step / self.denominator())

    def restrict_to_support(self, offsets):
        """From now on keep only the coordinates where ``offsets`` (V, 3) is non-zero."""
        self.support = np.asarray(offsets) != 0


class TemplateOffsets:
    """Per-vertex offsets from a template: ``verts()`` = template + offsets (a Tensor).

    template: (V, 3) vertices; faces: (F, 3) (for the Dirichlet energy); l1: the proximal-L1
    strength (0: no prox); l2: weight of ``mean |offsets|^2`` (the dense baseline);
    smoothness: weight of the Dirichlet energy ``mean over edges |offset_i - offset_j|^2``.
    """

    def __init__(self, template, faces, l1=0.0, l2=0.0, smoothness=0.0):
        self.template = np.asarray(template, dtype=np.float64)
        if self.template.ndim != 2 or self.template.shape[1] != 3:
            raise ValueError(f"template: expected (V, 3) vertices, got shape {self.template.shape}")
        self.faces = np.asarray(faces, dtype=np.int64)
        for name, value in (("l1", l1), ("l2", l2), ("smoothness", smoothness)):
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: expected a number >= 0, got {value!r}")
        self.l1, self.l2, self.smoothness = float(l1), float(l2), float(smoothness)
        edges = np.concatenate([self.faces[:, [0, 1]], self.faces[:, [1, 2]], self.faces[:, [2, 0]]])
        self.edges = np.unique(np.sort(edges, axis=1), axis=0)
        self.offsets = dp.tensor(np.zeros_like(self.template), requires_grad=True)
        self.hook = OffsetL1(self.l1)

    def verts(self):
        """(V, 3) Tensor: template + offsets (exactly the template where an offset row is zero)."""
        return self.template + self.offsets

    def penalty(self):
        """The smooth regularizers of the offsets (a scalar Tensor; 0 at zero offsets, gradient too)."""
        total = dp.tensor(0.0)
        if self.smoothness > 0:
            d = self.offsets[self.edges[:, 0]] - self.offsets[self.edges[:, 1]]
            total = total + self.smoothness * dp.mean(dp.sum(d * d, axis=1))
        if self.l2 > 0:
            total = total + self.l2 * dp.mean(dp.sum(self.offsets * self.offsets, axis=1))
        return total

    def optimizer(self, lr, kind="adam", **options):
        """An optimizer of the offsets alone ('adam' or 'sgd') whose ``prox=`` hook takes the
        proximal-L1 steps (see the module doc for the metric)."""
        if kind == "adam":
            opt = optim.Adam([self.offsets], lr=lr, **options)
        elif kind == "sgd":
            opt = optim.SGD([self.offsets], lr=lr, **options)
        else:
            raise ValueError(f"kind: expected 'adam' or 'sgd', got {kind!r}")
        self.hook.optimizer = opt
        opt.prox = self.hook if self.l1 > 0 or self.hook.support is not None else None
        return opt

    def refit(self, optimizer):
        """Switch ``optimizer`` (from :meth:`optimizer`) to the relaxed-Lasso refit: the moved
        coordinates keep moving without shrinkage, the others stay exactly zero."""
        self.hook.restrict_to_support(self.offsets.data)
        optimizer.prox = self.hook

    def moved(self):
        """(V,) bool: vertices whose position differs from the template (any bit)."""
        return np.any(self.verts().data != self.template, axis=1)


def region_chamfer_over_diagonal(verts, reference_verts, faces, region, count=10000, seed=0):
    """Chamfer distance restricted to an edited region, over the reference's bounding-box diagonal.

    verts, reference_verts: (V, 3) two meshes with the same ``faces``; region: (V,) bool. Points
    are sampled uniformly on the faces touching the region in each mesh and measured to the other
    mesh's whole surface: ``(mean d(a, B) + mean d(b, A)) / 2 / diagonal`` (as
    ``metrics.chamfer_over_diagonal``, but only the region's own points count)."""
    from .metrics import point_mesh_distance, sample_surface
    verts, reference_verts = np.asarray(verts, float), np.asarray(reference_verts, float)
    faces = np.asarray(faces, np.int64)
    local = faces[np.asarray(region, bool)[faces].any(axis=1)]
    if len(local) == 0:
        raise ValueError("region: selects no vertex of any face; expected a non-empty edited region")
    rng = np.random.default_rng(seed)
    a = sample_surface(verts, local, count, rng)
    b = sample_surface(reference_verts, local, count, rng)
    forward = point_mesh_distance(a, reference_verts, faces).mean()
    backward = point_mesh_distance(b, verts, faces).mean()
    diagonal = np.linalg.norm(reference_verts.max(axis=0) - reference_verts.min(axis=0))
    return float(0.5 * (forward + backward) / diagonal)
