"""The latent nodes as ComfyUI calls them (no ComfyUI needed): random, mix, edit, render, save / load, morph."""
import numpy as np
import pytest
import torch

from facespace.errors import FaceSpaceError, FingerprintMismatchError, WeightsError
from facespace.latent import load_latent, sefa_directions
from facespace.stylegan import StyleGAN, tiny_generator
from node_util import defaults
from nodes.blend import FaceSpaceBlendWeights
from nodes.latent_edit import FaceSpaceEditLatent
from nodes.latent_files import FaceSpaceLoadLatent, FaceSpaceSaveLatent
from nodes.latent_join import FaceSpaceJoinLatents
from nodes.latent_mix import FaceSpaceMixLatents
from nodes.latent_project import FaceSpaceProjectImage
from nodes.latent_random import FaceSpaceRandomLatent
from nodes.latent_render import FaceSpaceRenderLatent
from nodes.morph import FaceSpaceMorphSequence
from nodes.sample import FaceSpaceSampleStyleGAN
from test_blend import make_rendering_facespace

LATENT_NODES = (FaceSpaceRandomLatent, FaceSpaceMixLatents, FaceSpaceEditLatent, FaceSpaceRenderLatent,
                FaceSpaceSaveLatent, FaceSpaceLoadLatent, FaceSpaceJoinLatents, FaceSpaceProjectImage)


@pytest.fixture(scope="module")
def fs():
    return make_rendering_facespace("linear", n=4)


@pytest.fixture(scope="module")
def stylegan(fs):
    return fs.stylegan


def call(node_cls, **inputs):
    node = node_cls()
    with torch.inference_mode():  # as ComfyUI runs every node
        out = getattr(node, node_cls.FUNCTION)(**defaults(node_cls, **inputs))
    return out["result"] if isinstance(out, dict) and "result" in out else out


def test_every_latent_node_explains_its_inputs_and_outputs():
    for cls in LATENT_NODES:
        spec = cls.INPUT_TYPES()
        for section in spec.values():
            for name, entry in section.items():
                assert entry[1].get("tooltip"), f"{cls.__name__}.{name} has no tooltip"
        assert len(cls.OUTPUT_TOOLTIPS) == len(cls.RETURN_TYPES) and cls.DESCRIPTION


def test_random_latent_then_render_gives_sample_stylegans_faces(stylegan):
    (lat,) = call(FaceSpaceRandomLatent, stylegan=stylegan, seed=4, count=3, truncation_psi=stylegan.psi)
    images, sheet = call(FaceSpaceRenderLatent, stylegan=stylegan, latent=lat, columns=2)
    assert sheet.shape == (1, 2 * 32 + 3 * 4, 2 * 32 + 3 * 4, 3)  # two rows of two, 4 px apart
    assert torch.allclose(sheet[0, 4:36, 4:36], images[0], atol=1 / 255)
    (sampled,) = call(FaceSpaceSampleStyleGAN, stylegan=stylegan, seed=4, batch_size=3)
    assert images.shape == (3, 32, 32, 3) and torch.allclose(images, sampled, atol=1e-6)
    other = StyleGAN(tiny_generator(resolution=32, seed=9))
    with pytest.raises(FingerprintMismatchError):
        call(FaceSpaceRenderLatent, stylegan=other, latent=lat)
    assert call(FaceSpaceRenderLatent, stylegan=other, latent=lat, allow_mismatch=True)[0].shape == images.shape
    assert call(FaceSpaceRenderLatent, stylegan=stylegan, latent=lat)[1].shape[1:3] == (40, 3 * 32 + 4 * 4)


