"""The projector on targets a tiny generator rendered itself: reaches the target, stops early, cancels, repeats."""
import pytest
import torch

from facespace.errors import Cancelled, FaceSpaceError, SettingsError
from facespace.projection import ProjectionSettings, project
from facespace.runtime import PlainRuntime
from facespace.stylegan import StyleGAN, load_generator, tiny_generator
from recording_runtime import RecordingRuntime
from stylegan_fixtures import write_ada_pickle, write_rosinality, write_tf_pickle


def generator_targets(G, n: int, seed: int) -> torch.Tensor:
    """n targets [N,3,H,W] 0..1 rendered from known random W+ (an independent w per layer)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n * G.num_ws, G.z_dim, generator=g)
    ws = G.mapping(z, psi=0.7).view(n, G.num_ws, G.num_ws, G.w_dim)[:, 0].contiguous()
    with torch.no_grad():
        return ((G.synthesis(ws) + 1) / 2).clamp(0, 1)


@pytest.fixture(scope="module")
def G():
    return tiny_generator(resolution=16, seed=0)


@pytest.fixture(scope="module")
def targets(G):
    return generator_targets(G, 4, seed=1)


def rt():
    return PlainRuntime("cpu", show_progress=False)


def measured(G, wplus, targets):
    with torch.no_grad():
        img = ((G.synthesis(wplus) + 1) / 2).clamp(0, 1)
    return -10 * torch.log10((img - targets).square().flatten(1).mean(1))


def test_every_face_reaches_the_target_and_stops_there(G, targets):
    result = project(StyleGAN(G), targets, ProjectionSettings(steps=400, target_psnr=40), rt())
    assert result.wplus.shape == (4, G.num_ws, G.w_dim) and result.wplus.dtype == torch.float32
    assert result.wplus.device.type == "cpu"
    assert (result.psnr >= 40).all(), result.psnr
    assert result.steps < 400  # stopped early: every face was there
    assert result.psnr == pytest.approx(measured(G, result.wplus, targets).tolist(), abs=0.01)
    assert result.resolution == result.working_resolution == 16
    assert result.below_target() == [] and "every face reached 40 dB" in result.summary()


def test_output_resolution_psnr_is_reported_beside_the_working_one():
    G = tiny_generator(resolution=32, seed=0)
    targets = generator_targets(G, 2, seed=2)
    result = project(G, targets, ProjectionSettings(steps=30, resolution=16, target_psnr=60), rt())
    assert result.working_resolution == 16 and result.resolution == 32
    assert result.psnr == pytest.approx(measured(G, result.wplus, targets).tolist(), abs=0.01)
    below = result.below_target(["ann", "bo"])
    assert [name for name, _ in below] == ["ann", "bo"]  # 30 steps are far from 60 dB
    assert "below the 60 dB target: ann" in result.summary(["ann", "bo"])


def test_same_seed_same_codes_and_a_batch_gives_each_face_its_own_answer(G, targets):
    settings = ProjectionSettings(steps=25, target_psnr=0)
    a = project(G, targets, settings, rt())
    b = project(G, targets, settings, rt())
    assert torch.equal(a.wplus, b.wplus)
    alone = project(G, targets[2:3], settings, rt())
    assert not a.restarts.any()  # (a restart would depend on the other faces, by design)
    # Only float rounding of batched convolutions differs, grown over 25 steps.
    assert torch.allclose(alone.wplus[0], a.wplus[2], atol=3e-3)


def test_progress_previews_and_cancel_from_the_first_step(G, targets):
    runtime = RecordingRuntime()
    steps = []
    project(G, targets[:2], ProjectionSettings(steps=6, preview_every=5, target_psnr=0), runtime,
            callback=lambda step, seconds, psnr, phase: steps.append((step, phase)))
    # before the first step: measuring the mean face, comparing sampled faces (both cancellable)
    assert "mean face" in runtime.updates[0].status and "sampled faces" in runtime.updates[1].status
    assert [u.done for u in runtime.updates[2:-1]] == [1, 2, 3, 4, 5, 6]
    assert [u.preview is not None for u in runtime.updates[2:-1]] == [True, False, False, False, True, False]
    # the last picture is labelled with each face's PSNR, and its status names the result
    n, _, final, status = runtime.updates[-1]
    assert n == 6 and final.height > runtime.updates[2].preview.height and status.startswith("PSNR at 16 px: worst")
    assert steps[0] == (1, "w") and len(steps) == 6
    for after in (1, 3):
        runtime = RecordingRuntime(cancel_after=after)
        with pytest.raises(Cancelled):
            project(G, targets[:2], ProjectionSettings(steps=50), runtime)
        assert len(runtime.updates) == after
    assert not any(p.requires_grad for p in G.parameters())


def test_a_time_budget_ends_the_projection(G, targets):
    result = project(G, targets[:1], ProjectionSettings(steps=100000, seconds=0.5, target_psnr=0), rt())
    assert 0.5 <= result.seconds < 5 and 1 <= result.steps < 100000


def test_bad_targets_and_settings_are_refused(G):
    with pytest.raises(FaceSpaceError, match="24x16 pixels; projection needs square"):
        project(G, torch.rand(1, 3, 16, 24), runtime=rt())
    with pytest.raises(FaceSpaceError, match=r"\[N,3,H,W\]"):
        project(G, torch.rand(1, 16, 16, 3), runtime=rt())
    with pytest.raises(SettingsError, match="projection setting seconds must be a number >= 0"):
        ProjectionSettings(seconds=-1)


@pytest.mark.parametrize("family, write", [("stylegan1", write_tf_pickle), ("stylegan2", write_ada_pickle),
                                           ("stylegan2", write_rosinality)], ids=["sg1-tf", "sg2-ada", "rosinality"])
def test_every_family_in_its_file_format_reaches_35_db(tmp_path, family, write):
    path = write(tiny_generator(family, resolution=16, seed=3), tmp_path / "g.bin")
    G = load_generator(path)
    targets = generator_targets(G, 3, seed=4)
    targets = (targets * 255).round() / 255  # 8-bit, like a photo
    result = project(G, targets, ProjectionSettings(steps=300, target_psnr=35), rt())
    assert (result.psnr >= 35).all(), result.psnr.tolist()
