"""Preview of what alignment saw: landmarks and the crop square drawn on each source photo."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

PREVIEW_SIZE = 768
COLOURS = {"quad": (0, 230, 255), "top": (255, 200, 0), "points": (0, 255, 90), "eyes": (255, 60, 60),
           "rejected": (255, 40, 40)}


def draw_overlay(photo: Image.Image, faces: Sequence[tuple[np.ndarray, np.ndarray]], rejected: bool = False,
                 size: int = PREVIEW_SIZE) -> Image.Image:
    """The photo fitted into a size x size square (letterboxed), with each face's 68 points, eye
    centres and crop square (its top edge in another colour to show the orientation).

    faces: (landmarks [68,2], quad [4,2]) pairs in the photo's pixel coordinates.
    rejected: frame the photo in red (no usable face found).
    """
    scale = min(size / photo.width, size / photo.height)
    w, h = max(round(photo.width * scale), 1), max(round(photo.height * scale), 1)
    ox, oy = (size - w) // 2, (size - h) // 2
    canvas = Image.new("RGB", (size, size), (0, 0, 0))
    canvas.paste(photo.convert("RGB").resize((w, h), Image.Resampling.BILINEAR), (ox, oy))
    draw = ImageDraw.Draw(canvas)

    def to_canvas(pts):
        pts = (np.asarray(pts, dtype=np.float64) + 0.5) * scale
        return [(float(x) + ox, float(y) + oy) for x, y in pts]

    line = max(2, size // 256)
    for landmarks, quad in faces:
        corners = to_canvas(quad)
        draw.line(corners + [corners[0]], fill=COLOURS["quad"], width=line)
        draw.line([corners[0], corners[3]], fill=COLOURS["top"], width=line)
        r = max(1.5, size / 400)
        for x, y in to_canvas(landmarks):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=COLOURS["points"])
        eyes = to_canvas([landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)])
        for x, y in eyes:
            draw.ellipse((x - 2 * r, y - 2 * r, x + 2 * r, y + 2 * r), outline=COLOURS["eyes"], width=line)
    if rejected:
        draw.rectangle((ox, oy, ox + w - 1, oy + h - 1), outline=COLOURS["rejected"], width=3 * line)
        draw.line([(ox, oy), (ox + w - 1, oy + h - 1)], fill=COLOURS["rejected"], width=line)
        draw.line([(ox, oy + h - 1), (ox + w - 1, oy)], fill=COLOURS["rejected"], width=line)
    return canvas
