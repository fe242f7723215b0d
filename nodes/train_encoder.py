"""TrainFaceSpaceEncoder: aligned faces + a generator -> FACESPACE (optionally saved to models/facespace)."""
from __future__ import annotations

import hashlib
import json
from collections import OrderedDict

import torch

from facespace.projection.report import psnr_line
from facespace.train import TrainSettings, train_facespace
from facespace.train.inputs import training_names

from .comfy import runtime
from .facespace_files import save_to_models

# Re-running an identical training returns the FaceSpace already learned in this process.
_CACHE: "OrderedDict[str, dict]" = OrderedDict()
_CACHE_SIZE = 4


def settings_from_inputs(schedule, encoder, steps, cycles, learning_rate, anneal, pixel_weight, structural_weight,
                         perceptual_weight, resolution, seed, target_psnr=-1.0, seconds=0.0) -> TrainSettings:
    """Node values -> TrainSettings; 0 (or -1 for the loss weights and the target) keeps the schedule's own value."""
    overrides = {"encoder": encoder, "seed": int(seed)}
    if target_psnr is not None and target_psnr >= 0:
        overrides["target_psnr"] = float(target_psnr)
    if seconds and seconds > 0:
        overrides["seconds"] = float(seconds)
    for key, value in (("steps", steps), ("cycles", cycles), ("lr", learning_rate), ("anneal", anneal),
                       ("resolution", resolution)):
        if value and value > 0:
            overrides[key] = type(getattr(TrainSettings, key))(value)
    for key, value in (("pixel_weight", pixel_weight), ("structural_weight", structural_weight),
                       ("perceptual_weight", perceptual_weight)):
        if value is not None and value >= 0:
            overrides[key] = float(value)
    return TrainSettings.preset(schedule, **overrides)


def training_key(stylegan, images: torch.Tensor, names: list[str], settings: TrainSettings) -> str:
    """What the training result depends on: the generator's weights, its noise, the faces, names and settings."""
    h = hashlib.sha256()
    h.update(stylegan.generator.fingerprint().encode())
    h.update(("none" if stylegan.noise_mode == "none" else "const").encode())
    img = images.detach().float().cpu().contiguous()
    h.update(str(tuple(img.shape)).encode())
    h.update(img.numpy().tobytes())
    h.update(json.dumps([names, settings.to_dict()], sort_keys=True).encode())
    return h.hexdigest()


