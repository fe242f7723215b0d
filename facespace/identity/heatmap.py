"""The similarity picture: identity distances as a coloured grid with the faces and their names."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from ..chart import BACKGROUND, TEXT_COLOR, _font, _text_size
from .dlib_recognition import SAME_PERSON

# Distance -> colour: greens below the same-person threshold, orange to red above it (a visible step at it).
STOPS = ((0.0, (26, 152, 80)), (SAME_PERSON - 1e-9, (166, 217, 106)), (SAME_PERSON, (253, 174, 97)),
         (1.0, (215, 48, 39)))
THUMB = 64
MAX_NAME_CHARS = 24


def _short(name: str) -> str:
    return name if len(name) <= MAX_NAME_CHARS else name[: MAX_NAME_CHARS - 1] + "\u2026"


def _fit(draw, name: str, font, width: int) -> str:
    """The name, cut with an ellipsis where it is wider than `width` pixels."""
    text = name
    while len(text) > 1 and _text_size(draw, text, font)[0] > width:
        text = text[:-2] + "\u2026"
    return text


def _thumb(picture: Image.Image, side: int) -> Image.Image:
    return ImageOps.pad(picture.convert("RGB"), (side, side), Image.Resampling.LANCZOS, color=BACKGROUND)


def distance_colour(d: float) -> tuple[int, int, int]:
    d = float(d)
    for (d0, c0), (d1, c1) in zip(STOPS, STOPS[1:]):
        if d <= d1:
            f = max(0.0, (d - d0) / (d1 - d0))
            return tuple(int(round(a + (b - a) * f)) for a, b in zip(c0, c1))
    return STOPS[-1][1]


def similarity_heatmap(dist: np.ndarray, row_names: Sequence[str], col_names: Sequence[str],
                       row_faces: Sequence[Image.Image] | None = None,
                       col_faces: Sequence[Image.Image] | None = None, cell: int = 72) -> Image.Image:
    """Rows: the compared images; columns: the reference faces; each cell coloured and labelled by distance."""
    dist = np.asarray(dist, dtype=np.float64)
    if dist.shape != (len(row_names), len(col_names)):
        raise ValueError(f"{dist.shape} distances for {len(row_names)} x {len(col_names)} names")
    fs = max(11, cell // 5)
    font, small = _font(fs), _font(max(9, round(fs * 0.8)))
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    rows = [_short(n) for n in row_names]
    cell_w = max(cell, min(max(_text_size(probe, n, small)[0] for n in col_names) + 10, 2 * cell))
    cols = [_fit(probe, n, small, cell_w - 6) for n in col_names]
    thumb = min(THUMB, cell) if (row_faces or col_faces) else 0
    label_w = max(_text_size(probe, n, small)[0] for n in rows) + 8
    line_h = _text_size(probe, "Ag", small)[1]
    title = f"identity distance (dlib): below {SAME_PERSON} = same person"
    title_h = _text_size(probe, title, font)[1] + 10
    left = label_w + (thumb + 6 if row_faces else 0)
    top = title_h + line_h + 8 + (thumb + 4 if col_faces else 0)
    width = max(left + cell_w * len(cols) + 8, _text_size(probe, title, font)[0] + 16)
    height = top + cell * len(rows) + 8
    img = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    draw.text((8, 5), title, fill=TEXT_COLOR, font=font)
    for j, name in enumerate(cols):
        x = left + j * cell_w
        if col_faces:
            img.paste(_thumb(col_faces[j], thumb), (x + (cell_w - thumb) // 2, title_h))
        tw, _ = _text_size(draw, name, small)
        draw.text((x + (cell_w - tw) // 2, top - line_h - 6), name, fill=TEXT_COLOR, font=small)
    for i, name in enumerate(rows):
        y = top + i * cell
        tw, th = _text_size(draw, name, small)
        draw.text((label_w - 4 - tw, y + (cell - th) // 2), name, fill=TEXT_COLOR, font=small)
        if row_faces:
            img.paste(_thumb(row_faces[i], thumb),
                      (label_w + 2, y + (cell - thumb) // 2))
        for j in range(len(cols)):
            x = left + j * cell_w
            d = dist[i, j]
            draw.rectangle([x + 1, y + 1, x + cell_w - 2, y + cell - 2], fill=distance_colour(d))
            text = f"{d:.2f}"
            tw, th = _text_size(draw, text, font)
            draw.text((x + (cell_w - tw) // 2, y + (cell - th) // 2), text, fill=TEXT_COLOR, font=font)
    return img
