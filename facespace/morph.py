"""Morphs: a walk through the training faces, one frame batch ready for video nodes.

Frame layout, with F = frames per transition and H = hold frames:
- each face in the order is shown once, then H more times (a still of 1 + H frames);
- between two faces come F - 1 in-between frames, so a transition takes F steps;
- without loop the walk ends on the last face; with loop it walks back to the first face and
  stops one step before it, so a looping player never shows the first face twice in a row.
  Frames: (len(order) - 1) * F + 1 + len(order) * H without loop, len(order) * (F + H) with it.
Endpoint frames are the faces' own reconstructions (`FaceSpace.encode` of the one-hot code).

Easing shapes the pace inside each transition: the fraction of the way covered at step j is
ease(j / F) with linear (t), smoothstep (3t^2 - 2t^3) or cosine ((1 - cos(pi t)) / 2).

Interpolation space:
- 'wplus' (the default): straight lines between the faces' W+ codes; W+ steps follow the easing exactly.
- 'code':  lines between the one-hot codes, through the encoder. An MLP encoder bends that path
  and would speed up and slow down along it, so the code parameter is re-timed by W+ arc length
  (measured on `ARC_SAMPLES` points per transition, then refined on the frames' own distances):
  W+ steps follow the easing here too.
"""
from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from .blend import attached_stylegan, resolve_name
from .errors import FaceSpaceError, WeightsError
from .fileio import atomic_path, check_writable, save_numbered_pictures
from .imageops import image_to_pil
from .names import split_list
from .space import FaceSpace

EASINGS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda t: t,
    "smoothstep": lambda t: t * t * (3 - 2 * t),
    "cosine": lambda t: (1 - torch.cos(math.pi * t)) / 2,
}
SPACES = ("wplus", "code")
ARC_SAMPLES = 64
CHORD_PASSES = 24
CHORD_TOLERANCE = 1e-4


def ease(name: str, t: torch.Tensor) -> torch.Tensor:
    if name not in EASINGS:
        raise FaceSpaceError(f"easing must be one of {', '.join(EASINGS)}, got {name!r}")
    return EASINGS[name](torch.as_tensor(t, dtype=torch.float64))


def parse_order(text: str, names: Sequence[str]) -> list[int]:
    """'anna, bea, carla' (commas, semicolons, new lines or '->') -> face indices; empty = all faces."""
    entries = [name for part in split_list(text) for name in split_list(part.split("->"))]
    if not entries:
        return list(range(len(names)))
    order = [resolve_name(e, names) for e in entries]
    for a, b in zip(order, order[1:]):
        if a == b:
            raise WeightsError(f"order: face {names[a]!r} follows itself; use hold frames to stay on a face")
    return order


@dataclass(frozen=True)
class MorphPlan:
    """A morph's path and pace, faces by index (frame layout: see the module doc)."""

    order: list[int]          # face indices, training order numbering
    frames: int = 12          # steps per transition (F)
    hold: int = 0             # extra frames on each face (H)
    easing: str = "linear"
    space: str = "wplus"
    loop: bool = False

    def __post_init__(self):
        if len(self.order) < 2:
            raise WeightsError(f"a morph needs at least two faces in its order, got {len(self.order)}")
        if self.loop and len(self.order) > 1 and self.order[0] == self.order[-1]:
            raise WeightsError("order ends on its first face and loop is on; drop the last face or loop")
        if self.frames < 1:
            raise FaceSpaceError(f"frames per transition must be 1 or more, got {self.frames}")
        if self.hold < 0:
            raise FaceSpaceError(f"hold frames must be 0 or more, got {self.hold}")
        if self.space not in SPACES:
            raise FaceSpaceError(f"space must be one of {', '.join(SPACES)}, got {self.space!r}")
        ease(self.easing, torch.zeros(1))

    @property
    def stops(self) -> list[int]:
        return self.order + [self.order[0]] if self.loop else list(self.order)

    def schedule(self) -> list[tuple[int, float]]:
        """One (transition index, eased fraction) per frame; the fraction is 0 at a face."""
        F, H = self.frames, self.hold
        fractions = ease(self.easing, torch.arange(F, dtype=torch.float64) / F).tolist()
        out: list[tuple[int, float]] = []
        transitions = len(self.stops) - 1
        for k in range(transitions):
            out += [(k, 0.0)] * (1 + H) + [(k, f) for f in fractions[1:]]
        if not self.loop:
            out += [(transitions - 1, 1.0)] * (1 + H)
        return out

    def frame_count(self) -> int:
        n = len(self.order)
        return n * (self.frames + self.hold) if self.loop else (n - 1) * self.frames + 1 + n * self.hold


