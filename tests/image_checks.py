"""Pixel statistics that tell a real picture from a blank or flat one (shared by the tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def image_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a PNG or GIF as an RGB float array."""
    from PIL import Image, ImageSequence

    with Image.open(path) as image:
        return [np.asarray(frame.convert("RGB"), dtype=float) for frame in ImageSequence.Iterator(image)]


def assert_real_pixels(pixels: np.ndarray, name: str, min_colours: int = 20):
    """Not one flat colour, several colours, enough ink that differs from the corner (background) colour."""
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100, f"{name}: {pixels.shape[:2]} pixels"
    assert pixels.std() > 10.0, f"{name} looks blank (pixel std {pixels.std():.2f})"
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) >= min_colours, f"{name} has only {len(colours)} colours"
    ink = np.mean(np.abs(pixels - pixels.reshape(-1, 3)[0]).sum(-1) > 30)
    assert ink > 0.02, f"{name}: only {ink:.1%} of the pixels differ from the background"


def assert_real_image(path: Path, min_colours: int = 20):
    """A PNG (or every frame of a GIF) that shows something."""
    assert Path(path).is_file(), path
    for k, pixels in enumerate(image_frames(path)):
        assert_real_pixels(pixels, f"{Path(path).name}[{k}]", min_colours)
