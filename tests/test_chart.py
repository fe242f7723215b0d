"""Bar charts of blend weights: one bar per face, heights follow the weights, chart above each face."""
import numpy as np
import pytest
import torch
from PIL import Image

from facespace.chart import BAR_COLOR, bar_chart, chart_over_face, charts_over_faces, nice_ticks

NAMES = ["anna", "bea", "carla", "dora", "eva"]


def bar_columns(img: Image.Image):
    """(start, end, top) of each run of bar-coloured columns, left to right."""
    a = np.asarray(img.convert("RGB")).astype(int)
    mask = (np.abs(a - np.array(BAR_COLOR)).sum(-1) < 10)
    cols = mask.any(0)
    runs, start = [], None
    for x, on in enumerate(list(cols) + [False]):
        if on and start is None:
            start = x
        elif not on and start is not None:
            top = int(np.argmax(mask[:, start:x].any(1)))
            runs.append((start, x, top))
            start = None
    return runs, mask


def tallest_bar(img: Image.Image) -> int:
    runs, mask = bar_columns(img)
    return max(int(mask[:, start:end].sum(0).max()) for start, end, _ in runs)


def test_one_bar_per_nonzero_weight_with_heights_in_proportion():
    values = [0.4, 0.1, 0.0, 0.3, 0.2]
    img = bar_chart(NAMES, values, width=400)
    assert img.size == (400, 240)
    runs, mask = bar_columns(img)
    assert len(runs) == 4, "the zero weight draws no bar"
    heights = [int(mask[:, s:e].sum(0).max()) for s, e, _ in runs]
    nonzero = [v for v in values if v > 0]
    ratios = [h / v for h, v in zip(heights, nonzero)]
    assert max(ratios) / min(ratios) < 1.05
    centres = [(s + e) / 2 for s, e, _ in runs]
    assert centres == sorted(centres)


def test_labels_are_drawn_and_long_names_rotate():
    short = bar_chart(["a", "b"], [0.5, 0.5], width=300)
    long = bar_chart(["a_very_long_face_name", "another_long_face_name"], [0.5, 0.5], width=300)
    dark = lambda im: (np.asarray(im.convert("L")) < 80).sum()  # noqa: E731
    assert dark(long) > dark(short), "longer names put more text on the chart"
    values_only = bar_chart(["", ""], [0.5, 0.5], width=300)
    assert dark(short) > dark(values_only)
    # Six long names do not fit side by side: they are drawn slanted, taking height from the bars.
    side_by_side = bar_chart([f"f{i}" for i in range(6)], [0.5] * 6, width=300)
    slanted = bar_chart([f"a_long_face_name_{i}" for i in range(6)], [0.5] * 6, width=300)
    assert tallest_bar(slanted) < 0.9 * tallest_bar(side_by_side)


def test_nice_ticks_cover_the_maximum():
    for top in (0.07, 0.5, 1.0, 1.37, 3.3, 12):
        t = nice_ticks(top)
        assert t[0] == 0 and t[-1] >= top and 3 <= len(t) <= 7
    assert nice_ticks(0) == nice_ticks(1.0)


def test_chart_sits_above_the_face_and_small_faces_are_enlarged():
    face = Image.new("RGB", (32, 32), (10, 200, 30))
    pic = chart_over_face(face, NAMES, [1, 0, 0, 0, 0])
    assert pic.width == 256 and pic.height > 256
    a = np.asarray(pic)
    assert (a[-128:] == (10, 200, 30)).all(), "the face fills the bottom"
    assert not (a[:50] == (10, 200, 30)).all(-1).any()
    big = chart_over_face(Image.new("RGB", (512, 512)), NAMES, [1, 0, 0, 0, 0])
    assert big.width == 512


def test_charts_over_faces_returns_an_image_batch():
    faces = torch.rand(3, 16, 16, 3)
    rows = [[0.2] * 5, [1, 0, 0, 0, 0], [0, 0, 0, 0, 1]]
    out = charts_over_faces(faces, NAMES, rows)
    assert out.dtype == torch.float32 and out.shape[0] == 3 and out.shape[-1] == 3
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out[1], out[2])
    with pytest.raises(ValueError):
        charts_over_faces(faces, NAMES, rows[:2])
