"""train_facespace on faces a tiny generator made itself: convergence, determinism, divergence, cancel, progress.

The faces are 16 px: small enough that torch keeps most operations on one thread, which keeps the tests quick
on a busy machine; only the coarse-to-fine test needs 32 px.
"""
import pytest
import torch

from facespace.blend import format_weights, parse_weights
from facespace.errors import (Cancelled, FaceSpaceError, MissingWeightsFileError, SettingsError,
                              TrainingDivergedError)
from facespace.imageops import native_to_image
from facespace.runtime import PlainRuntime
from facespace.stylegan import StyleGAN, tiny_generator
from recording_runtime import RecordingRuntime
from facespace.train import TrainSettings, train_facespace
from facespace.train.inputs import training_names
from facespace.train.losses import VGG16Features, psnr


def generator_faces(G, n: int, seed: int):
    """n targets rendered from known random W+ (an independent w per layer)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n * G.num_ws, G.z_dim, generator=g)
    ws = G.mapping(z, psi=0.7).view(n, G.num_ws, G.num_ws, G.w_dim)[:, 0].contiguous()
    with torch.no_grad():
        return ws, native_to_image(G.synthesis(ws))


@pytest.fixture(scope="module")
def G():
    return tiny_generator(resolution=16, seed=0)


@pytest.fixture(scope="module")
def faces(G):
    return generator_faces(G, 6, seed=1)[1]


def rt():
    return PlainRuntime("cpu", show_progress=False)


def reconstruction_psnr(fs, G, images):
    with torch.no_grad():
        out = (G.synthesis(fs.encode(torch.eye(len(fs))), noise_mode="const") + 1) / 2
    return psnr(out, images.permute(0, 3, 1, 2))


@pytest.fixture(scope="module")
def converged(G, faces):
    """converged(encoder): trained once per module with the default schedule until every face reaches 30 dB."""
    trained = {}

    def get(encoder: str):
        if encoder not in trained:
            settings = TrainSettings(encoder=encoder, steps=400, target_psnr=30.0)
            trained[encoder] = train_facespace(StyleGAN(G), faces, "a, b, c, d, e, f", settings, rt())
        return trained[encoder]

    return get


@pytest.mark.parametrize("encoder", ["linear", "mlp"])
def test_every_face_is_reconstructed_at_30_db(G, faces, converged, encoder):
    fs = converged(encoder)
    measured = reconstruction_psnr(fs, G, faces)
    assert (measured >= 30).all(), f"{encoder}: PSNR per face {measured.tolist()}"
    assert fs.names == list("abcdef") and fs.encoder_kind == encoder
    assert fs.metadata["psnr_resolution"] == G.resolution
    assert fs.metadata["psnr"] == pytest.approx(dict(zip(fs.names, measured.tolist())), abs=0.05)
    assert fs.metadata["steps_run"] < 400  # stopped early at the target, well inside the step budget
    assert fs.generator_fingerprint == G.fingerprint() and fs.stylegan.generator is G
    assert fs.wplus_table.shape == (6, G.num_ws, G.w_dim)
    history = fs.metadata["loss_history"]
    assert len(history["step"]) == len(history["loss"]) > 1 and history["loss"][-1] < history["loss"][0]


def test_linear_encoder_reproduces_its_table_exactly(converged):
    fs = converged("linear")
    assert torch.allclose(fs.encode(torch.eye(6)), fs.wplus_table, atol=1e-5)
    a = torch.tensor([[0.2, 0.5, 0.3, 0.0, 0.0, 0.0]])
    assert torch.allclose(fs.encode(a)[0], torch.einsum("n,nlc->lc", a[0], fs.wplus_table), atol=1e-5)


def test_a_bare_generator_and_two_faces_but_not_one(G, faces):
    fs = train_facespace(G, faces[:2], None, TrainSettings(steps=3, init_candidates=8), rt())
    assert fs.names == ["face_01", "face_02"] and fs.stylegan is None
    assert fs.wplus_table.shape == (2, G.num_ws, G.w_dim)
    with pytest.raises(FaceSpaceError, match="one face given; a FaceSpace needs at least two faces"):
        train_facespace(G, faces[:1], None, TrainSettings(steps=3), rt())


def test_psnr_is_reported_at_the_output_resolution_beside_the_working_one():
    G = tiny_generator(resolution=32, seed=0)
    faces = generator_faces(G, 2, seed=1)[1]
    fs = train_facespace(G, faces, ["a", "b"], TrainSettings(steps=8, resolution=16), rt())
    meta = fs.metadata
    assert (meta["psnr_resolution"], meta["working_resolution"]) == (32, 16)
    assert set(meta["psnr_working"]) == {"a", "b"} and meta["target_psnr"] == 45.0
    assert list(meta["psnr"].values()) == pytest.approx(reconstruction_psnr(fs, G, faces).tolist(), abs=0.01)


def test_faces_of_another_size_are_resized_and_odd_shapes_refused(G, faces):
    larger = torch.nn.functional.interpolate(faces.permute(0, 3, 1, 2)[:2], size=64, mode="bilinear")
    fs = train_facespace(G, larger.permute(0, 2, 3, 1), None, TrainSettings(steps=2, init_candidates=0), rt())
    assert fs.metadata["psnr_resolution"] == G.resolution and len(fs.metadata["psnr"]) == 2
    with pytest.raises(FaceSpaceError, match="24x16 pixels; aligned faces are square"):
        train_facespace(G, torch.rand(2, 16, 24, 3), None, TrainSettings(steps=1), rt())
    with pytest.raises(FaceSpaceError, match="no faces"):
        train_facespace(G, faces[:0], None, TrainSettings(steps=1), rt())
    with pytest.raises(FaceSpaceError, match="IMAGE batch"):
        train_facespace(G, "faces.png", None, TrainSettings(steps=1), rt())


@pytest.mark.parametrize("settings", [
    TrainSettings(encoder="mlp", steps=8, init_candidates=16, distill_steps=10, finetune_steps=2),
    TrainSettings.original(steps=1, cycles=1, pixel_finetune=True, perceptual_weight=0.0),
], ids=["fast-mlp", "original"])
def test_same_seed_gives_identical_weights(G, faces, settings):
    a = train_facespace(G, faces[:4], None, settings, rt())
    b = train_facespace(G, faces[:4], None, settings, rt())
    sa, sb = a.encoder.state_dict(), b.encoder.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert torch.equal(a.wplus_table, b.wplus_table)
    c = train_facespace(G, faces[:4], None, settings.replace(seed=1), rt())
    assert any(not torch.equal(sa[k], c.encoder.state_dict()[k]) for k in sa)


def test_original_schedule_runs_its_phases(G, faces):
    settings = TrainSettings.original(steps=2, cycles=2, pixel_finetune=True)
    with pytest.warns(UserWarning, match="perceptual loss off"):
        fs = train_facespace(G, faces[:4], None, settings, rt())
    # (target propagation + 2 cycles) x 2 epochs + 1 fine-tune epoch, 2 batches of 2 faces per epoch
    assert fs.metadata["steps_run"] == (3 * 2 + 1) * 2
    phases = set(fs.metadata["loss_history"]["phase"])
    assert phases == {"target propagation", "cycle 1", "cycle 2", "pixel fine-tune"}
    assert fs.encoder_kind == "mlp" and "no VGG16 weights" in fs.metadata["perceptual"]
    assert fs.metadata["settings"]["batch_size"] == 2 and fs.metadata["settings"]["pull_weight"] == 1e4
    # The target-propagation table moved away from the mean W it started from.
    assert (fs.wplus_table - G.w_avg).abs().max() > 1e-3


def test_perceptual_loss_is_used_when_vgg16_weights_are_present(G, faces, tmp_path):
    only_perceptual = TrainSettings(steps=1, pixel_weight=0.0, perceptual_weight=1.0, perceptual_resolution=32,
                                    init_candidates=0)
    runtime = PlainRuntime("cpu", models_dir=tmp_path, show_progress=False)
    with pytest.raises(MissingWeightsFileError, match="perceptual_weight is the only loss.*vgg"):
        train_facespace(G, faces[:2], None, only_perceptual, runtime)
    torch.manual_seed(0)
    vgg_dir = tmp_path / "vgg"
    vgg_dir.mkdir()
    torch.save({k: v for k, v in VGG16Features().state_dict().items() if k.startswith("features.")},
               vgg_dir / "vgg16.pth")
    fs = train_facespace(G, faces[:2], None, only_perceptual, runtime)
    assert fs.metadata["perceptual"] == "perceptual loss on: vgg16.pth"


class _NaNGenerator(torch.nn.Module):
    """The tiny generator, except that its images turn to NaN after a few calls."""

    def __init__(self, G, after: int):
        super().__init__()
        self.G, self.after, self.calls = G, after, 0
        self.num_ws, self.w_dim, self.z_dim, self.resolution = G.num_ws, G.w_dim, G.z_dim, G.resolution
        self.register_buffer("w_avg", G.w_avg.clone())

    def synthesis(self, ws, **kw):
        self.calls += 1
        img = self.G.synthesis(ws, **kw)
        return img * float("nan") if self.calls > self.after else img

    def mapping(self, z, **kw):
        return self.G.mapping(z, **kw)

    def fingerprint(self):
        return "nan"


@pytest.mark.parametrize("schedule", ["fast", "original"])
def test_nan_stops_training_with_a_clear_error(G, faces, schedule):
    settings = TrainSettings.preset(schedule, steps=20, init_candidates=0, perceptual_weight=0.0)
    with pytest.raises(TrainingDivergedError, match="diverged.*nothing was saved"):
        train_facespace(_NaNGenerator(G, after=3), faces[:2], None, settings, rt())


def test_progress_reports_status_and_preview_grids(G, faces):
    runtime = RecordingRuntime()
    train_facespace(G, faces[:3], None, TrainSettings(steps=12, preview_every=5, init_candidates=0, target_psnr=0),
                    runtime)
    # Two updates come before any step (measuring the mean face, comparing sampled faces), then one per step,
    # then the result.
    assert len(runtime.updates) == 15 and all(u.total == 12 for u in runtime.updates)
    previews = [u.preview for u in runtime.updates[:-1] if u.preview is not None]
    assert len(previews) == 3  # steps 1, 5, 10
    tile, pad = 96, 4  # 16 px faces are enlarged to the smallest preview tile
    # three columns (faces), two rows (reconstruction above target)
    assert previews[0].size == (3 * tile + 4 * pad, 2 * tile + 3 * pad)
    assert "mean face" in runtime.updates[0].status and all("PSNR" in u.status for u in runtime.updates[2:])
    last = runtime.updates[-1]
    assert last.preview is not None and "worst" in last.status and "face_0" in last.status


def test_cancel_stops_training(G, faces):
    runtime = RecordingRuntime(cancel_after=3)
    with pytest.raises(Cancelled):
        train_facespace(G, faces[:2], None, TrainSettings(steps=50, init_candidates=0), runtime)
    assert len(runtime.updates) == 3
    assert not any(p.requires_grad for p in G.parameters())


def test_trains_under_inference_mode(G, faces):
    with torch.inference_mode():
        images = faces[:2].clone()
        fs = train_facespace(G, images, ["x", "y"], TrainSettings(steps=3, init_candidates=0, structural_weight=1.0),
                             rt())
        w = fs.encode([[1.0, 0.0]])
    assert w.shape == (1, G.num_ws, G.w_dim) and torch.isfinite(w).all()


def test_face_names_follow_the_shared_name_rules():
    assert training_names("anna, bea\ncarla", 3) == ["anna", "bea", "carla"]
    assert training_names("anna; bea", 2) == ["anna", "bea"]
    assert training_names("", 2) == ["face_01", "face_02"] and training_names(None, 1) == ["face_01"]
    assert training_names(["Anna", "anna", "ANNA"], 3) == ["Anna", "anna_2", "ANNA_3"]
    assert training_names([" a/b ", "x:y", "..."], 3) == ["a_b", "x_y", "face"]
    with pytest.raises(FaceSpaceError, match="face_names: 2 name.*for 3 image"):
        training_names("anna, bea", 3)
    names = training_names(["Zoë Ann", "a=b", "1", "tab\tname", "Zoë ann"], 5)
    weights = [0.1, 0.2, 0.3, 0.15, 0.25]
    assert parse_weights(format_weights(names, weights), names) == pytest.approx(weights)


def test_settings_reject_nonsense_naming_the_setting_and_range():
    with pytest.raises(SettingsError, match="schedule must be one of fast, original, got 'slow'"):
        TrainSettings(schedule="slow")
    with pytest.raises(SettingsError, match="must not all be 0"):
        TrainSettings(pixel_weight=0.0)
    with pytest.raises(SettingsError, match=r"anneal must be a number in \(0, 1\], got 1.5"):
        TrainSettings(anneal=1.5)
    with pytest.raises(SettingsError, match="steps must be a whole number >= 1, got 0"):
        TrainSettings.preset("original", steps=0)
    with pytest.raises(SettingsError, match="lr must be a number > 0, got nan"):
        TrainSettings(lr=float("nan"))
    with pytest.raises(SettingsError, match="shared_w_fraction"):
        TrainSettings(shared_w_fraction=2.0)
    assert issubclass(SettingsError, ValueError)
    assert TrainSettings.original().to_dict()["lr"] == 1e-2
    assert TrainSettings.from_dict(TrainSettings(steps=7).to_dict()) == TrainSettings(steps=7)


def test_fast_schedule_batches_only_split_the_work(G, faces):
    settings = TrainSettings(steps=6, init_candidates=16)
    whole = train_facespace(G, faces[:4], None, settings, rt())
    halves = train_facespace(G, faces[:4], None, settings.replace(batch_size=2), rt())
    assert torch.allclose(whole.wplus_table, halves.wplus_table, atol=1e-5)
