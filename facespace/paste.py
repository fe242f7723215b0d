"""Paste faces back into the photo they were aligned from.

Each face is warped through the inverse of its alignment (the crop square of `FaceCrop`) and blended
in with a feathered mask built from the photo's own 68 landmarks: the convex outline of jaw and brows,
grown or shrunk by `grow` and faded over `feather` (both as fractions of the crop's side, so they mean
the same at every resolution). The mask reaches zero at its grown outline and never leaves the crop
square: every photo pixel outside that support keeps its exact value.

    result = paste_faces(photo, crops, faces)      # faces: IMAGE [N,S,S,3]
    result.images   # IMAGE [F,H,W,3]: one photo per face (one crop), or one with every face in place
    result.masks    # MASK [F,H,W]: how much of each output pixel came from a face
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .align.crops import FaceCrop, FaceCrops
from .colour import lab_to_rgb, rgb_to_lab
from .errors import FaceSpaceError
from .imageops import pil_to_image
from .runtime import Runtime, get_runtime

COLOUR_MATCH = ("lab", "none")
DEFAULT_GROW = 0.02
DEFAULT_FEATHER = 0.05
PREFILTER_OVERSAMPLE = 2   # a face is first reduced to at most twice its size in the photo
LANCZOS_LOBES = 3
MAX_STD_RATIO = 2.0   # colour matching never scales a Lab channel's spread by more than this (or less than 1/x)


@dataclass
class PasteResult:
    images: torch.Tensor   # [F,H,W,3] float32 0..1
    masks: torch.Tensor    # [F,H,W] float32 0..1


def mask_outline(crop: FaceCrop) -> np.ndarray:
    """Convex outline of the face's 68 landmarks in crop fractions, [K,2], counter-clockwise."""
    return convex_hull(crop.to_crop(crop.landmarks))


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Andrew's monotone chain; vertices with positive signed area, no repeated end point."""
    pts = sorted(map(tuple, np.asarray(points, dtype=np.float64)))

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = np.array(lower[:-1] + upper[:-1], dtype=np.float64)
    if len(hull) < 3:
        raise FaceSpaceError("the face's landmarks span no area; cannot build a paste mask")
    return hull


def face_alpha(outline: np.ndarray, t: torch.Tensor, grow: float, feather: float) -> torch.Tensor:
    """Mask value at crop fractions t [...,2]: 1 well inside the outline grown by `grow`, fading to 0 over
    `feather` toward the grown outline, 0 beyond it and outside the crop square."""
    v = torch.as_tensor(outline, dtype=t.dtype)
    edges = torch.roll(v, -1, 0) - v
    normals = torch.stack([edges[:, 1], -edges[:, 0]], 1) / edges.norm(dim=1, keepdim=True).clamp_min(1e-12)
    # Signed distance to a convex polygon (exact inside, mitered corners outside).
    inside = torch.full(t.shape[:-1], -float("inf"), dtype=t.dtype)
    for vertex, normal in zip(v, normals):
        inside = torch.maximum(inside, (t[..., 0] - vertex[0]) * normal[0] + (t[..., 1] - vertex[1]) * normal[1])
    square = torch.maximum((t - 0.5).abs()[..., 0], (t - 0.5).abs()[..., 1]) - 0.5
    d = torch.maximum(inside - grow, square)
    if feather <= 0:
        return (d < 0).to(t.dtype)
    return (-d / feather).clamp(0, 1)


