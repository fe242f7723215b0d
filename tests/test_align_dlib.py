"""Alignment of real photos with dlib's detector + 68-point predictor (installed offline)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from facespace.align import align_faces, select_faces
from facespace.errors import NoFaceError
from test_align_ffhq import psnr, reference_align, reference_eyes_in_crop

DATA = Path(__file__).resolve().parent / "data"

pytest.importorskip("dlib", reason="dlib is not installed (pip install dlib-bin face-recognition-models)")


@pytest.fixture(scope="module")
def dlib_backend():
    from facespace.align.dlib_backend import DlibBackend, packaged_predictor

    if packaged_predictor() is None and not Path("/usr/share/dlib/shape_predictor_68_face_landmarks.dat").is_file():
        pytest.skip("dlib's 68-point predictor is not installed (pip install face-recognition-models)")
    return DlibBackend()


@pytest.fixture(scope="module")
def astronaut():
    return Image.open(DATA / "astronaut.png").convert("RGB")


@pytest.fixture(scope="module")
def hopper():
    return Image.open(DATA / "grace_hopper.jpg").convert("RGB")


def eyes(lm):
    return np.stack([lm[36:42].mean(0), lm[42:48].mean(0)])


def test_astronaut_eyes_land_where_ffhq_puts_them(dlib_backend, astronaut):
    size = 256
    result = align_faces(images=torch.from_numpy(np.asarray(astronaut, dtype=np.float32) / 255)[None],
                         names="astronaut", size=size, backend=dlib_backend)
    face = result.faces[0]
    assert result.names == ["astronaut"] and face.image.size == (size, size)
    # The detector's landmarks are those the notes report for this photo.
    np.testing.assert_allclose(eyes(face.landmarks), [[203.2, 101.5], [246.5, 104.2]], atol=1.0)

    # Re-measure the aligned crop: its eye centres sit where the recipe sends the source eye centres.
    again = select_faces(dlib_backend.detect(np.asarray(face.image)))
    assert len(again) == 1
    found = eyes(again[0].landmarks)
    expected = reference_eyes_in_crop(face.landmarks, size)
    assert np.hypot(*(found - expected).T).max() < 2.0, (found, expected)
    angle = np.degrees(np.arctan2(found[1, 1] - found[0, 1], found[1, 0] - found[0, 0]))
    assert abs(angle) < 0.5
    # And the crop is the recipe's crop.
    assert psnr(face.image, reference_align(astronaut, face.landmarks, size)) >= 40.0


def test_hopper_eyes_and_reference(dlib_backend, hopper, tmp_path):
    hopper.save(tmp_path / "Grace Hopper.jpg", quality=95)
    result = align_faces(folder=tmp_path, size=256, backend=dlib_backend)
    assert result.names == ["Grace Hopper"]
    face = result.faces[0]
    found = eyes(select_faces(dlib_backend.detect(np.asarray(face.image)))[0].landmarks)
    # Her glasses make the re-measured eye contours wobble by a few pixels (about 4 px on one eye at 256).
    assert np.hypot(*(found - reference_eyes_in_crop(face.landmarks, 256)).T).max() < 5.0
    source = Image.open(tmp_path / "Grace Hopper.jpg").convert("RGB")
    assert psnr(face.image, reference_align(source, face.landmarks, 256)) >= 40.0


def test_score_threshold_drops_the_false_face(dlib_backend, astronaut):
    # At this size the detector is upsampled once and also reports the mission patch (score ~0.12).
    found = dlib_backend.detect(np.asarray(astronaut))
    scores = sorted(f.score for f in found if f.score > 0)
    assert len(scores) == 2 and scores[0] < 0.3 and scores[1] > 1.0
    assert len(select_faces(found, "all", score_threshold=0.5)) == 1
    assert len(select_faces(found, "all", score_threshold=0.0)) == 2


@pytest.fixture(scope="module")
def composite(astronaut, hopper):
    """astronaut | its mirror | grace hopper, side by side."""
    sheet = Image.new("RGB", (512 * 3, 600), (128, 128, 128))
    sheet.paste(astronaut, (0, 0))
    sheet.paste(ImageOps.mirror(astronaut), (512, 0))
    sheet.paste(hopper, (1024, 0))
    return sheet


def test_three_faces(dlib_backend, composite, tmp_path):
    composite.save(tmp_path / "trio.png")
    result = align_faces(files=[tmp_path / "trio.png"], size=64, backend=dlib_backend, faces="all")
    assert result.names == ["trio_01", "trio_02", "trio_03"]
    centres = [np.mean(f.quad[:, 0]) for f in result.faces]
    assert centres == sorted(centres) and centres[0] < 512 < centres[1] < 1024 < centres[2]
    # The mirrored astronaut aligns to the mirror image of the astronaut.
    a, m = (np.asarray(f.image, dtype=np.float64) for f in result.faces[:2])
    assert psnr(Image.fromarray(np.uint8(a)), Image.fromarray(np.uint8(m[:, ::-1]))) > 20

    largest = align_faces(files=[tmp_path / "trio.png"], size=64, backend=dlib_backend)
    assert largest.names == ["trio"] and np.mean(largest.faces[0].quad[:, 0]) > 1024   # Grace Hopper's face is largest
    second = align_faces(files=[tmp_path / "trio.png"], size=64, backend=dlib_backend, faces="index", face_index=1)
    assert 512 < np.mean(second.faces[0].quad[:, 0]) < 1024
    with pytest.raises(NoFaceError, match=r"trio\.png.*face number 3"):
        align_faces(files=[tmp_path / "trio.png"], size=64, backend=dlib_backend, faces="index", face_index=3)


def test_no_face_is_an_error_naming_the_photo_or_skipped(dlib_backend, astronaut, tmp_path):
    Image.new("RGB", (320, 240), (40, 90, 160)).save(tmp_path / "sky.png")
    astronaut.save(tmp_path / "eileen.webp", quality=95)
    with pytest.raises(NoFaceError, match=r"sky\.png"):
        align_faces(folder=tmp_path, size=64, backend=dlib_backend)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = align_faces(folder=tmp_path, size=64, backend=dlib_backend, skip_missing=True)
    assert result.names == ["eileen"]
    assert result.skipped == [str(tmp_path / "sky.png")]
    assert any("sky.png" in str(w.message) for w in caught)
    assert len(result.previews) == 2 and all(p.size == result.previews[0].size for p in result.previews)
    with pytest.raises(NoFaceError, match="sky.png"), pytest.warns(UserWarning, match="sky.png"):
        align_faces(files=[tmp_path / "sky.png"], size=64, backend=dlib_backend, skip_missing=True)


def test_greyscale_rgba_and_tiny_photos(dlib_backend, astronaut, tmp_path):
    astronaut.convert("L").save(tmp_path / "grey.png")
    rgba = astronaut.convert("RGBA")
    alpha = np.full((512, 512), 255, np.uint8)
    alpha[:, :60] = 0   # a transparent strip away from the face
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(tmp_path / "rgba.png")
    astronaut.resize((160, 160), Image.LANCZOS).save(tmp_path / "tiny.png")
    result = align_faces(folder=tmp_path, size=128, backend=dlib_backend)
    assert result.names == ["grey", "rgba", "tiny"]
    assert result.images.shape == (3, 128, 128, 3)
    grey = np.asarray(result.faces[0].image, dtype=np.int16)
    assert np.abs(grey[..., 0] - grey[..., 1]).max() <= 1
    # All three show the same face at the same place.
    ref = np.asarray(align_faces(images=torch.from_numpy(np.asarray(astronaut, dtype=np.float32) / 255)[None],
                                 size=128, backend=dlib_backend).faces[0].image.convert("L"), dtype=np.float64)
    for face in result.faces:
        assert psnr(face.image.convert("L"), Image.fromarray(np.uint8(ref))) > 20, face.name
    # A photo far too small for any face detector is a clear error, not a crash.
    astronaut.resize((40, 40), Image.LANCZOS).save(tmp_path / "speck.png")
    with pytest.raises(NoFaceError, match="speck.png"):
        align_faces(files=[tmp_path / "speck.png"], size=64, backend=dlib_backend)


def test_predictor_lookup(tmp_path, monkeypatch):
    from facespace.align import dlib_backend
    from facespace.errors import MissingWeightsFileError

    packaged = dlib_backend.packaged_predictor()
    if packaged is not None:  # a user file in the landmarks folder wins over the packaged one
        (tmp_path / dlib_backend.PREDICTOR_FILE).symlink_to(packaged)
        assert dlib_backend.find_predictor([tmp_path]) == tmp_path / dlib_backend.PREDICTOR_FILE
    monkeypatch.setattr(dlib_backend, "packaged_predictor", lambda: None)
    monkeypatch.setattr(dlib_backend, "SYSTEM_PATHS", ())
    with pytest.raises(MissingWeightsFileError, match=r"shape_predictor_68_face_landmarks\.dat.*empty"):
        dlib_backend.find_predictor([tmp_path / "empty"])
