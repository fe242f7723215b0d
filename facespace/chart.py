"""Bar charts of blend weights, drawn with PIL: one bar per training face, labelled with its name
and value, and the chart-above-face pictures the blends are shown and saved as."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from PIL import Image, ImageDraw, ImageFont

from .imageops import image_to_pil, pil_to_image

BAR_COLOR = (31, 119, 180)
SERIES_COLORS = (BAR_COLOR, (255, 127, 14), (44, 160, 44), (214, 39, 40))
AXIS_COLOR = (40, 40, 40)
GRID_COLOR = (225, 225, 225)
TEXT_COLOR = (20, 20, 20)
BACKGROUND = (255, 255, 255)
MIN_TILE_WIDTH = 256   # tiny faces are enlarged so their chart stays legible
CHART_ASPECT = 0.6     # chart height / width
MAX_LABEL_CHARS = 14


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


def _text_size(draw: ImageDraw.ImageDraw, text: str, font) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def _short(name: str) -> str:
    return name if len(name) <= MAX_LABEL_CHARS else name[: MAX_LABEL_CHARS - 1] + "\u2026"


def nice_ticks(top: float, target: int = 5) -> list[float]:
    """Round tick values 0..>=top, about `target` of them (steps of 1, 2, 2.5 or 5 x 10^k)."""
    top = float(top) if top > 0 else 1.0
    raw = top / target
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


def format_value(v: float) -> str:
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def _rotated_text(text: str, font, angle: float) -> Image.Image:
    """Text drawn on a transparent image and rotated counter-clockwise by `angle` degrees."""
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font)
    img = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(img).text((1 - left, 1 - top), text, fill=255, font=font)
    return img.rotate(angle, expand=True, resample=Image.BICUBIC)


def bar_chart(names: Sequence[str], values, width: int = 512, height: int | None = None,
              title: str | None = None, series: Sequence[str] | None = None) -> Image.Image:
    """A bar per face (training order) with its name below and its value above.

    With `series` (e.g. coarse / middle / fine), `values` holds one value per series for each face
    and each face gets a group of bars, coloured per series with a legend.
    """
    if series:
        groups = [[float(x) for x in v] for v in values]
        if any(len(g) != len(series) for g in groups):
            raise ValueError(f"each face needs {len(series)} values ({', '.join(series)})")
    else:
        groups = [[float(v)] for v in values]
    if len(groups) != len(names):
        raise ValueError(f"{len(groups)} values for {len(names)} names")
    flat = [x for g in groups for x in g]
    width = max(int(width), 64)
    height = int(height or round(width * CHART_ASPECT))
    fs = max(8, round(width / 42))
    font, small = _font(fs), _font(max(7, round(fs * 0.85)))
    img = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    n = max(len(groups), 1)
    n_series = len(series) if series else 1

    ticks = nice_ticks(max(flat, default=0.0))
    tick_labels = [format_value(t) if t else "0" for t in ticks]
    left = 6 + max(_text_size(draw, t, small)[0] for t in tick_labels) + 6
    right = max(6, fs // 2)
    top = 4 + (_text_size(draw, "Ag", font)[1] + 6 if title or series else 0) + _text_size(draw, "0.00", small)[1] + 4

    slot_guess = (width - left - right) / n
    labels = [_short(s) for s in names]
    horizontal = all(_text_size(draw, s, small)[0] <= slot_guess * 0.95 for s in labels)
    label_imgs = [] if horizontal else [_rotated_text(s, small, 45) for s in labels]
    label_h = _text_size(draw, "Ag", small)[1] + 6 if horizontal else max(im.height for im in label_imgs) + 6
    bottom = height - min(label_h, height // 2)
    plot_h = max(bottom - top, 8)

    scale = plot_h / ticks[-1]
    for t, label in zip(ticks, tick_labels):
        y = round(bottom - t * scale)
        draw.line([(left, y), (width - right, y)], fill=GRID_COLOR)
        tw, th = _text_size(draw, label, small)
        draw.text((left - 6 - tw, y - th // 2), label, fill=TEXT_COLOR, font=small, anchor="la")

    slot = (width - left - right) / n
    bar_w = max(1.0, slot * 0.7 / n_series)
    for i, g in enumerate(groups):
        cx = left + slot * (i + 0.5)
        for j, v in enumerate(g):
            bx = cx + (j - (n_series - 1) / 2) * bar_w
            y = bottom - v * scale
            if v > 0:
                draw.rectangle([round(bx - bar_w / 2), round(y), round(bx + bar_w / 2) - (1 if series else 0), bottom],
                               fill=SERIES_COLORS[j % len(SERIES_COLORS)])
            text = format_value(v)
            tw, th = _text_size(draw, text, small)
            if tw <= bar_w * 1.3 or (n_series == 1 and tw <= slot * 1.1):
                draw.text((round(bx - tw / 2), round(y) - th - 3), text, fill=TEXT_COLOR, font=small)
        if horizontal:
            lw, _ = _text_size(draw, labels[i], small)
            draw.text((round(cx - lw / 2), bottom + 3), labels[i], fill=TEXT_COLOR, font=small)
        else:
            lab = label_imgs[i]
            # The label's upper-right corner sits under the bar's centre, text running down-left.
            img.paste(Image.new("RGB", lab.size, TEXT_COLOR), (round(cx - lab.width + fs * 0.4), bottom + 3), lab)
    draw.line([(left, top - 2), (left, bottom)], fill=AXIS_COLOR)
    draw.line([(left, bottom), (width - right, bottom)], fill=AXIS_COLOR)
    if title:
        tw, _ = _text_size(draw, title, font)
        draw.text(((width - tw) // 2, 4), title, fill=TEXT_COLOR, font=font)
    if series:
        x = width - right
        box = max(6, fs * 2 // 3)
        for j in reversed(range(len(series))):
            tw, th = _text_size(draw, series[j], small)
            x -= tw
            draw.text((x, 4), series[j], fill=TEXT_COLOR, font=small)
            x -= box + 3
            draw.rectangle([x, 4 + (th - box) // 2 + 1, x + box, 4 + (th - box) // 2 + 1 + box],
                           fill=SERIES_COLORS[j % len(SERIES_COLORS)])
            x -= fs
    return img


def chart_over_face(face: Image.Image, names: Sequence[str], values, title: str | None = None,
                    min_width: int = MIN_TILE_WIDTH, series: Sequence[str] | None = None) -> Image.Image:
    """The weights' bar chart above the face, as in the original's blend figures."""
    face = face.convert("RGB")
    width = max(face.width, int(min_width))
    if face.width != width:
        face = face.resize((width, round(face.height * width / face.width)), Image.LANCZOS)
    chart = bar_chart(names, values, width=width, title=title, series=series)
    out = Image.new("RGB", (width, chart.height + face.height), BACKGROUND)
    out.paste(chart, (0, 0))
    out.paste(face, (0, chart.height))
    return out


def charts_over_faces(images: torch.Tensor, names: Sequence[str], rows, titles: Sequence[str] | None = None,
                      min_width: int = MIN_TILE_WIDTH, series: Sequence[str] | None = None) -> torch.Tensor:
    """IMAGE [B,H,W,3] of faces + their weight rows -> IMAGE batch of chart-above-face pictures.

    rows: [B][N] weights, or [B][N][len(series)] with `series`."""
    faces = image_to_pil(images)
    if len(rows) != len(faces):
        raise ValueError(f"{len(rows)} weight rows for {len(faces)} images")
    pics = [chart_over_face(f, names, r, titles[i] if titles else None, min_width, series) for i, (f, r) in
            enumerate(zip(faces, rows))]
    return pil_to_image(pics)
