"""What the examples share: where they write, and figures with or without matplotlib.

Every example writes only under ``examples/output/`` (or the folder given as ``--out``).
Figures use matplotlib when it is installed (``pip install "diffprog[plots]"``); without it the
examples still run, print their numbers, and draw a plain Pillow image instead of the plot.
"""
import os

import numpy as np

OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")


def output_folder(path=None):
    """The folder to write into (created): ``path`` or ``examples/output``."""
    folder = os.path.abspath(path or OUTPUT)
    os.makedirs(folder, exist_ok=True)
    return folder


def pyplot(instead="no plot, the numbers are printed above"):
    """matplotlib.pyplot (Agg backend), or None with a note (ending with ``instead``) when
    matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        print(f'matplotlib is not installed (pip install "diffprog[plots]"): {instead}')
        return None


_VIRIDIS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]]) / 255.0


def _colours(values):
    """(H, W) values -> (H, W, 3) uint8: blue-white-red when the values change sign (zero white),
    else a viridis-like ramp, scaled to the array's range."""
    v = np.asarray(values, float)
    if v.min() < 0 < v.max():
        t = np.clip(v / np.abs(v).max(), -1, 1)[..., None]
        rgb = np.where(t > 0, 1 - t * np.array([0.0, 1, 1]), 1 + t * np.array([1.0, 1, 0]))
    else:
        t = (v - v.min()) / (np.ptp(v) or 1.0) * (len(_VIRIDIS) - 1)
        low = np.minimum(np.floor(t).astype(int), len(_VIRIDIS) - 2)
        rgb = _VIRIDIS[low] + (t - low)[..., None] * (_VIRIDIS[low + 1] - _VIRIDIS[low])
    return np.round(rgb * 255).astype(np.uint8)


def save_image(path, panels, scale=None):
    """A row of titled panels, each a 2-D array (colour-mapped) or an (H, W, 3) image in [0, 1];
    matplotlib when installed, else Pillow. Returns ``path``."""
    plt = pyplot("drawing a plain image instead")
    if plt is not None:
        figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), squeeze=False)
        for ax, (array, title) in zip(axes[0], panels):
            array = np.asarray(array)
            if array.ndim == 2:
                signed = array.min() < 0 < array.max()
                limit = np.abs(array).max() if signed else None
                shown = ax.imshow(array, cmap="seismic" if signed else "viridis",
                                  vmin=-limit if signed else None, vmax=limit)
                figure.colorbar(shown, ax=ax, fraction=0.046)
            else:
                ax.imshow(np.clip(array, 0, 1))
            ax.set_title(title)
            ax.axis("off")
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
        return path
    from PIL import Image, ImageDraw
    tiles = []
    for array, title in panels:
        array = np.asarray(array)
        rgb = _colours(array) if array.ndim == 2 else np.round(np.clip(array, 0, 1) * 255).astype(np.uint8)
        factor = scale or max(1, 256 // max(rgb.shape[:2]))
        rgb = np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)
        tile = Image.new("RGB", (rgb.shape[1] + 10, rgb.shape[0] + 24), "white")
        tile.paste(Image.fromarray(rgb), (5, 22))
        ImageDraw.Draw(tile).text((5, 5), title, fill="black")
        tiles.append(tile)
    sheet = Image.new("RGB", (sum(t.width for t in tiles), max(t.height for t in tiles)), "white")
    x = 0
    for tile in tiles:
        sheet.paste(tile, (x, 0))
        x += tile.width
    sheet.save(path)
    return path
