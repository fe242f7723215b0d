"""Project Image: any picture batch -> latent through the projector; made square first; progress, preview, cancel."""
import pytest
import torch

import nodes.comfy as comfy
from facespace.errors import Cancelled, FaceSpaceError
from facespace.latent import project_latent, square_pictures
from facespace.projection import ProjectionSettings
from facespace.stylegan import StyleGAN, tiny_generator
from node_util import defaults
from recording_runtime import RecordingRuntime
from nodes.latent_project import FaceSpaceProjectImage


@pytest.fixture(scope="module")
def stylegan():
    return StyleGAN(tiny_generator(resolution=16, seed=0), psi=0.7)


def generated(stylegan, seed):
    G = stylegan.generator
    return stylegan.render(G.mapping(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(seed)), psi=0.7))


def test_pictures_are_made_square_by_crop_pad_or_stretch():
    wide = torch.rand(1, 10, 16, 3)
    assert torch.equal(square_pictures(wide, "crop")[0], wide[0, :, 3:13].permute(2, 0, 1))
    padded = square_pictures(wide, "pad")
    assert padded.shape == (1, 3, 16, 16) and torch.equal(padded[0, :, 3:13], wide[0].permute(2, 0, 1))
    assert (padded[0, :, :3] == 1).all()
    assert square_pictures(wide, "stretch").shape == (1, 3, 16, 16)
    rgba = torch.cat([torch.zeros(1, 4, 4, 3), torch.zeros(1, 4, 4, 1)], dim=-1)  # fully transparent black
    assert (square_pictures(rgba) == 1).all()
    with pytest.raises(FaceSpaceError, match="fit must be one of crop, pad, stretch"):
        square_pictures(wide, "zoom")


def test_projected_pictures_render_back_close_to_themselves(stylegan):
    targets = generated(stylegan, 1)
    latent, result = project_latent(stylegan, targets, ProjectionSettings(steps=300, target_psnr=35),
                                    labels="ann, bo", runtime=RecordingRuntime())
    assert latent.labels == ("ann", "bo") and latent.generator_fingerprint == stylegan.generator.fingerprint()
    assert (result.psnr >= 35).all(), result.psnr
    back = latent.render(stylegan)
    mse = (back - targets).square().flatten(1).mean(1)
    assert (-10 * torch.log10(mse) >= 34.9).all()
    with pytest.raises(FaceSpaceError, match="labels: 1 given for 2"):
        project_latent(stylegan, targets, ProjectionSettings(steps=1), labels="ann")


def test_the_node_shows_progress_with_previews_and_cancels(stylegan, monkeypatch):
    rt = RecordingRuntime()
    monkeypatch.setattr(comfy, "_runtime", rt)
    targets = generated(stylegan, 2)
    with torch.inference_mode():  # as ComfyUI runs every node
        out = FaceSpaceProjectImage().project(**defaults(FaceSpaceProjectImage, stylegan=stylegan, images=targets,
                                                         steps=30, target_psnr=0.0, labels="painting, poster"))
    latent, reconstructions = out["result"]
    assert latent.labels == ("painting", "poster") and reconstructions.shape == (2, 16, 16, 3)
    assert "PSNR at 16 px" in out["ui"]["text"][0]
    assert len(rt.updates) >= 30 and rt.previews, "progress at every step, with previews"
    monkeypatch.setattr(comfy, "_runtime", RecordingRuntime(cancel_after=3))
    with pytest.raises(Cancelled):
        FaceSpaceProjectImage().project(**defaults(FaceSpaceProjectImage, stylegan=stylegan, images=targets,
                                                   steps=200, target_psnr=0.0))
