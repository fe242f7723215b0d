"""Morphs through a latent batch: its items are the keyframes (e.g. a face, then that face styled)."""
from __future__ import annotations

from ..morph import MorphPlan, keyframe_wplus, parse_order
from ..names import unique_names
from .value import Latent


def keyframe_names(latent: Latent) -> list[str]:
    """The names a morph order uses for the items: their labels, repeats numbered (_2, _3 ...)."""
    return unique_names(latent.labels)


def latent_order(text: str, latent: Latent) -> list[int]:
    """'label, label' (or empty for every item in batch order) -> item indices."""
    return parse_order(text, keyframe_names(latent))


def morph_latent(latent: Latent, plan: MorphPlan) -> Latent:
    """Every frame of a straight W+ morph through the items of `latent`, as a latent batch."""
    frames = keyframe_wplus(latent.wplus, plan)
    names = keyframe_names(latent)
    labels = [f"morph {names[plan.order[0]]} {i:04d}" for i in range(frames.shape[0])]
    return latent.replace(frames, labels)