def test_render_node_shows_progress_and_cancels(stylegan, monkeypatch):
    import nodes.comfy as comfy
    from facespace.errors import Cancelled
    from recording_runtime import RecordingRuntime

    (lat,) = call(FaceSpaceRandomLatent, stylegan=stylegan, count=5)
    rt = RecordingRuntime()
    monkeypatch.setattr(comfy, "_runtime", rt)
    call(FaceSpaceRenderLatent, stylegan=stylegan, latent=lat, batch_size=2)
    assert len(rt.updates) == 3 and rt.previews == []  # chunks of 2, 2 and 1; the result itself is the picture
    monkeypatch.setattr(comfy, "_runtime", RecordingRuntime(cancel_after=1))
    with pytest.raises(Cancelled):
        call(FaceSpaceRenderLatent, stylegan=stylegan, latent=lat, batch_size=2)


def test_mix_node_style_blend_of_a_blend_and_a_random_face(fs, stylegan):
    blend = call(FaceSpaceBlendWeights, facespace=fs, weights="anna=1")[3]
    (style,) = call(FaceSpaceRandomLatent, stylegan=stylegan, seed=50)
    (mixed,) = call(FaceSpaceMixLatents, latent_1=blend, latent_2=style)  # defaults: coarse+middle face, fine style
    fine_start = 4  # 8 layers: 0-1 coarse, 2-3 middle, 4-7 fine
    assert torch.equal(mixed.wplus[:, :fine_start], blend.wplus[:, :fine_start])
    assert torch.equal(mixed.wplus[:, fine_start:], style.wplus[:, fine_start:])
    (third,) = call(FaceSpaceRandomLatent, stylegan=stylegan, seed=51)
    with pytest.raises(WeightsError, match="2 weights for 3 latents"):
        call(FaceSpaceMixLatents, latent_1=blend, latent_2=style, latent_3=third)
    (explicit,) = call(FaceSpaceMixLatents, latent_1=blend, latent_2=style, latent_3=third, coarse_weights="",
                       middle_weights="", fine_weights="", layers="0-7: 0, 0, 1")
    assert torch.equal(explicit.wplus, third.wplus)


def test_edit_node_sweep_is_a_filmstrip_along_the_sefa_row(stylegan, tmp_path):
    (lat,) = call(FaceSpaceRandomLatent, stylegan=stylegan, seed=1, count=2)
    (strip,) = call(FaceSpaceEditLatent, stylegan=stylegan, latent=lat, method="sefa", component=1, strength=2.0,
                    layers="2-5", sweep_steps=3)
    assert len(strip) == 6 and strip.labels[0] == "seed 1 sefa1 -2"
    row = sefa_directions(stylegan.generator, 2, range(2, 6))[0][1]  # SeFa in the chosen layers
    delta = strip.wplus[2] - lat.wplus[0]  # item 0 at +2
    assert torch.allclose(delta[2:6], 2 * row.expand(4, -1), atol=1e-5) and torch.equal(delta[:2], torch.zeros_like(delta[:2]))
    np.save(tmp_path / "smile.npy", row.numpy())
    (from_file,) = call(FaceSpaceEditLatent, stylegan=stylegan, latent=lat, method="file", strength=2.0,
                        layers="2-5", direction_file=str(tmp_path / "smile.npy"))
    assert torch.allclose(from_file.wplus[0], strip.wplus[2], atol=1e-6)
    (ganspace,) = call(FaceSpaceEditLatent, stylegan=stylegan, latent=lat, method="ganspace", strength=0.0)
    assert torch.equal(ganspace.wplus, lat.wplus)
    with pytest.raises(FaceSpaceError, match="direction_file"):
        call(FaceSpaceEditLatent, stylegan=stylegan, latent=lat, method="file")
    with pytest.raises(FaceSpaceError, match="layers"):
        call(FaceSpaceEditLatent, stylegan=stylegan, latent=lat, layers="3-99")


