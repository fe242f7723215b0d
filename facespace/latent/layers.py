"""W+ layer ranges as the user writes them: 'A-B' (inclusive), 'A', or a group name (coarse / middle / fine)."""
from __future__ import annotations

import re

from ..blend import GROUPS, layer_groups
from ..errors import FaceSpaceError

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+))?\s*$")


def parse_layers(text: str, num_ws: int, label: str = "layers") -> range:
    """'2-5' -> range(2, 6); '3' -> range(3, 4); 'coarse' -> that group's layers; '' or 'all' -> every layer."""
    text = str(text or "").strip()
    if not text or text.lower() == "all":
        return range(num_ws)
    if text.lower() in GROUPS:
        return layer_groups(num_ws)[text.lower()]
    m = _RANGE.match(text)
    if m is None:
        raise FaceSpaceError(f"{label}: {text!r} is not a W+ layer range; expected A-B (inclusive, 0..{num_ws - 1}), "
                             f"one index, all, or one of {', '.join(GROUPS)}")
    start, end = int(m.group(1)), int(m.group(2) if m.group(2) is not None else m.group(1))
    if start > end or end >= num_ws:
        raise FaceSpaceError(f"{label}: layers {start}-{end} are outside 0..{num_ws - 1} (this generator has "
                             f"{num_ws} W+ layers) or run backwards")
    return range(start, end + 1)


def format_layers(layers: range) -> str:
    return f"{layers.start}-{layers.stop - 1}"
