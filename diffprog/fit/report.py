"""What a person looks at after a fit: labelled photograph | fit | error images with each view's
IoU and PSNR, a contact sheet of all views, a turntable GIF and the loss curves (matplotlib when
installed, else drawn with Pillow)."""
import numpy as np

from diffprog import render as R
from .files import atomic_write, write_png
from .metrics import masked_psnr, silhouette_iou

ERROR_GAIN = 4.0          # the error panel shows |photograph - fit| (channel mean) times this


def composite(rgba, background):
    """(..., 4) straight-alpha RGBA over an RGB ``background`` -> (..., 3)."""
    alpha = rgba[..., 3:]
    return rgba[..., :3] * alpha + np.asarray(background, float) * (1 - alpha)


def error_colors(error):
    """(H, W) errors in [0, 1] -> (H, W, 3) heat colours (black, red, yellow, white)."""
    e = np.clip(error, 0, 1)[..., None]
    return np.clip(np.concatenate([3 * e, 3 * e - 1, 3 * e - 2], axis=-1), 0, 1)


def side_by_side(photo_rgb, fit_rgb, gain=ERROR_GAIN):
    """(H, 3W, 3): photograph | fit | absolute error (mean over channels, times ``gain``)."""
    error = error_colors(gain * np.abs(photo_rgb - fit_rgb).mean(axis=-1))
    gap = np.ones((photo_rgb.shape[0], 2, 3))
    return np.concatenate([photo_rgb, gap, fit_rgb, gap, error], axis=1)


def render_hard(verts, faces, colors, cams, background, shader="unlit"):
    """(N, H, W, 4) arrays: the mesh's vertex colours (or another ``shader``, e.g. a colour field's)
    under ``cams`` with the z-buffer rasterizer."""
    mesh = R.Mesh(np.asarray(verts), faces, colors=np.asarray(colors), requires_grad=False)
    return np.asarray(R.render(mesh, cams, rasterizer=R.HardRasterizer(), shader=shader, background=background).data)


def render_antialiased(verts, faces, colors, camera_to_world, fov, size, background, supersample=4, shader="unlit"):
    """(N, S, S, 4): z-buffer renders at ``supersample`` times the size, box-filtered down, so each
    pixel holds the area average over the pixel (the photographs' box pixel filter; alpha is coverage)."""
    from .cameras import cameras_from_matrices
    big = size * supersample
    images = []
    for start in range(0, len(camera_to_world), 4):
        cams = cameras_from_matrices(camera_to_world[start:start + 4], fov[start:start + 4], big)
        images.append(render_hard(verts, faces, colors, cams, background, shader))
    image = np.concatenate(images)
    return image.reshape(len(image), size, supersample, size, supersample, 4).mean(axis=(2, 4))


def write_turntable(path, verts, faces, colors, center, distance, fov, size, frames, background,
                    elevation=20.0, seconds=4.0):
    """A looping GIF of the mesh turning once around the vertical axis through ``center``."""
    import imageio.v3 as iio
    eyes = R.orbit(frames, elev=elevation, dist=distance, at=center)
    images = []
    for start in range(0, frames, 12):
        cams = R.look_at(eyes[start:start + 12], at=center, fov=fov, image_size=size, requires_grad=False)
        images.append(render_hard(verts, faces, colors, cams, background)[..., :3])
    images = np.round(np.concatenate(images) * 255).astype(np.uint8)
    atomic_write(path, lambda temporary: iio.imwrite(temporary, images, extension=".gif",
                                                      duration=int(1000 * seconds / frames), loop=0))


def _loss_curves(history, weights):
    """Finite weighted curves named with their weight: {"silhouette x3": values, ..., "total": values}."""
    curves = {}
    for name, values in history.items():
        values = np.asarray(values, float) * weights.get(name, 1.0)
        if np.any(np.isfinite(values) & (values > 0)):
            weight = weights.get(name, 1.0)
            label = name if name == "total" or weight == 1.0 else f"{name} x{weight:g}"
            curves[label] = values
    return curves