def paste_faces(photo, crops: FaceCrop | Sequence[FaceCrop], faces: torch.Tensor, grow: float = DEFAULT_GROW,
                feather: float = DEFAULT_FEATHER, colour: str = "lab", runtime: Runtime | None = None) -> PasteResult:
    """Warp `faces` into `photo` where `crops` cut them.

    photo: a PIL image or IMAGE [H,W,3] / [P,H,W,3] (P = 1, or one photo per output); it may be a resized
    copy of the aligned photo (same shape).
    Pairing: one crop and N faces -> N photos (every frame of a morph into the same place); N crops of one
    photo and N faces -> one photo with face i in crop i; one face and N crops -> that face in each place.
    colour: 'lab' matches the face's Lab mean and spread inside the mask to the photo's face, 'none' keeps it.
    """
    crops = [crops] if isinstance(crops, FaceCrop) else list(crops)
    if not crops:
        raise FaceSpaceError("crops: no face crops given")
    if colour not in COLOUR_MATCH:
        raise FaceSpaceError(f"colour: unknown choice {colour!r}; choose one of {', '.join(COLOUR_MATCH)}")
    if not -0.5 <= float(grow) <= 0.5 or not 0 <= float(feather) <= 0.5:
        raise FaceSpaceError(f"grow must be -0.5..0.5 and feather 0..0.5 (fractions of the crop's side), "
                             f"got grow {grow}, feather {feather}")
    photos = _photo_batch(photo)
    faces = _face_batch(faces)
    n_faces, n_crops = faces.shape[0], len(crops)
    if n_crops == 1:
        plan = [[(0, i)] for i in range(n_faces)]
    elif n_faces == n_crops:
        plan = [[(k, k) for k in range(n_crops)]]
    elif n_faces == 1:
        plan = [[(k, 0) for k in range(n_crops)]]
    else:
        raise FaceSpaceError(f"faces: got {n_faces} faces for {n_crops} crops; give one face per crop, one face "
                             f"for all of them, or choose one crop to paste {n_faces} faces into (one photo each)")
    if photos.shape[0] not in (1, len(plan)):
        raise FaceSpaceError(f"photo: got a batch of {photos.shape[0]} photos for {len(plan)} output(s); "
                             f"give one photo, or one per output")
    h, w = photos.shape[1:3]
    crops = [c.scaled_to(w, h) for c in crops]
    places = [_placement(c, w, h, float(grow), float(feather)) for c in crops]
    rt = get_runtime(runtime)
    images, masks = [], []
    bar = rt.progress(len(plan), "pasting faces")
    try:
        for i, pairs in enumerate(plan):
            rt.check_cancel()
            canvas = photos[i if photos.shape[0] > 1 else 0].clone()
            mask = torch.zeros(h, w)
            for k, f in pairs:
                _paste_one(canvas, mask, places[k], faces[f], colour)
            images.append(canvas)
            masks.append(mask)
            bar.update(1)
    finally:
        bar.close()
    return PasteResult(torch.stack(images), torch.stack(masks))


def paste_back(crops: FaceCrops, faces: torch.Tensor, photo=None, photo_index: int = 0, face_index: int = -1,
               grow: float = DEFAULT_GROW, feather: float = DEFAULT_FEATHER, colour: str = "lab",
               runtime: Runtime | None = None) -> PasteResult:
    """`paste_faces` into one of the aligned photos: photo number `photo_index` (from 0, in alignment order),
    into its face number `face_index` (from 0, left to right) or, with -1, into each of its faces.
    photo: that photo (PIL or IMAGE); default the one the crops keep or their source file."""
    chosen = crops.of_photo(int(photo_index))
    if face_index >= 0:
        found = [c for c in chosen if c.face_index == face_index]
        if not found:
            raise FaceSpaceError(f"face_index {face_index}: photo {photo_index} has faces "
                                 f"{', '.join(str(c.face_index) for c in chosen)} (from 0, left to right; -1 = all)")
        chosen = found
    if photo is None:
        photo = crops.photo_of(chosen[0])
    return paste_faces(photo, chosen, faces, grow=grow, feather=feather, colour=colour, runtime=runtime)


def _photo_batch(photo) -> torch.Tensor:
    if isinstance(photo, Image.Image):
        return pil_to_image(photo.convert("RGB"))
    if not torch.is_tensor(photo) or photo.ndim not in (3, 4) or photo.shape[-1] not in (3, 4):
        raise FaceSpaceError(f"photo: expected a picture or an IMAGE [H,W,3] / [N,H,W,3], got "
                             f"{tuple(photo.shape) if torch.is_tensor(photo) else type(photo).__name__}")
    photo = photo if photo.ndim == 4 else photo[None]
    return photo[..., :3].detach().float().cpu()


def _face_batch(faces) -> torch.Tensor:
    if isinstance(faces, Image.Image):
        faces = pil_to_image(faces)
    if not torch.is_tensor(faces) or faces.ndim not in (3, 4) or faces.shape[-1] not in (3, 4):
        raise FaceSpaceError(f"faces: expected an IMAGE batch [N,S,S,3] of aligned faces, got "
                             f"{tuple(faces.shape) if torch.is_tensor(faces) else type(faces).__name__}")
    faces = faces if faces.ndim == 4 else faces[None]
    if faces.shape[1] != faces.shape[2]:
        raise FaceSpaceError(f"faces: aligned faces are square, got {faces.shape[2]}x{faces.shape[1]} px")
    return faces[..., :3].detach().float().cpu()


