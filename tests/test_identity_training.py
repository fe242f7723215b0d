"""Identity measured after training (log, node, FaceSpace file) and beside blend weights in BlendWeights' chart."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from facespace.identity import distances, missing_reason
from facespace.imageops import image_to_pil
from facespace.runtime import PlainRuntime
from facespace.stylegan import StyleGAN, tiny_generator
from facespace.train import TrainSettings, load_facespace, save_facespace, train_facespace

DATA = Path(__file__).resolve().parent / "data"

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))


def rt():
    return PlainRuntime("cpu", show_progress=False)


@pytest.fixture(scope="module")
def stylegan():
    return StyleGAN(tiny_generator(resolution=64, seed=2))


@pytest.fixture(scope="module")
def faces():
    from facespace.align import align_faces

    result = align_faces(files=[DATA / "astronaut.png", DATA / "grace_hopper.jpg"], size=64, backend="dlib",
                         preview=False)
    return result.images


@pytest.fixture(scope="module")
def trained(stylegan, faces):
    return train_facespace(stylegan, faces, "eileen, grace", TrainSettings(steps=8, preview_every=0, init_candidates=0), rt())


def test_training_reports_each_reconstructions_identity(trained, stylegan, faces, tmp_path):
    from facespace.identity import identity_backend

    backend = identity_backend()
    identity = trained.metadata["identity"]
    assert list(identity) == ["eileen", "grace"] and "below 0.6" in trained.metadata["identity_note"]
    # The numbers are the distances between the reconstructions and the faces, measured independently.
    recon = stylegan.render(trained.face_wplus(), runtime=rt())
    expected = distances(backend.embed_aligned(image_to_pil(recon)), backend.embed_aligned(image_to_pil(faces)))
    np.testing.assert_allclose(list(identity.values()), expected.diagonal(), atol=2e-3)
    stored = np.array(list(trained.metadata["identity_embeddings"].values()))
    np.testing.assert_allclose(stored, backend.embed_aligned(image_to_pil(faces)), atol=1e-4)
    # The FaceSpace file keeps them.
    path = save_facespace(trained, tmp_path / "fs.safetensors")
    assert load_facespace(path).metadata["identity"] == identity


def test_small_or_missing_backend_says_why(faces, monkeypatch):
    small = StyleGAN(tiny_generator(resolution=32, seed=2))
    fs = train_facespace(small, faces, None, TrainSettings(steps=2, preview_every=0, init_candidates=0), rt())
    assert fs.metadata["identity"] is None and "below 64 px" in fs.metadata["identity_note"]
    import facespace.train.identity_report as report

    monkeypatch.setattr(report, "missing_reason", lambda dirs=(): "identity needs dlib: pip install dlib-bin")
    fs = train_facespace(StyleGAN(tiny_generator(resolution=64, seed=2)), faces, None,
                         TrainSettings(steps=2, preview_every=0, init_candidates=0), rt())
    assert fs.metadata["identity"] is None and "pip install" in fs.metadata["identity_note"]


def test_blend_chart_shows_identity_closeness(trained, stylegan, monkeypatch):
    from facespace.blend import plan_blends
    from facespace.identity.blend_report import identity_closeness, with_identity_series
    from nodes.blend import FaceSpaceBlendWeights

    trained = trained.bound_to(stylegan)
    node = FaceSpaceBlendWeights()
    args = dict(weights="eileen=1", mode="weights", count=1, seed=0, normalize=True)
    plain = node.blend(trained, **args)["result"]
    shown = node.blend(trained, identity_chart=True, **args)["result"]
    assert torch.equal(plain[0], shown[0]) and not torch.equal(plain[2], shown[2])   # same blend, other chart
    closeness = identity_closeness(trained, plain[0])
    assert closeness.shape == (1, 2) and ((0 <= closeness) & (closeness <= 1)).all()
    # The stored embeddings and freshly rendered reconstructions agree (the fallback for older files).
    without = type(trained)(trained.names, trained.encoder, trained.encoder_kind, trained.wplus_table,
                            trained.resolution, trained.generator_fingerprint, {}, stylegan)
    recon = identity_closeness(without, plain[0])
    faces_closeness = identity_closeness(trained, stylegan.render(trained.face_wplus()[:1]))
    assert recon[0, 0] == pytest.approx(1.0, abs=1e-6)          # eileen's blend is her reconstruction
    assert faces_closeness[0, 0] == pytest.approx(closeness[0, 0], abs=1e-6)
    # Layer-group series gain an identity series; a missing backend leaves the chart as it was.
    plan = plan_blends(trained.names, "eileen=1", group_weights={"coarse": "grace=1"}, num_ws=trained.num_ws)
    rows, series = plan.chart_data()
    rows2, series2 = with_identity_series(trained, plain[0], rows, series)
    assert series2 == list(series) + ["identity"] and len(rows2[0][0]) == len(series) + 1
    import facespace.identity.blend_report as report

    monkeypatch.setattr(report, "missing_reason", lambda dirs=(): "identity needs dlib: pip install dlib-bin")
    with pytest.warns(UserWarning, match="identity chart off"):
        assert with_identity_series(trained, plain[0], rows, series) == (rows, series)
    tip = FaceSpaceBlendWeights.INPUT_TYPES()["optional"]["identity_chart"][1]["tooltip"]
    assert "identity closeness" in tip


def test_train_command_prints_identity(tmp_path, capsys, faces):
    from facespace.cli import main
    from facespace.stylegan import save_generator

    save_generator(tiny_generator(resolution=64, seed=2), tmp_path / "g.safetensors")
    (tmp_path / "faces").mkdir()
    for name, picture in zip(("eileen", "grace"), image_to_pil(faces)):
        picture.save(tmp_path / "faces" / f"{name}.png")
    assert main(["train", "--model", str(tmp_path / "g.safetensors"), "--faces", str(tmp_path / "faces"),
                 "--out", str(tmp_path / "fs.safetensors"), "--steps", "4"]) == 0
    out = capsys.readouterr().out
    assert "identity distance" in out and "eileen" in out.split("identity distance")[1]


def test_train_node_reports_identity_in_its_ui(stylegan, faces):
    from nodes.train_encoder import FaceSpaceTrainEncoder

    out = FaceSpaceTrainEncoder().train(stylegan, faces, "eileen, grace", steps=2, seed=5)
    report = out["ui"]["facespace_report"]
    assert len(report) == 2 and report[0].startswith("eileen: ") and " dB, identity " in report[0]