def _code_line(num_faces: int, a: int, b: int, s: torch.Tensor) -> torch.Tensor:
    """Codes on the line from face a (s=0) to face b (s=1), [len(s), num_faces] float32."""
    codes = torch.zeros(len(s), num_faces, dtype=torch.float64)
    codes[:, a] = 1 - s
    codes[:, b] = s
    return codes.float()


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear y(x) through increasing points (xp, fp), clamped at the ends."""
    idx = torch.searchsorted(xp, x.clamp(xp[0], xp[-1]), right=True).clamp(1, len(xp) - 1)
    lo, hi = xp[idx - 1], xp[idx]
    w = torch.where(hi > lo, (x - lo) / (hi - lo).clamp_min(1e-300), torch.zeros_like(x))
    return fp[idx - 1] + w.clamp(0, 1) * (fp[idx] - fp[idx - 1])


def _fractions(ws: torch.Tensor) -> torch.Tensor | None:
    """Cumulative W+ distance along consecutive points, as fractions 0..1 (None when it has no length)."""
    seg = ws.double().flatten(1).diff(dim=0).norm(dim=1)
    total = seg.sum()
    if not torch.isfinite(total) or total <= 0:
        return None
    return torch.cat([torch.zeros(1, dtype=torch.float64), seg.cumsum(0) / total])


def _retime(facespace, a: int, b: int, targets: torch.Tensor) -> torch.Tensor:
    """Code-line parameters s at which the encoder's W+ path from face a to face b has covered the
    `targets` fractions (0..1) of its length, measured between the frames themselves."""
    n = len(facespace.names)
    grid = torch.linspace(0, 1, ARC_SAMPLES + 1, dtype=torch.float64)
    cum = _fractions(facespace.encode(_code_line(n, a, b, grid)))
    if cum is None:
        return targets.clone()
    knots = torch.unique(torch.cat([targets.clamp(0, 1), torch.tensor([0.0, 1.0], dtype=torch.float64)]))
    want = knots.diff()
    # Start from arc length on a fine grid, then rescale each frame-to-frame step of s toward the
    # wanted share of W+ distance (damped by a square root: moving one frame changes two steps,
    # and undamped updates oscillate where the encoder's path bends).
    s = _interp(knots, cum, grid)
    for _ in range(CHORD_PASSES):
        chord = _fractions(facespace.encode(_code_line(n, a, b, s)))
        if chord is None:
            break
        got = chord.diff()
        if bool((got <= 0).any()):
            break
        if float((got / want - 1).abs().max()) < CHORD_TOLERANCE:
            break
        ds = s.diff() * (want / got).sqrt()
        s = torch.cat([torch.zeros(1, dtype=torch.float64), (ds / ds.sum()).cumsum(0)])
        s[-1] = 1.0
    out = _interp(targets.clamp(0, 1), knots, s)
    return torch.where(targets <= 0, torch.zeros_like(out), torch.where(targets >= 1, torch.ones_like(out), out))


def keyframe_wplus(keyframes: torch.Tensor, plan: MorphPlan, facespace: FaceSpace | None = None) -> torch.Tensor:
    """W+ [frames, num_ws, w_dim] float32 of a morph through `keyframes` [K,num_ws,w_dim] (plan.order
    indexes them). Space 'code' walks the face codes through `facespace`'s encoder (then keyframe i must be
    face i's reconstruction); 'wplus' draws straight lines. The keyframes themselves are exact frames."""
    k_count = keyframes.shape[0]
    if max(plan.order) >= k_count or min(plan.order) < 0:
        raise WeightsError(f"order holds an index outside 0..{k_count - 1}")
    if plan.space == "code" and facespace is None:
        raise FaceSpaceError("space 'code' walks a FaceSpace's face codes; use space 'wplus' for a latent batch")
    stops = plan.stops
    faces = keyframes.detach().float().cpu()[stops]
    schedule = plan.schedule()
    out = torch.empty((len(schedule),) + tuple(faces.shape[1:]), dtype=torch.float32)
    for k in range(len(stops) - 1):
        rows = [i for i, (kk, _) in enumerate(schedule) if kk == k]
        t = torch.tensor([schedule[i][1] for i in rows], dtype=torch.float64)
        if plan.space == "wplus":
            ws = torch.lerp(faces[k].double()[None], faces[k + 1].double()[None], t[:, None, None]).float()
        else:
            s = _retime(facespace, stops[k], stops[k + 1], t)
            ws = facespace.encode(_code_line(len(facespace.names), stops[k], stops[k + 1], s)).float()
        # The keyframes themselves are exact, not a re-encoded approximation.
        ws[t <= 0] = faces[k]
        ws[t >= 1] = faces[k + 1]
        out[rows] = ws
    return out


