"""`python -m facespace blend` and `morph` on saved files."""
import numpy as np
import pytest
import torch
from PIL import Image

import facespace.morph as morph_module
from facespace.blend import parse_weights
from facespace.cli import main
from facespace.stylegan import save_generator, tiny_generator
from facespace.train import save_facespace
from test_blend import make_rendering_facespace


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    fs = make_rendering_facespace("linear", n=4)
    save_generator(fs.stylegan.generator, d / "g.safetensors")
    save_facespace(fs, d / "fs.safetensors")
    return d, fs


def run(argv, capsys):
    code = main(["--device", "cpu"] + [str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_blend_writes_the_face_and_its_chart(files, tmp_path, capsys):
    d, fs = files
    code, out, err = run(["blend", d / "fs.safetensors", "--model", d / "g.safetensors", "--weights",
                          "anna=0.6, bea=0.4", "--out", tmp_path / "b.png", "--chart", tmp_path / "c.png"], capsys)
    assert code == 0, err
    assert "blend 1: anna=0.6, bea=0.4, carla=0, dora=0" in out
    face = torch.from_numpy(np.array(Image.open(tmp_path / "b.png"))).float() / 255
    expected = fs.stylegan.render(fs.encode(torch.tensor([[0.6, 0.4, 0, 0]])))[0]
    assert (face - expected).abs().max() <= 1 / 255 + 1e-6
    with Image.open(tmp_path / "c.png") as chart:
        assert chart.width >= 256 and chart.height > chart.width
    before = (tmp_path / "b.png").read_bytes()
    code, _, err = run(["blend", d / "fs.safetensors", "--model", d / "g.safetensors", "--out", tmp_path / "b.png"],
                       capsys)
    assert code == 2 and "already exists" in err
    code, _, err = run(["blend", d / "fs.safetensors", "--model", d / "g.safetensors", "--out", tmp_path / "b.png",
                        "--chart", tmp_path / "b.png", "--overwrite"], capsys)
    assert code == 2 and "--chart" in err and (tmp_path / "b.png").read_bytes() == before


def test_random_blends_into_a_folder_with_groups(files, tmp_path, capsys):
    d, fs = files
    code, out, err = run(["blend", d / "fs.safetensors", "--model", d / "g.safetensors", "--random", 3, "--seed", 5,
                          "--fine", "random", "--raw", "--out", tmp_path / "blends"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "blends").iterdir()) == ["blend_001.png", "blend_002.png",
                                                                       "blend_003.png"]
    rows = [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("blend ")]
    assert len(rows) == 3 and "fine layers" in out
    assert sum(parse_weights(rows[0], fs.names)) != pytest.approx(1), "--raw keeps |N(0,1)| weights as drawn"


def test_blend_errors_are_one_line(files, tmp_path, capsys):
    d, _ = files
    code, _, err = run(["blend", d / "fs.safetensors", "--model", d / "g.safetensors", "--weights", "zoe=1",
                        "--out", tmp_path / "x.png"], capsys)
    assert code == 2 and err.startswith("error: unknown face 'zoe'") and "anna, bea, carla, dora" in err
    other = tmp_path / "other.safetensors"
    save_generator(tiny_generator(resolution=32, seed=99), other)
    code, _, err = run(["blend", d / "fs.safetensors", "--model", other, "--out", tmp_path / "x.png"], capsys)
    assert code == 2 and "error:" in err and not (tmp_path / "x.png").exists()


def test_morph_writes_gif_and_frames(files, tmp_path, capsys):
    d, fs = files
    code, out, err = run(["morph", d / "fs.safetensors", "--model", d / "g.safetensors", "--out", tmp_path / "m.gif",
                          "--frames", 3, "--hold", 1, "--order", "dora,anna", "--loop", "--easing", "cosine"], capsys)
    assert code == 0, err
    with Image.open(tmp_path / "m.gif") as gif:
        # GIF merges the repeated hold frames into longer ones: count time, not pictures.
        total = 0
        for i in range(gif.n_frames):
            gif.seek(i)
            total += gif.info["duration"]
        assert total == 2 * (3 + 1) * 40
    code, out, err = run(["morph", d / "fs.safetensors", "--model", d / "g.safetensors", "--out", tmp_path / "f",
                          "--frames", 2, "--space", "code"], capsys)
    assert code == 0, err
    assert len(list((tmp_path / "f").glob("frame_*.png"))) == 3 * 2 + 1


def test_morph_to_mp4_without_encoder_says_what_to_do(files, tmp_path, capsys, monkeypatch):
    d, _ = files
    monkeypatch.setattr(morph_module, "find_ffmpeg", lambda: None)
    code, _, err = run(["morph", d / "fs.safetensors", "--model", d / "g.safetensors", "--out", tmp_path / "m.mp4"],
                       capsys)
    assert code == 2 and ".gif" in err and "ffmpeg" in err and not (tmp_path / "m.mp4").exists()


def test_blend_finds_the_generator_the_facespace_was_trained_from(tmp_path, capsys):
    from facespace.stylegan import StyleGAN, load_generator
    from facespace.train import TrainSettings, train_facespace

    save_generator(tiny_generator(resolution=16, seed=3), tmp_path / "g.safetensors")
    stylegan = StyleGAN(load_generator(tmp_path / "g.safetensors"))
    faces = stylegan.render(stylegan.mapping(torch.randn(2, stylegan.generator.z_dim)))
    fs = train_facespace(stylegan, faces, ["anna", "bea"], TrainSettings(steps=3, init_candidates=0))
    save_facespace(fs, tmp_path / "fs.safetensors")

    code, out, err = run(["blend", tmp_path / "fs.safetensors", "--weights", "anna=1", "--out", tmp_path / "b.png"],
                         capsys)
    assert code == 0, err
    face = torch.from_numpy(np.array(Image.open(tmp_path / "b.png"))).float() / 255
    assert (face - stylegan.render(fs.encode(torch.tensor([[1.0, 0.0]])))[0]).abs().max() <= 1 / 255 + 1e-6

    (tmp_path / "g.safetensors").rename(tmp_path / "moved.safetensors")
    code, _, err = run(["morph", tmp_path / "fs.safetensors", "--out", tmp_path / "m.gif"], capsys)
    assert code == 2 and "g.safetensors, which is not there now" in err and "--model" in err
