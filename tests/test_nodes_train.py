"""TrainFaceSpaceEncoder, Save FaceSpace and Load FaceSpace as ComfyUI calls them (no ComfyUI needed)."""
import pytest
import torch

import nodes.comfy
import nodes.train_encoder as train_node
from facespace.errors import FaceSpaceError, FingerprintMismatchError, SettingsError
from facespace.imageops import native_to_image
from facespace.stylegan import StyleGAN, tiny_generator
from facespace.train import read_facespace_info
from node_util import defaults
from nodes.facespace_files import FaceSpaceLoad, FaceSpaceSave, facespace_file_path
from nodes.train_encoder import FaceSpaceTrainEncoder


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESPACE_MODELS", str(tmp_path))
    monkeypatch.setattr(nodes.comfy, "_runtime", None)
    monkeypatch.setattr(train_node, "_CACHE", type(train_node._CACHE)())
    return tmp_path


@pytest.fixture(scope="module")
def stylegan():
    return StyleGAN(tiny_generator(resolution=16, seed=5), psi=0.7, name="tiny")


@pytest.fixture(scope="module")
def images(stylegan):
    G = stylegan.generator
    ws = G.mapping(torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(0)), psi=0.7)
    with torch.no_grad():
        return native_to_image(G.synthesis(ws))


def train(stylegan, images, **overrides):
    overrides.setdefault("steps", 4)
    inputs = defaults(FaceSpaceTrainEncoder, stylegan=stylegan, images=images, **overrides)
    with torch.inference_mode():  # as ComfyUI runs every node
        return FaceSpaceTrainEncoder().train(**inputs)


def test_train_node_returns_facespace_with_names_for_the_browser(models_dir, stylegan, images):
    out = train(stylegan, images, face_names="ann\nbo, cy", encoder="mlp", learning_rate=0.02, seed=3)
    (fs,) = out["result"]
    assert out["ui"]["facespace_names"] == ["ann", "bo", "cy"]
    # the reached PSNR at the generator's resolution, faces below the target named
    (text,) = out["ui"]["text"]
    assert text.startswith(f"PSNR at {stylegan.generator.resolution} px: ann ") and "target" in text
    assert all(f"{name} {fs.metadata['psnr'][name]:.1f} dB" in text for name in fs.names)
    assert fs.encoder_kind == "mlp" and fs.stylegan is stylegan
    settings = fs.metadata["settings"]
    assert (settings["steps"], settings["lr"], settings["seed"], settings["schedule"]) == (4, 0.02, 3, "fast")
    assert settings["resolution"] == 256 and settings["pixel_weight"] == 1.0  # schedule defaults kept
    assert settings["target_psnr"] == 45.0 and settings["seconds"] == 0.0
    budget = train(stylegan, images, target_psnr=0.0, seconds=30.0)["result"][0].metadata["settings"]
    assert (budget["target_psnr"], budget["seconds"]) == (0.0, 30.0)
    assert fs.encode(torch.eye(3)).shape == (3, stylegan.generator.num_ws, stylegan.generator.w_dim)


def test_original_schedule_from_the_node_keeps_its_own_defaults(models_dir, stylegan, images):
    (fs,) = train(stylegan, images, schedule="original", steps=1, cycles=1, perceptual_weight=0.0)["result"]
    s = fs.metadata["settings"]
    assert (s["lr"], s["batch_size"], s["pixel_weight"], s["encoder"]) == (0.01, 2, 100.0, "linear")


def test_identical_rerun_is_served_from_the_cache(models_dir, stylegan, images, monkeypatch):
    calls = []
    real = train_node.train_facespace

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(train_node, "train_facespace", counting)
    a = train(stylegan, images)["result"][0]
    b = train(stylegan, images.clone())["result"][0]
    assert len(calls) == 1 and torch.equal(a.wplus_table, b.wplus_table)
    train(stylegan, images, seed=1)
    assert len(calls) == 2
    other = StyleGAN(stylegan.generator, psi=0.5)  # same generator, other render settings: still cached
    assert train(stylegan=other, images=images)["result"][0].stylegan is other and len(calls) == 2
    no_noise = StyleGAN(stylegan.generator, noise_mode="none")  # trains without noise: another result
    train(stylegan=no_noise, images=images)
    assert len(calls) == 3
    assert all(entry["facespace"].stylegan is None for entry in train_node._CACHE.values()), \
        "the cache must not keep generators alive"


def test_train_node_names_follow_the_shared_rules(models_dir, stylegan, images):
    out = train(stylegan, images, face_names="Anna; anna\nbo/b")
    assert out["ui"]["facespace_names"] == ["Anna", "anna_2", "bo_b"]
    with pytest.raises(FaceSpaceError, match="face_names: 2 name"):
        train(stylegan, images, face_names="ann, bo")
    with pytest.raises(SettingsError, match="pixel_weight.*must not all be 0"):
        train(stylegan, images, pixel_weight=0.0)


def test_train_node_saves_once_and_never_overwrites(models_dir, stylegan, images):
    train(stylegan, images, save_name="trio")
    path = models_dir / "facespace" / "trio.safetensors"
    assert read_facespace_info(path)["names"] == ["face_01", "face_02", "face_03"]
    train(stylegan, images, save_name="trio")  # the same training again: the file it wrote is kept
    with pytest.raises(FaceSpaceError, match="already exists"):
        train(stylegan, images, save_name="trio", seed=2)
    train(stylegan, images, save_name="trio", seed=2, overwrite=True)
    assert read_facespace_info(path)["settings"]["seed"] == 2


def test_save_and_load_nodes(models_dir, stylegan, images):
    (fs,) = train(stylegan, images, face_names="ann, bo, cy")["result"]
    out = FaceSpaceSave().save(facespace=fs, name="people", overwrite=False)
    assert out["ui"]["facespace_names"] == ["ann", "bo", "cy"]
    with pytest.raises(FaceSpaceError, match="already exists"):
        FaceSpaceSave().save(facespace=fs, name="people.safetensors", overwrite=False)
    spec = FaceSpaceLoad.INPUT_TYPES()["required"]
    assert "people.safetensors" in spec["file"][0]
    loaded = FaceSpaceLoad().load(stylegan=stylegan, file="people.safetensors")
    (back,) = loaded["result"]
    assert loaded["ui"] == {"facespace_names": ["ann", "bo", "cy"]} and back.stylegan is stylegan
    assert torch.equal(back.encode(torch.eye(3)), fs.encode(torch.eye(3)))
    other = StyleGAN(tiny_generator(resolution=16, seed=6))
    with pytest.raises(FingerprintMismatchError):
        FaceSpaceLoad().load(stylegan=other, file="people.safetensors")
    assert FaceSpaceLoad().load(stylegan=other, file="people.safetensors", allow_mismatch=True)["result"][0]


def test_file_names_stay_inside_the_facespace_folder(tmp_path):
    assert facespace_file_path(tmp_path, "a/b") == tmp_path / "a" / "b.safetensors"
    for bad in ("", "../x", "/etc/x", "a/../../x"):
        with pytest.raises(FaceSpaceError):
            facespace_file_path(tmp_path, bad)
