"""Face names: how lists are written as text, and the rules that keep a name usable in them.

Every text list the user types (face names, blend weights, a morph order) separates its entries
with commas, semicolons or new lines. A face name therefore holds none of those, and since names
also become file names, none of the characters file systems refuse.
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

from .errors import FaceSpaceError

LIST_SEPARATORS = re.compile(r"[,;\n\r]+")
_UNSAFE_IN_NAMES = re.compile(r'[\\/:*?"<>|,;\x00-\x1f]+')


def split_list(text: str | Sequence[str] | None) -> list[str]:
    """Entries of a comma-, semicolon- or newline-separated text (or of a list), stripped; blanks dropped."""
    if text is None:
        return []
    items = LIST_SEPARATORS.split(text) if isinstance(text, str) else [str(t) for t in text]
    return [s.strip() for s in items if s and s.strip()]


def clean_name(name: str) -> str:
    """A face name that is also a safe file name and survives list joining ('a/b;c' -> 'a_b_c')."""
    name = _UNSAFE_IN_NAMES.sub("_", str(name)).strip().strip(".")
    return name or "face"


def unique_names(wanted: Iterable[str], taken: set[str] | None = None) -> list[str]:
    """Names made unique against each other and `taken`, ignoring case (a clash gets _2, _3, ...).

    `taken` holds casefolded names and is updated, so several calls can share it.
    """
    taken = set() if taken is None else taken
    out = []
    for name in wanted:
        candidate, k = name, 2
        while candidate.casefold() in taken:
            candidate, k = f"{name}_{k}", k + 1
        taken.add(candidate.casefold())
        out.append(candidate)
    return out


def names_for(names, count: int, label: str, prefix: str) -> list[str]:
    """One name per picture from a list or list text; none -> prefix_01, prefix_02, ...

    Cleaned by `clean_name` and made unique ignoring case; a wrong count is an error naming `label`.
    """
    given = split_list(names)
    if not given:
        return [f"{prefix}_{i + 1:02d}" for i in range(count)]
    if len(given) != count:
        raise FaceSpaceError(f"{label}: {len(given)} name(s) ({', '.join(given)}) given for {count} image(s); "
                             f"give one name per image (comma, semicolon or newline separated) or none")
    return unique_names(clean_name(n) for n in given)