class FaceSpaceTrainEncoder:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "stylegan": ("STYLEGAN", {"tooltip": "The generator to reproduce the faces with (from LoadStyleGAN)."}),
                "images": ("IMAGE", {"tooltip": "The aligned training faces (from AlignFaces), 6-10 work best."}),
                "face_names": ("STRING", {
                    "default": "", "multiline": True,
                    "tooltip": "One name per face, separated by commas, semicolons or new lines, in image order "
                               "(connect AlignFaces' names). Empty = face_01, face_02, ..."}),
                "encoder": (["linear", "mlp"], {
                    "default": "linear",
                    "tooltip": "linear: a blend is exactly the weighted mix of the faces' W+ codes (stable blends). "
                               "mlp: the original's network (blends are nonlinear)."}),
                "schedule": (["fast", "original"], {
                    "default": "fast",
                    "tooltip": "fast: all faces at once, W+ optimised directly then distilled into the encoder. "
                               "original: the original research code's schedule (batch 2, target propagation, "
                               "annealed cycles)."}),
                "steps": ("INT", {
                    "default": 0, "min": 0, "max": 100000,
                    "tooltip": "Fast: projection steps (one pass of the faces still searching each). Original: "
                               "epochs per cycle. 0 = the schedule's default (fast 300, original 200)."}),
                "cycles": ("INT", {
                    "default": 0, "min": 0, "max": 20,
                    "tooltip": "Original schedule: learning-rate cycles; the rate is multiplied by the anneal "
                               "factor after each. 0 = its default (2). The fast schedule has no cycles."}),
                "learning_rate": ("FLOAT", {
                    "default": 0.0, "min": 0.0, "max": 1.0, "step": 0.001,
                    "tooltip": "Original schedule: Adam learning rate. 0 = its default (0.01). The fast schedule "
                               "(L-BFGS with line searches) needs none."}),
                "anneal": ("FLOAT", {
                    "default": 0.0, "min": 0.0, "max": 1.0, "step": 0.01,
                    "tooltip": "Original schedule: learning-rate factor from one cycle to the next. 0 = its "
                               "default (0.1)."}),
                "pixel_weight": ("FLOAT", {
                    "default": -1.0, "min": -1.0, "max": 1e5, "step": 0.1,
                    "tooltip": "Weight of the pixel MSE. -1 = the schedule's default (fast 1, original 100)."}),
                "structural_weight": ("FLOAT", {
                    "default": -1.0, "min": -1.0, "max": 1e5, "step": 0.1,
                    "tooltip": "Weight of 1 - MS-SSIM (structure, needs no weights file). -1 = the schedule's "
                               "default (0)."}),
                "perceptual_weight": ("FLOAT", {
                    "default": -1.0, "min": -1.0, "max": 1e5, "step": 0.1,
                    "tooltip": "Weight of the VGG16 perceptual loss; used only when VGG16 weights are in "
                               "models/vgg, else off (the server log says so). -1 = the schedule's default "
                               "(fast 0, original 100)."}),
                "resolution": ("INT", {
                    "default": 0, "min": 0, "max": 4096, "step": 8,
                    "tooltip": "Train at most at this resolution (cheaper); at or above the generator's resolution "
                               "= full. 0 = the schedule's default (fast 256, original full)."}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 2 ** 31 - 1,
                                 "tooltip": "Seed for the encoder's start and the sampled starting faces."}),
            },
            "optional": {
                "save_name": ("STRING", {
                    "default": "",
                    "tooltip": "If set, also save the FaceSpace as models/facespace/<name>.safetensors."}),
                "overwrite": ("BOOLEAN", {
                    "default": False,
                    "tooltip": "Replace an existing file of that name that holds another FaceSpace (saving the "
                               "same FaceSpace again is always fine)."}),
                "target_psnr": ("FLOAT", {
                    "default": -1.0, "min": -1.0, "max": 100.0, "step": 0.5,
                    "tooltip": "A face stops once its reconstruction reaches this PSNR (dB); training ends when "
                               "every face has. 0 = use every step. -1 = the schedule's default (fast 45, "
                               "original 0)."}),
                "seconds": ("FLOAT", {
                    "default": 0.0, "min": 0.0, "max": 86400.0, "step": 1.0,
                    "tooltip": "Fast schedule: stop searching after this many seconds even if steps are left. "
                               "0 = no time limit."}),
            },
        }

    RETURN_TYPES = ("FACESPACE",)
    RETURN_NAMES = ("facespace",)
    OUTPUT_TOOLTIPS = ("The trained FaceSpace (encoder + per-face W+), bound to its generator.",)
    FUNCTION = "train"
    CATEGORY = "FaceSpace"
    DESCRIPTION = ("Learn a FaceSpace: one code per training face mapped onto W+ so the generator reproduces "
                   "each face; mixing codes then makes new faces.")

    def train(self, stylegan, images, face_names="", encoder="linear", schedule="fast", steps=0, cycles=0,
              learning_rate=0.0, anneal=0.0, pixel_weight=-1.0, structural_weight=-1.0, perceptual_weight=-1.0,
              resolution=0, seed=0, save_name="", overwrite=False, target_psnr=-1.0, seconds=0.0):
        settings = settings_from_inputs(schedule, encoder, steps, cycles, learning_rate, anneal, pixel_weight,
                                        structural_weight, perceptual_weight, resolution, seed, target_psnr, seconds)
        names = training_names(face_names, images.shape[0])
        key = training_key(stylegan, images, names, settings)
        entry = _CACHE.get(key)
        if entry is None:
            fs = train_facespace(stylegan, images, names, settings, runtime=runtime())
            entry = {"facespace": fs.bound_to(None)}  # the cache must not keep generators alive
            _CACHE[key] = entry
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        _CACHE.move_to_end(key)
        fs = entry["facespace"].bound_to(stylegan)
        if save_name and save_name.strip():
            save_to_models(fs, save_name, bool(overwrite))
        psnr = fs.metadata.get("psnr", {})
        text = psnr_line(list(psnr), list(psnr.values()), fs.metadata.get("psnr_resolution", fs.resolution),
                         fs.metadata.get("target_psnr", settings.target_psnr))
        return {"ui": {"facespace_names": list(fs.names), "text": [text],
                       "facespace_report": training_report(fs)}, "result": (fs,)}


def training_report(fs) -> list[str]:
    """One line per face: its PSNR and, when measured, its identity distance (the node's ui text)."""
    psnr, identity = fs.metadata.get("psnr", {}), fs.metadata.get("identity") or {}
    lines = [f"{name}: {psnr[name]:.1f} dB" + (f", identity {identity[name]:.3f}" if name in identity else "")
             for name in fs.names if name in psnr]
    return lines + ([] if identity else [fs.metadata.get("identity_note", "identity not measured")])


NODE_CLASS_MAPPINGS = {"FaceSpaceTrainEncoder": FaceSpaceTrainEncoder}
NODE_DISPLAY_NAME_MAPPINGS = {"FaceSpaceTrainEncoder": "TrainFaceSpaceEncoder"}
