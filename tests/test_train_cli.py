"""`python -m facespace train` on a tiny generator file and a folder of faces it made."""
import pytest
import torch
from PIL import Image

from facespace.cli import main
from facespace.imageops import native_to_pil
from facespace.stylegan import StyleGAN, load_generator, save_generator, tiny_generator
from facespace.train import load_facespace, read_facespace_info


@pytest.fixture
def setup(tmp_path):
    G = tiny_generator(resolution=16, seed=7)
    model = tmp_path / "tiny.safetensors"
    save_generator(G, model)
    faces = tmp_path / "faces"
    faces.mkdir()
    ws = G.mapping(torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(1)), psi=0.7)
    with torch.no_grad():
        for name, pic in zip(["cy", "ann", "bo"], native_to_pil(G.synthesis(ws))):
            pic.save(faces / f"{name}.png")
    (faces / "notes.txt").write_text("not an image")
    return G, model, faces, tmp_path / "out.safetensors"


def test_train_command_writes_a_facespace_and_prints_psnr(setup, capsys):
    G, model, faces, out = setup
    code = main(["--device", "cpu", "train", "--model", str(model), "--faces", str(faces), "--out", str(out),
                 "--encoder", "mlp", "--steps", "6", "--seed", "2"])
    assert code == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1].startswith("PSNR at 16 px: ann ") and " bo " in printed[-1] and " cy " in printed[-1]
    info = read_facespace_info(out)
    assert info["names"] == ["ann", "bo", "cy"] and info["encoder_kind"] == "mlp"
    assert info["settings"]["steps"] == 6 and info["settings"]["seed"] == 2
    assert load_facespace(out, StyleGAN(load_generator(model))).generator_fingerprint == G.fingerprint()


def test_train_command_refuses_to_overwrite_and_reports_bad_input(setup, capsys):
    G, model, faces, out = setup
    out.write_bytes(b"keep me")
    assert main(["train", "--model", str(model), "--faces", str(faces), "--out", str(out), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err and out.read_bytes() == b"keep me"
    other = faces.parent / "other.safetensors"
    empty = faces.parent / "empty"
    empty.mkdir()
    assert main(["train", "--model", str(model), "--faces", str(empty), "--out", str(other)]) == 2
    err = capsys.readouterr().err
    assert "--faces" in err and "holds no photos" in err
    assert main(["train", "--model", str(model), "--faces", str(faces), "--out", str(other), "--steps", "0"]) == 2
    assert "training setting steps must be a whole number >= 1, got 0" in capsys.readouterr().err
    Image.new("RGB", (20, 16)).save(faces / "wide.png")
    assert main(["train", "--model", str(model), "--faces", str(faces), "--out", str(other), "--steps", "1"]) == 2
    assert "wide.png is 20x16 pixels; aligned faces are square" in capsys.readouterr().err
    assert not other.exists()


def test_train_command_checks_out_resolution_and_face_count(setup, capsys):
    G, model, faces, out = setup
    base = ["--device", "cpu", "train", "--model", str(model), "--faces", str(faces), "--steps", "1"]
    assert main([*base, "--out", str(out.with_suffix(".pt"))]) == 2
    assert "must end in .safetensors" in capsys.readouterr().err
    for bad in ("12", "32", "0"):
        assert main([*base, "--out", str(out), "--resolution", bad]) == 2
        err = capsys.readouterr().err
        assert f"--resolution {bad} is not a resolution of the generator" in err and "4, 8, 16" in err, err
    assert main([*base, "--out", str(out), "--resolution", "8"]) == 0
    info = read_facespace_info(out)
    assert (info["working_resolution"], info["psnr_resolution"]) == (8, 16)  # trained at 8, measured at 16
    capsys.readouterr()
    lonely = faces.parent / "lonely"
    lonely.mkdir()
    next(faces.glob("ann.png")).rename(lonely / "ann.png")
    assert main([*base[:-4], "--faces", str(lonely), "--out", str(out.with_name("one.safetensors"))]) == 2
    assert "a FaceSpace needs at least two faces" in capsys.readouterr().err