def test_save_and_load_latent_nodes(stylegan, tmp_path, monkeypatch):
    import nodes.comfy as comfy

    monkeypatch.setattr(comfy, "_runtime", comfy.PlainRuntime(show_progress=False, models_dir=tmp_path))
    (lat,) = call(FaceSpaceRandomLatent, stylegan=stylegan, seed=2, count=2)
    out = FaceSpaceSaveLatent().save(latent=lat, name="faces")
    assert out["ui"]["latent_file"] == ["faces.safetensors"]
    saved = tmp_path / "stylegan_latents" / "faces.safetensors"
    stamp = saved.stat().st_mtime_ns
    FaceSpaceSaveLatent().save(latent=lat, name="faces")  # the same codes again (a re-run): left as it is
    assert saved.stat().st_mtime_ns == stamp
    (other,) = call(FaceSpaceRandomLatent, stylegan=stylegan, seed=3, count=2)
    with pytest.raises(FaceSpaceError, match="already exists and holds other codes.*overwrite"):
        FaceSpaceSaveLatent().save(latent=other, name="faces")
    FaceSpaceSaveLatent().save(latent=other, name="faces", overwrite=True)
    assert torch.equal(load_latent(saved).wplus, other.wplus)
    FaceSpaceSaveLatent().save(latent=lat, name="faces", overwrite=True)
    assert "faces.safetensors" in FaceSpaceLoadLatent.INPUT_TYPES()["required"]["file"][0]
    (back,) = call(FaceSpaceLoadLatent, stylegan=stylegan, file="faces.safetensors")
    assert torch.equal(back.wplus, lat.wplus) and back.labels == lat.labels
    np.save(tmp_path / "stylegan_latents" / "raw.npy", lat.wplus.numpy())
    (raw,) = call(FaceSpaceLoadLatent, stylegan=stylegan, file="raw.npy")
    assert torch.equal(raw.wplus, lat.wplus) and raw.labels == ("raw_0", "raw_1")
    assert load_latent(tmp_path / "stylegan_latents" / "faces.safetensors").generator_fingerprint == lat.generator_fingerprint
    with pytest.raises(FaceSpaceError, match="plain name"):
        FaceSpaceSaveLatent().save(latent=lat, name="../outside")


def test_latent_morph_endpoints_are_the_keyframes_renders(fs, stylegan):
    (face,) = call(FaceSpaceRandomLatent, stylegan=stylegan, seed=3)
    (style,) = call(FaceSpaceRandomLatent, stylegan=stylegan, seed=30)
    (styled,) = call(FaceSpaceMixLatents, latent_1=face, latent_2=style)
    (keys,) = call(FaceSpaceJoinLatents, latent_1=face, latent_2=styled)
    assert keys.labels == ("seed 3", "seed 3+seed 30") and torch.equal(keys.wplus[1], styled.wplus[0])
    other = StyleGAN(tiny_generator(resolution=32, seed=9))
    with pytest.raises(FaceSpaceError, match="made for generator"):
        call(FaceSpaceJoinLatents, latent_1=face, latent_2=call(FaceSpaceRandomLatent, stylegan=other)[0])
    (frames,) = call(FaceSpaceMorphSequence, keyframes=keys, stylegan=stylegan, frames_per_transition=5)
    ends = keys.render(stylegan)
    assert frames.shape[0] == 6
    assert torch.allclose(frames[0], ends[0], atol=1e-6) and torch.allclose(frames[-1], ends[1], atol=1e-6)
    (back,) = call(FaceSpaceMorphSequence, keyframes=keys, facespace=fs, order="seed 3+seed 30, seed 3",
                   frames_per_transition=2)
    assert torch.allclose(back[0], ends[1], atol=1e-6) and torch.allclose(back[-1], ends[0], atol=1e-6)
    with pytest.raises(FaceSpaceError, match="stylegan"):
        call(FaceSpaceMorphSequence, keyframes=keys)
    with pytest.raises(FaceSpaceError, match="space 'code'"):
        call(FaceSpaceMorphSequence, keyframes=keys, stylegan=stylegan, space="code")
    with pytest.raises(FaceSpaceError, match="facespace"):
        call(FaceSpaceMorphSequence)