def morph_wplus(facespace: FaceSpace, plan: MorphPlan) -> torch.Tensor:
    """W+ [frames, num_ws, w_dim] float32 of every frame of a morph through the training faces (no rendering)."""
    return keyframe_wplus(facespace.face_wplus(), plan, facespace)  # the faces' reconstructions


def render_morph(facespace: FaceSpace, plan: MorphPlan, runtime=None, batch_size: int = 8) -> torch.Tensor:
    """IMAGE [frames,H,W,3] float32 0..1 on the CPU; rendered in chunks of `batch_size` frames."""
    return attached_stylegan(facespace).render(morph_wplus(facespace, plan), runtime, batch_size, desc="morph")


# ---------------------------------------------------------------- saving a morph

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")


def find_ffmpeg() -> str | None:
    """An ffmpeg executable: imageio-ffmpeg's bundled one, else ffmpeg on PATH."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # not installed, or its binary is missing
        return shutil.which("ffmpeg")


def write_gif(frames: torch.Tensor, path, fps: float = 25, overwrite: bool = False) -> Path:
    pics = image_to_pil(frames)
    duration = max(20, round(1000 / fps / 10) * 10)  # GIF delays are in 1/100 s
    with atomic_path(path, overwrite) as tmp:
        pics[0].save(tmp, format="GIF", save_all=True, append_images=pics[1:], duration=duration, loop=0,
                     optimize=False)
    return Path(path)


def video_encoder(path) -> str:
    """The ffmpeg that will write `path`, or an error that says what to do instead."""
    exe = find_ffmpeg()
    if exe is None:
        raise FaceSpaceError(f"cannot write {path}: no video encoder found (install imageio-ffmpeg or put ffmpeg "
                             f"on PATH); write a .gif or a folder of PNG frames instead")
    return exe


def write_mp4(frames: torch.Tensor, path, fps: float = 25, overwrite: bool = False) -> Path:
    exe = video_encoder(path)
    n, h, w, _ = frames.shape
    with atomic_path(path, overwrite) as tmp:
        cmd = [exe, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
               "-r", str(fps), "-i", "-", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264",
               "-pix_fmt", "yuv420p", "-f", "mp4", str(tmp)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for i in range(n):
                proc.stdin.write((frames[i].clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy().tobytes())
        except BrokenPipeError:
            pass  # ffmpeg stopped early; its own message follows
        except BaseException:
            proc.kill()  # interrupted: leave no encoder running
            proc.wait()
            raise
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise FaceSpaceError(f"ffmpeg could not write {path}: {err.decode(errors='replace').strip()[-400:]}")
    return Path(path)


def write_frames(frames: torch.Tensor, folder, overwrite: bool = False, prefix: str = "frame") -> list[Path]:
    """Numbered PNGs frame_00000.png ... in `folder` (created); refuses to replace files unless `overwrite`."""
    return save_numbered_pictures(image_to_pil(frames), folder, prefix, overwrite)


def morph_target(out, fps: float = 25, overwrite: bool = False) -> str:
    """What `save_morph` makes of `out`: 'gif', 'video' or 'frames' (a folder of PNGs).

    Raises what saving would raise (bad fps, unknown ending, no video encoder, a file in the way),
    so callers can check before spending time on rendering.
    """
    out = Path(out)
    if not (math.isfinite(fps) and fps > 0):
        raise FaceSpaceError(f"fps must be a number above 0, got {fps}")
    suffix = out.suffix.lower()
    if suffix == ".gif" or suffix in VIDEO_SUFFIXES:
        if suffix != ".gif":
            video_encoder(out)
        check_writable(out, overwrite)
        return "gif" if suffix == ".gif" else "video"
    if suffix and not out.is_dir():
        raise FaceSpaceError(f"cannot write a morph to {out}: use a .gif, an .mp4 or a folder name")
    return "frames"


def save_morph(frames: torch.Tensor, out, fps: float = 25, overwrite: bool = False) -> Path | list[Path]:
    """By the name: .gif (PIL), .mp4/.m4v/.mov (ffmpeg), anything else a folder of numbered PNGs."""
    kind = morph_target(out, fps, overwrite)
    if kind == "gif":
        return write_gif(frames, out, fps, overwrite)
    if kind == "video":
        return write_mp4(frames, out, fps, overwrite)
    return write_frames(frames, out, overwrite)


__all__ = ["EASINGS", "SPACES", "MorphPlan", "ease", "parse_order", "keyframe_wplus", "morph_wplus", "render_morph",
           "morph_target", "save_morph", "write_gif", "write_mp4", "write_frames", "find_ffmpeg"]
