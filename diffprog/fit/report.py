"""What a person looks at after a fit: photograph | fit | error images, a turntable GIF and the
loss curves (matplotlib when installed, else drawn with Pillow)."""
import numpy as np

from diffprog import render as R
from .files import atomic_write, write_png


def composite(rgba, background):
    """(..., 4) straight-alpha RGBA over an RGB ``background`` -> (..., 3)."""
    alpha = rgba[..., 3:]
    return rgba[..., :3] * alpha + np.asarray(background, float) * (1 - alpha)


def error_colors(error):
    """(H, W) errors in [0, 1] -> (H, W, 3) heat colours (black, red, yellow, white)."""
    e = np.clip(error, 0, 1)[..., None]
    return np.clip(np.concatenate([3 * e, 3 * e - 1, 3 * e - 2], axis=-1), 0, 1)


def side_by_side(photo_rgb, fit_rgb, gain=4.0):
    """(H, 3W, 3): photograph | fit | absolute error (mean over channels, times ``gain``)."""
    error = error_colors(gain * np.abs(photo_rgb - fit_rgb).mean(axis=-1))
    gap = np.ones((photo_rgb.shape[0], 2, 3))
    return np.concatenate([photo_rgb, gap, fit_rgb, gap, error], axis=1)


def render_hard(verts, faces, colors, cams, background):
    """(N, H, W, 4) arrays: the mesh's vertex colours under ``cams`` with the z-buffer rasterizer."""
    mesh = R.Mesh(np.asarray(verts), faces, colors=np.asarray(colors), requires_grad=False)
    return np.asarray(R.render(mesh, cams, rasterizer=R.HardRasterizer(), shader="unlit", background=background).data)


def render_antialiased(verts, faces, colors, camera_to_world, focal, principal_point, size, background,
                       supersample=4):
    """(N, H, W, 4): z-buffer renders at ``supersample`` times the size (H, W), box-filtered down, so
    each pixel holds the area average over the pixel (the photographs' box pixel filter; alpha is
    coverage). camera_to_world: (N, 4, 4); focal, principal_point: (N, 2) pixels at ``size``."""
    from .cameras import view_cameras
    h, w = size
    images = []
    for start in range(0, len(camera_to_world), 4):
        part = slice(start, start + 4)
        cams = view_cameras(camera_to_world[part], np.asarray(focal)[part] * supersample,
                            np.asarray(principal_point)[part] * supersample, (h * supersample, w * supersample))
        images.append(render_hard(verts, faces, colors, cams, background))
    image = np.concatenate(images)
    return image.reshape(len(image), h, supersample, w, supersample, 4).mean(axis=(2, 4))


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


def write_loss_plot(path, history, weights):
    """Loss terms (weighted) and their total against the iteration, log scale."""
    curves = {name: np.asarray(values, float) * (weights.get(name, 1.0))
              for name, values in history.items() if np.any(np.isfinite(values))}
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _pillow_plot(path, curves)
    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    for name, values in curves.items():
        axes.plot(np.arange(1, len(values) + 1), values, label=name, lw=2 if name == "total" else 1)
    axes.set_yscale("log")
    axes.set_xlabel("iteration")
    axes.set_ylabel("weighted loss")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    atomic_write(path, lambda temporary: figure.savefig(temporary, format="png"))
    plt.close(figure)


def _pillow_plot(path, curves, width=700, height=400, margin=50):
    from PIL import Image, ImageDraw
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    palette = ["#000000", "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
    positive = [v[np.isfinite(v) & (v > 0)] for v in curves.values()]
    low = np.log10(min(p.min() for p in positive if len(p)))
    high = np.log10(max(p.max() for p in positive if len(p)))
    high = high if high > low else low + 1
    draw.rectangle([margin, margin // 2, width - margin // 2, height - margin], outline="#888888")
    for k, (name, values) in enumerate(curves.items()):
        ok = np.isfinite(values) & (values > 0)
        x = margin + (np.arange(len(values))[ok] / max(len(values) - 1, 1)) * (width - 1.5 * margin)
        y = height - margin - (np.log10(values[ok]) - low) / (high - low) * (height - 1.5 * margin)
        if len(x) > 1:
            draw.line(list(zip(x.tolist(), y.tolist())), fill=palette[k % len(palette)], width=1)
        draw.text((margin + 10, margin // 2 + 5 + 12 * k), name, fill=palette[k % len(palette)])
    draw.text((width // 2 - 20, height - margin + 15), "iteration", fill="black")
    draw.text((5, margin // 2), f"1e{high:.1f}", fill="black")
    draw.text((5, height - margin - 10), f"1e{low:.1f}", fill="black")
    atomic_write(path, lambda temporary: image.save(temporary, format="PNG"))


def write_side_by_side(path, photo_rgb, fit_rgb, min_height=256):
    """Write :func:`side_by_side`, enlarged by an integer factor (nearest neighbour, pixels stay
    visible) to at least ``min_height`` pixels tall."""
    image = side_by_side(photo_rgb, fit_rgb)
    factor = max(1, -(-min_height // image.shape[0]))
    write_png(path, np.repeat(np.repeat(image, factor, axis=0), factor, axis=1))