def write_loss_plot(path, history, weights):
    """Each named loss term (times its weight) and the total against the iteration, log scale."""
    curves = _loss_curves(history, weights)
    if not curves:
        curves = {"total": np.array([np.nan])}
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _pillow_plot(path, curves)
    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    for name, values in curves.items():
        axes.plot(np.arange(1, len(values) + 1), values, label=name, lw=2 if name == "total" else 1,
                  color="black" if name == "total" else None)
    axes.set_yscale("log")
    axes.set_xlabel("iteration")
    axes.set_ylabel("weighted loss (log scale)")
    axes.set_title("loss terms")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3, which="both")
    figure.tight_layout()
    atomic_write(path, lambda temporary: figure.savefig(temporary, format="png"))
    plt.close(figure)


def _font(size):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:                                  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _pillow_plot(path, curves, width=760, height=420):
    from PIL import Image, ImageDraw
    left, right, top, bottom = 70, 170, 30, 45
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = _font(12)
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"]
    positive = [v[np.isfinite(v) & (v > 0)] for v in curves.values()]
    positive = [p for p in positive if len(p)] or [np.array([1.0])]
    low = np.floor(np.log10(min(p.min() for p in positive)))
    high = np.ceil(np.log10(max(p.max() for p in positive)))
    high = high if high > low else low + 1
    length = max(len(v) for v in curves.values())
    x0, x1, y0, y1 = left, width - right, top, height - bottom

    def y_of(log_value):
        return y1 - (log_value - low) / (high - low) * (y1 - y0)

    def x_of(iteration):
        return x0 + (iteration - 1) / max(length - 1, 1) * (x1 - x0)
    for decade in np.arange(low, high + 1):                 # decade grid lines with 1e-k labels
        y = y_of(decade)
        draw.line([(x0, y), (x1, y)], fill="#e0e0e0")
        draw.text((x0 - 8, y), f"1e{int(decade)}", fill="black", font=font, anchor="rm")
    for iteration in np.unique(np.linspace(1, length, 5).round().astype(int)):
        x = x_of(iteration)
        draw.line([(x, y1), (x, y1 + 4)], fill="black")
        draw.text((x, y1 + 6), str(iteration), fill="black", font=font, anchor="mt")
    draw.rectangle([x0, y0, x1, y1], outline="#888888")
    k = 0
    for name, values in curves.items():
        colour = "black" if name == "total" else palette[k % len(palette)]
        k += name != "total"
        ok = np.isfinite(values) & (values > 0)
        points = list(zip(x_of(np.arange(1, len(values) + 1)[ok]).tolist(), y_of(np.log10(values[ok])).tolist()))
        if len(points) > 1:
            draw.line(points, fill=colour, width=2 if name == "total" else 1)
        legend_y = y0 + 8 + 18 * list(curves).index(name)
        draw.line([(x1 + 10, legend_y), (x1 + 30, legend_y)], fill=colour, width=2)
        draw.text((x1 + 36, legend_y), name, fill="black", font=font, anchor="lm")
    draw.text(((x0 + x1) / 2, height - 14), "iteration", fill="black", font=font, anchor="mm")
    draw.text(((x0 + x1) / 2, 14), "weighted loss terms (log scale)", fill="black", font=font, anchor="mm")
    atomic_write(path, lambda temporary: image.save(temporary, format="PNG"))


