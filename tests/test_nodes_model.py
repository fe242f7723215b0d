"""LoadStyleGAN and Sample StyleGAN called the way ComfyUI calls them."""
import os

import pytest
import torch

import nodes.comfy
import nodes.load_stylegan as load_mod
from facespace.stylegan import StyleGAN, save_generator, tiny_generator
from nodes.load_stylegan import FaceSpaceLoadStyleGAN
from nodes.sample import FaceSpaceSampleStyleGAN
from stylegan_fixtures import write_ada_pickle, write_tf_pickle


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESPACE_MODELS", str(tmp_path))
    monkeypatch.setattr(nodes.comfy, "_runtime", None)
    d = tmp_path / "stylegan"
    d.mkdir()
    G1 = tiny_generator("stylegan1", resolution=16, seed=41)
    G2 = tiny_generator("stylegan2", resolution=16, seed=42)
    write_tf_pickle(G1, d / "sg1.pkl")
    (d / "sub").mkdir()
    write_ada_pickle(G2, d / "sub" / "sg2.pkl")
    save_generator(G2, d / "sg2.safetensors")
    (d / "notes.txt").write_text("not a model")
    load_mod._LOADED.entries.clear()
    yield {"sg1.pkl": G1, "sub/sg2.pkl": G2, "sg2.safetensors": G2}
    load_mod._LOADED.entries.clear()


def call(node_cls, **kwargs):
    """As ComfyUI does: a fresh instance, FUNCTION looked up by name, inputs as keyword arguments."""
    node = node_cls()
    with torch.inference_mode():
        return getattr(node, node_cls.FUNCTION)(**kwargs)


def test_node_metadata_and_tooltips(models_dir):
    from nodes.load_stylegan import NODE_CLASS_MAPPINGS as A, NODE_DISPLAY_NAME_MAPPINGS as AN
    from nodes.sample import NODE_CLASS_MAPPINGS as B, NODE_DISPLAY_NAME_MAPPINGS as BN

    assert A == {"FaceSpaceLoadStyleGAN": FaceSpaceLoadStyleGAN} and AN == {"FaceSpaceLoadStyleGAN": "LoadStyleGAN"}
    assert B == {"FaceSpaceSampleStyleGAN": FaceSpaceSampleStyleGAN}
    assert BN == {"FaceSpaceSampleStyleGAN": "Sample StyleGAN"}
    for cls in (FaceSpaceLoadStyleGAN, FaceSpaceSampleStyleGAN):
        inputs = cls.INPUT_TYPES()["required"]
        for name, spec in inputs.items():
            assert spec[1]["tooltip"], name
        assert cls.CATEGORY == "FaceSpace" and len(cls.OUTPUT_TOOLTIPS) == len(cls.RETURN_TYPES)
    choices = FaceSpaceLoadStyleGAN.INPUT_TYPES()["required"]["model"][0]
    assert choices == ["sg1.pkl", "sg2.safetensors", "sub/sg2.pkl"]
    assert FaceSpaceLoadStyleGAN.RETURN_TYPES == ("STYLEGAN",) and FaceSpaceSampleStyleGAN.RETURN_TYPES == ("IMAGE",)


def test_load_settings_and_cache(models_dir, monkeypatch):
    (sg,) = call(FaceSpaceLoadStyleGAN, model="sg1.pkl", truncation_psi=0.5, truncation_cutoff=4,
                 noise_mode="none", precision="fp16")
    assert isinstance(sg, StyleGAN) and sg.psi == 0.5 and sg.cutoff == 4 and sg.noise_mode == "none"
    assert sg.dtype == torch.float16 and sg.name == "sg1.pkl"
    assert sg.generator.fingerprint() == models_dir["sg1.pkl"].fingerprint()
    loads = []
    real = load_mod._LOADED.read
    monkeypatch.setattr(load_mod._LOADED, "read", lambda p: loads.append(p) or real(p))
    (again,) = call(FaceSpaceLoadStyleGAN, model="sg1.pkl", truncation_psi=0.7, truncation_cutoff=0,
                    noise_mode="const", precision="fp32")
    assert again.generator is sg.generator and loads == [] and again.cutoff is None
    path = nodes.comfy.model_path("stylegan", "sg1.pkl")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    (fresh,) = call(FaceSpaceLoadStyleGAN, model="sg1.pkl", truncation_psi=0.7, truncation_cutoff=0,
                    noise_mode="const", precision="fp32")
    assert len(loads) == 1 and fresh.generator is not sg.generator


@pytest.mark.parametrize("model", ["sg1.pkl", "sub/sg2.pkl", "sg2.safetensors"])
def test_sample_returns_comfy_images(models_dir, model):
    (sg,) = call(FaceSpaceLoadStyleGAN, model=model, truncation_psi=0.7, truncation_cutoff=0,
                 noise_mode="const", precision="fp32")
    (images,) = call(FaceSpaceSampleStyleGAN, stylegan=sg, seed=10, batch_size=3)
    assert images.shape == (3, 16, 16, 3) and images.dtype == torch.float32 and images.device.type == "cpu"
    assert images.min() >= 0 and images.max() <= 1 and images.std() > 0.01
    (single,) = call(FaceSpaceSampleStyleGAN, stylegan=sg, seed=11, batch_size=1)
    torch.testing.assert_close(single[0], images[1], atol=1e-5, rtol=1e-5)
    G = models_dir[model]
    from facespace.stylegan import z_from_seeds

    expected = ((G.synthesis(G.mapping(z_from_seeds([10], G.z_dim), psi=0.7)) + 1) / 2).clamp(0, 1)
    torch.testing.assert_close(images[0], expected[0].permute(1, 2, 0), atol=1e-5, rtol=1e-5)


def test_unsafe_or_missing_model_errors(models_dir, tmp_path):
    from facespace.errors import UnsafeFileError
    from stylegan_fixtures import write_malicious_pickle

    write_malicious_pickle(tmp_path / "stylegan" / "evil.pkl", os.system, ("echo hi",))
    with pytest.raises(UnsafeFileError, match="evil.pkl"):
        call(FaceSpaceLoadStyleGAN, model="evil.pkl", truncation_psi=0.7, truncation_cutoff=0,
             noise_mode="const", precision="fp32")
    with pytest.raises(FileNotFoundError, match="gone.pkl"):
        call(FaceSpaceLoadStyleGAN, model="gone.pkl", truncation_psi=0.7, truncation_cutoff=0,
             noise_mode="const", precision="fp32")
