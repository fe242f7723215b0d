"""`python -m facespace demo`: the whole pipeline end to end, into a temporary folder."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from facespace.cli import main
from facespace.demo import FILES, SELF_CHECK_FACES, load_faces
from facespace.errors import FaceSpaceError
from facespace.stylegan import StyleGAN, load_generator, save_generator, tiny_generator
from facespace.train import load_facespace


@pytest.fixture
def one_thread():
    """The tiny test networks run fastest on one thread (as the self-check does)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_self_check_demo_writes_everything_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "demo"
    threads = torch.get_num_threads()
    assert main(["--device", "cpu", "demo", "--out", str(out), "--steps", "15"]) == 0
    assert torch.get_num_threads() == threads, "the demo command leaves the thread count as it found it"
    printed = capsys.readouterr().out
    assert "SELF-CHECK" in printed and "not real faces" in printed
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES.values())
    for path in FILES.values():
        assert str(out / path) in printed, "stdout says where each file went"
    readme = (out / "README.txt").read_text()
    assert "SELF-CHECK, NOT REAL FACES" in readme and "python -m facespace blend" in readme

    fs = load_facespace(out / "facespace.safetensors", stylegan=StyleGAN(load_generator(out / "generator.safetensors")))
    assert len(fs.names) == SELF_CHECK_FACES and min(fs.psnr().values()) > 10
    with Image.open(out / "morph.gif") as gif:
        assert gif.n_frames == SELF_CHECK_FACES * 8
    with Image.open(out / "blends.png") as sheet:
        a = np.asarray(sheet.convert("RGB")).astype(int)
        assert sheet.width > 5 * 128 and (np.abs(a - (31, 119, 180)).sum(-1) < 10).sum() > 500, "bar charts drawn"

    capsys.readouterr()
    # The FaceSpace records the generator the demo wrote: blend needs no --model.
    assert main(["--device", "cpu", "blend", str(out / "facespace.safetensors"), "--out", str(tmp_path / "b.png")]) == 0
    assert (tmp_path / "b.png").is_file()
    capsys.readouterr()
    assert main(["info", str(out / "facespace.safetensors")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "facespace" and len(info["faces"]) == SELF_CHECK_FACES and info["encoder"] == "linear"
    assert info["generator_fingerprint"] == load_generator(out / "generator.safetensors").fingerprint()
    assert info["generator_file"] == str((out / "generator.safetensors").resolve())
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["--device", "cpu", "demo", "--out", str(out), "--steps", "15"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_demo_on_a_given_generator_and_aligned_faces(tmp_path, capsys, one_thread):
    G = tiny_generator(resolution=32, seed=3)
    save_generator(G, tmp_path / "g.safetensors")
    stylegan = StyleGAN(G)
    faces = tmp_path / "faces"
    faces.mkdir()
    images = stylegan.sample([1, 2, 3])
    for name, pic in zip(["ann", "ben", "cy"], images):
        Image.fromarray((pic.numpy() * 255).round().astype(np.uint8)).save(faces / f"{name}.png")
    out = tmp_path / "out"
    code = main(["--device", "cpu", "demo", "--out", str(out), "--model", str(tmp_path / "g.safetensors"),
                 "--faces", str(faces), "--steps", "10"])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "SELF-CHECK" not in printed
    assert sorted(p.name for p in out.iterdir()) == sorted(v for k, v in FILES.items() if k != "generator")
    fs = load_facespace(out / "facespace.safetensors", stylegan=StyleGAN(G))
    assert fs.names == ["ann", "ben", "cy"]
    assert torch.isfinite(fs.wplus_table).all()


def test_model_and_faces_go_together(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "x"), "--model", "g.pkl"]) == 2
    assert "go together" in capsys.readouterr().err


def test_faces_used_as_given_get_unique_names_and_square_crops(tmp_path):
    faces = tmp_path / "faces"
    faces.mkdir()
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, 10:30] = 255                      # a white square in the middle of a black band
    Image.fromarray(wide).save(faces / "ann.png")
    Image.fromarray(wide).save(faces / "Ann.jpg", quality=95)
    images, names, aligned = load_faces(faces, 16, align="never")
    assert names == ["Ann", "ann_2"] and not aligned
    assert images.shape == (2, 16, 16, 3)
    assert float(images[1].min()) > 0.9, "the centre square is kept, not the band squeezed into it"
    (faces / "broken.png").write_bytes(b"not a picture")
    with pytest.raises(FaceSpaceError, match="broken.png"):
        load_faces(faces, 16, align="auto")


def test_demo_aligns_real_photos_before_training(tmp_path, capsys, one_thread, data_dir):
    pytest.importorskip("dlib")
    save_generator(tiny_generator(resolution=32, seed=3), tmp_path / "g.safetensors")
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut.png", "grace_hopper.jpg"):  # different sizes: the demo must align them first
        (photos / name).write_bytes((data_dir / name).read_bytes())
    out = tmp_path / "out"
    code = main(["--device", "cpu", "demo", "--out", str(out), "--model", str(tmp_path / "g.safetensors"),
                 "--faces", str(photos), "--steps", "5"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert f"2 faces from {photos} (aligned)" in printed.out
    fs = load_facespace(out / "facespace.safetensors", stylegan=StyleGAN(load_generator(tmp_path / "g.safetensors")))
    assert fs.names == ["astronaut", "grace_hopper"]