def _enlarged(image, min_height):
    factor = max(1, -(-min_height // image.shape[0]))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def write_side_by_side(path, photo_rgb, fit_rgb, min_height=256):
    """Write :func:`side_by_side`, enlarged by an integer factor (nearest neighbour, pixels stay
    visible) to at least ``min_height`` pixels tall."""
    write_png(path, _enlarged(side_by_side(photo_rgb, fit_rgb), min_height))


def view_metrics(photo_rgba, fit_rgba, background):
    """(IoU of the silhouettes, PSNR in dB over the photograph's mask; None when the mask is empty)
    of one view: ``photo_rgba`` (H, W, 4) straight alpha, composited here over ``background``;
    ``fit_rgba`` (H, W, 4) a render, whose RGB is already over the background."""
    iou = silhouette_iou(fit_rgba[..., 3], photo_rgba[..., 3])
    mask = photo_rgba[..., 3] > 0.5
    psnr = masked_psnr(fit_rgba[..., :3], composite(photo_rgba, background), mask) if mask.any() else None
    return iou, psnr


def labelled_comparison(photo_rgb, fit_rgb, title="", iou=None, psnr=None, min_height=256, gain=ERROR_GAIN):
    """(H', W', 3) uint8: photograph | fit | error panels (enlarged to ``min_height``) under their
    names, the error's colour scale beneath the error panel, and a line with ``title`` and the
    view's IoU and PSNR."""
    from PIL import Image, ImageDraw
    panels = _enlarged(side_by_side(photo_rgb, fit_rgb, gain), min_height)
    h, w = panels.shape[:2]
    scale = h // photo_rgb.shape[0]
    panel_w, gap = photo_rgb.shape[1] * scale, 2 * scale
    header, footer = 24, 46
    canvas = Image.new("RGB", (w, h + header + footer), "white")
    canvas.paste(Image.fromarray(np.round(np.clip(panels, 0, 1) * 255).astype(np.uint8)), (0, header))
    draw = ImageDraw.Draw(canvas)
    font = _font(14)
    for k, name in enumerate(("photograph", "fit", f"error (|difference| x{gain:g})")):
        draw.text((k * (panel_w + gap) + panel_w / 2, header / 2), name, fill="black", font=font, anchor="mm")
    bar_x0, bar_x1 = 2 * (panel_w + gap) + 10, w - 10           # the error colour scale, 0 .. 1 / gain
    bar = (error_colors(np.linspace(0, 1, max(bar_x1 - bar_x0, 2)))[None] * 255).astype(np.uint8)
    canvas.paste(Image.fromarray(np.repeat(bar, 8, axis=0)), (bar_x0, h + header + 4))
    small = _font(11)
    for fraction in (0.0, 0.5, 1.0):
        x = bar_x0 + fraction * (bar_x1 - bar_x0 - 1)
        draw.text((x, h + header + 14), f"{fraction / gain:g}", fill="black", font=small, anchor="mt")
    parts = [title] if title else []
    if iou is not None:
        parts.append(f"IoU {iou:.3f}")
    if psnr is not None:
        parts.append(f"PSNR {psnr:.2f} dB")
    draw.text((8, h + header + 12), "   ".join(parts), fill="black", font=font, anchor="lm")
    return np.asarray(canvas)


def contact_sheet(tiles, columns=None, pad=6):
    """One (H, W, 3) uint8 grid of equally sized (h, w, 3) uint8 ``tiles``, row by row."""
    tiles = [np.asarray(t) for t in tiles]
    if not tiles:
        raise ValueError("tiles: expected at least one image")
    columns = columns or max(1, min(len(tiles), int(np.ceil(np.sqrt(len(tiles) / 2)))))
    rows = -(-len(tiles) // columns)
    h, w = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    sheet = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 255, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        sheet[pad + r * (h + pad):pad + r * (h + pad) + tile.shape[0],
              pad + c * (w + pad):pad + c * (w + pad) + tile.shape[1]] = tile
    return sheet


def write_view_comparisons(out, prefix, names, photos, images, background, min_height=256):
    """For each view ``names[k]``: ``{out}/{prefix}_{name}.png``, its labelled comparison of the
    photograph (straight-alpha RGBA ``photos[k]``) with the fit (a render ``images[k]``, RGB over
    the background); and
    ``{out}/{prefix}_contact_sheet.png`` with all of them. Returns the paths written."""
    import os
    tiles, paths = [], []
    for name, photo, image in zip(names, photos, images):
        iou, psnr = view_metrics(photo, image, background)
        tile = labelled_comparison(composite(photo, background), image[..., :3], name, iou, psnr, min_height)
        paths.append(os.path.join(out, f"{prefix}_{name}.png"))
        write_png(paths[-1], tile / 255.0)
        tiles.append(tile)
    paths.append(os.path.join(out, f"{prefix}_contact_sheet.png"))
    write_png(paths[-1], contact_sheet(tiles) / 255.0)
    return paths