@dataclass
class _Placement:
    """Where one crop lands in the photo: its box, the crop fractions and mask weights of the pixels under it."""
    box: tuple[int, int, int, int]   # x0, y0, x1, y1
    inside: torch.Tensor             # [h,w] bool: mask > 0
    t: torch.Tensor                  # [K,2] crop fractions of those pixels
    alpha: torch.Tensor              # [h,w] mask weights
    side: float


def _placement(crop: FaceCrop, width: int, height: int, grow: float, feather: float) -> _Placement | None:
    lo = np.floor(crop.quad.min(axis=0)).astype(int)
    hi = np.ceil(crop.quad.max(axis=0)).astype(int) + 1
    x0, y0 = max(lo[0], 0), max(lo[1], 0)
    x1, y1 = min(hi[0], width), min(hi[1], height)
    if x0 >= x1 or y0 >= y1:
        return None
    ys, xs = torch.meshgrid(torch.arange(y0, y1, dtype=torch.float64), torch.arange(x0, x1, dtype=torch.float64),
                            indexing="ij")
    inverse = torch.from_numpy(np.linalg.inv(crop.axes))
    t = (torch.stack([xs, ys], -1) - torch.from_numpy(crop.quad[0])) @ inverse.T
    alpha = face_alpha(mask_outline(crop), t, grow, feather).float()
    inside = alpha > 0
    if not bool(inside.any()):
        return None
    return _Placement((x0, y0, x1, y1), inside, t[inside], alpha, crop.side)


def _paste_one(canvas: torch.Tensor, mask: torch.Tensor, place: _Placement | None, face: torch.Tensor,
               colour: str) -> None:
    """Blend one face into canvas [H,W,3] in place; mask [H,W] keeps the largest weight seen per pixel."""
    if place is None:
        return
    x0, y0, x1, y1 = place.box
    src = face.permute(2, 0, 1)[None]
    footprint = max(int(round(place.side * PREFILTER_OVERSAMPLE)), 2)
    if src.shape[-1] > footprint:  # far more face pixels than photo pixels: filter before sampling
        src = F.interpolate(src, size=(footprint, footprint), mode="bilinear", antialias=True, align_corners=False)
    warped = lanczos_sample(src[0], place.t).T.clamp(0, 1)     # [K,3], the pixels under the mask only
    region = canvas[y0:y1, x0:x1]
    under, a = region[place.inside], place.alpha[place.inside][:, None]
    if colour == "lab":
        warped = match_colours(warped, under, a[:, 0])
    region[place.inside] = under + a * (warped - under)
    mask[y0:y1, x0:x1] = torch.maximum(mask[y0:y1, x0:x1], place.alpha)


def lanczos_sample(src: torch.Tensor, t: torch.Tensor, lobes: int = LANCZOS_LOBES) -> torch.Tensor:
    """src [C,S,S] sampled at crop fractions t [...,2] with a Lanczos kernel -> [C,...] (edges repeated)."""
    c, size = src.shape[0], src.shape[-1]
    x = t[..., 0].float() * size - 0.5
    y = t[..., 1].float() * size - 0.5
    x0, y0 = torch.floor(x), torch.floor(y)
    flat = src.reshape(c, -1)
    offsets = range(1 - lobes, lobes + 1)

    def taps(pos, start):   # the kernel is separable: weights and clamped indices per axis
        return [(torch.sinc(pos - start - k) * torch.sinc((pos - start - k) / lobes),
                 (start + k).clamp(0, size - 1).long()) for k in offsets]

    xs, ys = taps(x, x0), taps(y, y0)
    out = torch.zeros((c,) + x.shape)
    total = torch.zeros(x.shape)
    for wy, row in ys:
        row = row * size
        for wx, col in xs:
            weight = wy * wx
            out += flat[:, row + col] * weight
            total += weight
    return out / total


def match_colours(face: torch.Tensor, photo: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """face pixels [K,3] with their Lab mean and spread under `weight` [K] moved to the photo's [K,3]."""
    wsum = weight.sum()
    if float(wsum) <= 0:
        return face
    wt = (weight / wsum)[:, None].double()
    face_lab, photo_lab = rgb_to_lab(face.double()), rgb_to_lab(photo.double())

    def stats(lab):
        mean = (lab * wt).sum(0)
        std = (((lab - mean) ** 2) * wt).sum(0).sqrt()
        return mean, std

    (mf, sf), (mp, sp) = stats(face_lab), stats(photo_lab)
    ratio = (sp / sf.clamp_min(1e-6)).clamp(1 / MAX_STD_RATIO, MAX_STD_RATIO)
    return lab_to_rgb((face_lab - mf) * ratio + mp).float()
