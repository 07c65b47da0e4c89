"""Make a synthetic "phone capture" of Spot from the bundled photographs (assets/spot/photos, made by
assets/make_photos.py), with what a real capture processed by COLMAP / ns-process-data has:

- landscape 320x256 frames (the 256x256 photograph padded with more backdrop; principal point off centre);
- the object composited over a textured backdrop (no alpha channel), saved as JPEG quality 85;
- per-photo exposure x0.8-1.2 with a little white-balance drift, and sensor noise;
- separate mask PNGs: alpha thresholded at 0.5, eroded or dilated by one pixel at random, a few speckles flipped;
- OpenCV radial distortion k1 = -0.06, k2 = 0.01 applied to images and masks (written into transforms.json);
- each camera pose perturbed like an SfM solution: rotation ~0.5 degrees, position ~0.5% of its distance.

    python assets/make_capture.py        # writes assets/spot/capture/ (~400 KB)
    python assets/make_capture.py --no-distortion --out /tmp/capture_pinhole   # the same capture, pinhole lens

The true cameras are those of assets/spot/photos/transforms.json (same poses; the intrinsics differ by
the padding). Deterministic (seeded).
"""
import json
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from diffprog.io.distortion import distort_image  # noqa: E402

SOURCE = os.path.join(HERE, "spot", "photos")
OUT = os.path.join(HERE, "spot", "capture")
WIDTH, HEIGHT, LEFT = 320, 256, 40          # 256x256 photograph placed 40 pixels from the left edge
DISTORTION = (-0.06, 0.01)
ROTATION_DEGREES, POSITION_FRACTION = 0.5, 0.005


def backdrop(rng, index):
    """A smooth, textured backdrop (a crop of one large pattern, shifted with the view)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(float)
    x = x + 37.0 * index
    pattern = np.zeros((HEIGHT, WIDTH, 3))
    base = np.array([0.55, 0.47, 0.38])                     # a wooden table-ish brown
    for k, (fx, fy, amplitude) in enumerate([(0.013, 0.004, 0.08), (0.041, 0.017, 0.05), (0.11, 0.07, 0.03)]):
        phase = 1.7 * k
        wave = np.sin(fx * x + fy * y + phase) * np.cos(0.5 * fy * x - fx * y + 2 * phase)
        pattern += amplitude * wave[..., None] * np.array([1.0, 0.8 + 0.1 * k, 0.6])
    stripes = 0.04 * (np.sin(0.35 * (x + 0.3 * y)) > 0.6)[..., None]
    return np.clip(base + pattern - stripes, 0, 1)


def axis_angle_matrix(w):
    angle = np.linalg.norm(w)
    if angle < 1e-15:
        return np.eye(3)
    k = w / angle
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K


def one_pixel_change(mask, rng):
    """The binary mask eroded or dilated by one pixel (at random), with a few speckles flipped."""
    padded = np.pad(mask, 1, mode="edge")
    neighbours = [padded[1 + dy:1 + dy + mask.shape[0], 1 + dx:1 + dx + mask.shape[1]]
                  for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0))]
    mask = np.logical_or.reduce([mask] + neighbours) if rng.random() < 0.5 else np.logical_and.reduce([mask] + neighbours)
    mask = mask.copy()
    for _ in range(int(rng.integers(3, 8))):
        r, c = rng.integers(0, mask.shape[0]), rng.integers(0, mask.shape[1])
        mask[r:r + 2, c:c + 2] = ~mask[r:r + 2, c:c + 2]
    return mask


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help="output folder (default: assets/spot/capture)")
    parser.add_argument("--no-distortion", action="store_true", help="a pinhole lens (everything else the same)")
    args = parser.parse_args(argv)
    out_folder, distortion = args.out, (0.0, 0.0) if args.no_distortion else DISTORTION
    rng = np.random.default_rng(2026)
    meta = json.load(open(os.path.join(SOURCE, "transforms.json")))
    focal = 0.5 * 256 / np.tan(0.5 * meta["camera_angle_x"])
    center = (LEFT + 128.0, 128.0)
    os.makedirs(os.path.join(out_folder, "images"), exist_ok=True)
    os.makedirs(os.path.join(out_folder, "masks"), exist_ok=True)
    frames, record = [], []
    for index, frame in enumerate(meta["frames"]):
        rgba = np.asarray(Image.open(os.path.join(SOURCE, frame["file_path"])).convert("RGBA"), float) / 255
        alpha = np.zeros((HEIGHT, WIDTH))
        photo = np.zeros((HEIGHT, WIDTH, 3))
        alpha[:, LEFT:LEFT + 256] = rgba[..., 3]
        photo[:, LEFT:LEFT + 256] = rgba[..., :3]
        image = photo * alpha[..., None] + backdrop(rng, index) * (1 - alpha[..., None])
        gain = rng.uniform(0.8, 1.2) * rng.uniform(0.96, 1.04, 3)
        image = image * gain + rng.normal(0, 0.012, image.shape)
        mask = one_pixel_change(alpha >= 0.5, rng).astype(float)
        if any(distortion):
            image = distort_image(np.clip(image, 0, 1), (focal, focal), center, distortion)
            mask = distort_image(mask[..., None], (focal, focal), center, distortion)[..., 0] >= 0.5
        stem = os.path.splitext(frame["file_path"])[0]
        Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)).save(
            os.path.join(out_folder, "images", stem + ".jpg"), quality=85)
        Image.fromarray(mask.astype(np.uint8) * 255).convert("1").save(os.path.join(out_folder, "masks", stem + ".png"),
                                                                      optimize=True)
        c2w = np.array(frame["transform_matrix"], float)
        distance = np.linalg.norm(c2w[:3, 3])
        w = rng.normal(0, np.radians(ROTATION_DEGREES) / np.sqrt(3), 3)
        t = rng.normal(0, POSITION_FRACTION * distance / np.sqrt(3), 3)
        c2w[:3, :3] = c2w[:3, :3] @ axis_angle_matrix(w)
        c2w[:3, 3] += t
        frames.append({"file_path": f"images/{stem}.jpg", "mask_path": f"masks/{stem}.png", "split": frame["split"],
                       "transform_matrix": np.round(c2w, 8).tolist()})
        record.append(float(np.mean(gain)))
    out = {"camera_model": "OPENCV", "fl_x": focal, "fl_y": focal, "cx": center[0], "cy": center[1],
           "w": WIDTH, "h": HEIGHT, "k1": distortion[0], "k2": distortion[1], "p1": 0.0, "p2": 0.0,
           "comment": "synthetic phone capture made by assets/make_capture.py from assets/spot/photos; true "
                      "poses in assets/spot/photos/transforms.json",
           "frames": frames}
    with open(os.path.join(out_folder, "transforms.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {len(frames)} frames to {out_folder} (exposure gains {min(record):.2f}..{max(record):.2f})")


if __name__ == "__main__":
    main()
