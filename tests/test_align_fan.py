"""The face_alignment (FAN) backend on its real code path, with weight files the test builds itself."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facespace.align import align_faces, make_backend
from facespace.align.fan_backend import FAN_FILE, S3FD_FILE
from facespace.errors import MissingWeightsFileError
from facespace.runtime import PlainRuntime

DATA = Path(__file__).resolve().parent / "data"

pytest.importorskip("face_alignment", reason="face-alignment is not installed")


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """A torch hub cache with nothing in it, so no real weights on this machine are found."""
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub"
    torch.hub.set_dir(old)


# The real file holds a 4-stack FAN (24M parameters); one stack runs the same code 4x faster.
TEST_FAN_STACKS = 1


def write_random_weights(folder: Path) -> None:
    """FAN and S3FD weights in the files' real format (plain state_dicts), random except that the
    detector's coarsest head is fixed to report one face box per 128 px cell. The FAN has
    TEST_FAN_STACKS hourglass stacks (see `small_fan`)."""
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):  # seeded weights, the global generator left as it was
        torch.manual_seed(0)
        fan, det = FAN(TEST_FAN_STACKS), s3fd()
    torch.save(fan.state_dict(), folder / FAN_FILE)
    with torch.no_grad():
        for name, module in det.named_children():
            if name.endswith("_mbox_conf") or name.endswith("_mbox_loc"):
                module.weight.zero_()
                module.bias.zero_()
                if name.endswith("_mbox_conf"):
                    module.bias[-1] = 10.0 if name.startswith("conv7_2") else -10.0
    torch.save(det.state_dict(), folder / S3FD_FILE)


def test_missing_weights_message_names_file_and_folder(empty_hub, tmp_path):
    models = tmp_path / "models" / "landmarks"
    with pytest.raises(MissingWeightsFileError) as info:
        make_backend("face_alignment", model_dirs=[models], download_dir=models)
    msg = str(info.value)
    assert FAN_FILE in msg and S3FD_FILE in msg and str(models) in msg and "allow" in msg
    assert not list(empty_hub.rglob("*.pth*")), "nothing may be downloaded without permission"

    write_random_weights(models)
    (models / S3FD_FILE).unlink()
    with pytest.raises(MissingWeightsFileError) as info:
        make_backend("face_alignment", model_dirs=[models])
    assert S3FD_FILE in str(info.value) and FAN_FILE not in str(info.value).split("need")[1].split(";")[0]


def test_auto_prefers_face_alignment_when_its_weights_are_present(empty_hub, tmp_path):
    models = tmp_path / "landmarks"
    from facespace.align import dlib_backend

    if dlib_backend.available() and dlib_backend.packaged_predictor() is not None:
        assert make_backend("auto", model_dirs=[models]).name == "dlib"   # no FAN weights: dlib
    else:
        with pytest.raises(MissingWeightsFileError, match="face_alignment weights missing"):
            make_backend("auto", model_dirs=[models])
    write_random_weights(models)
    assert make_backend("auto", model_dirs=[models]).name == "face_alignment"


@pytest.fixture
def small_fan(monkeypatch):
    """face_alignment builds its FAN with TEST_FAN_STACKS stacks, matching the test's weight file."""
    from face_alignment import models

    full_size = models.FAN
    monkeypatch.setattr(models, "FAN", lambda num_modules=1: full_size(TEST_FAN_STACKS))


@pytest.fixture
def no_numba_compile(monkeypatch):
    """face_alignment's two numba kernels run as the plain Python they are written in.

    The first call would otherwise spend ~17 s of a ~27 s test compiling them on 2 cores; the
    arithmetic and every other step of the package's code path stay the same.
    """
    from face_alignment import utils

    for name in ("_get_preds_fromhm", "transform_np"):
        fn = getattr(utils, name)
        monkeypatch.setattr(utils, name, getattr(fn, "py_func", fn))


def test_fan_backend_runs_on_its_real_code_path(empty_hub, small_fan, no_numba_compile, tmp_path, monkeypatch):
    from facespace.align import fan_backend

    write_random_weights(tmp_path / "models" / "landmarks")
    rt = PlainRuntime("cpu", models_dir=tmp_path / "models", show_progress=False)
    # 128 px: the detector's coarsest head has one cell, so exactly one box (two FAN passes with the flip).
    photo = Image.open(DATA / "astronaut.png").convert("RGB").crop((96, 0, 352, 256)).resize((128, 128))
    backend = make_backend("face_alignment", model_dirs=rt.model_dirs("landmarks"), device="cpu")
    start = time.perf_counter()
    result = align_faces(images=torch.from_numpy(np.asarray(photo, dtype=np.float32) / 255)[None], names="eileen",
                         size=64, backend=backend, runtime=rt, score_threshold=0.5)
    elapsed = time.perf_counter() - start
    face = result.faces[0]
    assert result.names == ["eileen"] and result.images.shape == (1, 64, 64, 3)
    assert face.landmarks.shape == (68, 2) and np.isfinite(face.landmarks).all()
    assert len(result.faces) == 1 and 0.5 <= face.score <= 1.0
    print(f"face_alignment backend: first call {elapsed:.1f} s")
    # The crop follows the landmarks it got (whatever a random network put out).
    from facespace.align import face_geometry

    np.testing.assert_allclose(face.quad, face_geometry(face.landmarks).quad)

    # A large photo is searched at DETECT_MAX_SIDE and the boxes come back in its own pixels.
    monkeypatch.setattr(fan_backend, "DETECT_MAX_SIDE", 128)
    small_boxes = backend.boxes(np.asarray(photo))
    big_boxes = backend.boxes(np.asarray(photo.resize((384, 384))))
    assert len(small_boxes) == len(big_boxes) == 1
    np.testing.assert_allclose(big_boxes[0][:4], small_boxes[0][:4] * 3, atol=1.0)
