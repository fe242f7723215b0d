"""`python -m facespace random / render / mix / directions / edit`, `blend --latent-out` and latent morphs."""
import numpy as np
import pytest
import torch
from PIL import Image

from facespace.cli import main
from facespace.latent import load_latent, random_latent, save_latent, sefa_directions
from facespace.stylegan import StyleGAN, load_generator, save_generator
from facespace.train import save_facespace
from test_blend import make_rendering_facespace


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("latent_cli")
    fs = make_rendering_facespace("linear", n=4)
    save_generator(fs.stylegan.generator, d / "g.safetensors")
    save_facespace(fs, d / "fs.safetensors")
    stylegan = StyleGAN(load_generator(d / "g.safetensors"), psi=0.7)
    return d, fs, stylegan


def run(argv, capsys):
    code = main(["--device", "cpu"] + [str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_random_then_render_png_and_raw_npy(files, tmp_path, capsys):
    d, _fs, stylegan = files
    code, out, err = run(["random", d / "g.safetensors", "--seed", 3, "--count", 2, "--out", tmp_path / "r.safetensors"],
                         capsys)
    assert code == 0, err
    assert "2 W+ codes (seed 3, seed 4)" in out
    code, _, err = run(["render", tmp_path / "r.safetensors", "--out", tmp_path / "r.npy"], capsys)  # model recorded
    assert code == 0, err
    raw = np.load(tmp_path / "r.npy")
    expected = stylegan.generator.synthesis(stylegan.mapping(torch.tensor(np.stack([
        np.random.RandomState(s).randn(stylegan.generator.z_dim) for s in (3, 4)]), dtype=torch.float32)))
    assert raw.shape == (2, 3, 32, 32) and raw.dtype == np.float32
    assert np.allclose(raw, expected.numpy(), atol=1e-5)
    code, _, err = run(["render", tmp_path / "r.safetensors", "--model", d / "g.safetensors", "--out",
                        tmp_path / "r.png"], capsys)
    assert code == 0, err
    with Image.open(tmp_path / "r.png") as im:
        assert im.width >= 64 and 32 <= im.height < im.width  # two codes side by side
    code, _, err = run(["render", tmp_path / "r.safetensors", "--out", tmp_path / "r.png"], capsys)
    assert code == 2 and "already exists" in err
    code, _, err = run(["sample", d / "g.safetensors", "--latent", tmp_path / "r.safetensors", "--out",
                        tmp_path / "s.npy"], capsys)
    assert code == 0 and np.array_equal(np.load(tmp_path / "s.npy"), raw), err


def test_mix_edit_and_directions_read_each_others_files(files, tmp_path, capsys):
    d, _fs, stylegan = files
    face, style = random_latent(stylegan, 0, 2), random_latent(stylegan, 7, 1)
    save_latent(face, tmp_path / "face.safetensors")
    np.save(tmp_path / "style.npy", style.wplus.numpy())  # a projector's .npy output
    code, out, err = run(["mix", tmp_path / "face.safetensors", tmp_path / "style.npy", "--model", d / "g.safetensors",
                          "--layers", "4-7:0,1", "--layers", "0-1:3,1", "--out", tmp_path / "mix.safetensors"], capsys)
    assert code == 0, err
    mixed = load_latent(tmp_path / "mix.safetensors")
    assert torch.equal(mixed.wplus[:, 4:], style.wplus[:, 4:].expand(2, -1, -1))
    assert torch.equal(mixed.wplus[:, 2:4], face.wplus[:, 2:4])  # no --layers: the first latent
    assert torch.allclose(mixed.wplus[:, :2], 0.75 * face.wplus[:, :2] + 0.25 * style.wplus[:, :2], atol=1e-6)

    code, out, err = run(["directions", d / "g.safetensors", "--method", "sefa", "--count", 4, "--out",
                          tmp_path / "dirs.npy"], capsys)
    assert code == 0, err
    rows = np.load(tmp_path / "dirs.npy")
    assert rows.shape == (4, 32) and np.allclose(np.linalg.norm(rows, axis=1), 1, atol=1e-5)
    assert np.allclose(np.abs(rows @ sefa_directions(stylegan.generator, 4)[0].numpy().T), np.eye(4), atol=1e-5)
    code, _, err = run(["directions", d / "g.safetensors", "--method", "ganspace", "--count", 3, "--out",
                        tmp_path / "gs.npy"], capsys)
    assert code == 0 and np.load(tmp_path / "gs.npy").shape == (3, 32), err
    code, _, err = run(["directions", d / "g.safetensors", "--method", "sefa", "--count", 2, "--layers", "coarse",
                        "--out", tmp_path / "coarse.npy"], capsys)
    assert code == 0, err
    coarse = sefa_directions(stylegan.generator, 2, range(0, 2))[0].numpy()
    assert np.allclose(np.load(tmp_path / "coarse.npy"), coarse, atol=1e-6)
    code, _, err = run(["directions", d / "g.safetensors", "--method", "ganspace", "--layers", "0-1", "--out",
                        tmp_path / "g2.npy"], capsys)
    assert code == 2 and "GANSpace works on W" in err

    code, out, err = run(["edit", tmp_path / "mix.safetensors", "--directions", tmp_path / "dirs.npy", "--component",
                          2, "--strength", -1.5, "--layers", "3-5", "--out", tmp_path / "edit.safetensors"], capsys)
    assert code == 0, err
    edited = load_latent(tmp_path / "edit.safetensors")
    delta = (edited.wplus - mixed.wplus).numpy()
    assert np.allclose(delta[:, 3:6], -1.5 * rows[2], atol=1e-5) and not delta[:, :3].any() and not delta[:, 6:].any()
    code, _, err = run(["edit", tmp_path / "mix.safetensors", "--directions", tmp_path / "dirs.npy", "--component", 9,
                        "--strength", 1, "--out", tmp_path / "e2.safetensors"], capsys)
    assert code == 2 and "component 9 is outside 0..3" in err
    code, _, err = run(["edit", tmp_path / "mix.safetensors", "--directions", tmp_path / "dirs.npy", "--strength", 2,
                        "--sweep", 3, "--out", tmp_path / "strip.safetensors"], capsys)
    assert code == 0 and len(load_latent(tmp_path / "strip.safetensors")) == 6, err


def test_blend_latent_out_is_a_latent_for_every_command(files, tmp_path, capsys):
    d, fs, stylegan = files
    code, out, err = run(["blend", d / "fs.safetensors", "--model", d / "g.safetensors", "--weights", "anna=1",
                          "--out", tmp_path / "b.png", "--latent-out", tmp_path / "b.safetensors"], capsys)
    assert code == 0, err
    lat = load_latent(tmp_path / "b.safetensors")
    assert torch.equal(lat.wplus, fs.encode(torch.tensor([[1.0, 0, 0, 0]])))
    assert lat.weights[0]["names"] == fs.names and lat.weights[0]["weights"] == [1.0, 0.0, 0.0, 0.0]
    other = random_latent(stylegan, 20, 1)
    save_latent(other, tmp_path / "o.safetensors")
    code, _, err = run(["mix", tmp_path / "b.safetensors", tmp_path / "o.safetensors", "--layers", "fine:0,1",
                        "--out", tmp_path / "styled.safetensors"], capsys)
    assert code == 0, err
    code, out, err = run(["morph", tmp_path / "styled.safetensors", "--model", d / "g.safetensors", "--frames", 3,
                          "--out", tmp_path / "frames"], capsys)
    assert code == 2 and "at least two" in err
    code, out, err = run(["join", tmp_path / "b.safetensors", tmp_path / "styled.safetensors", "--out",
                          tmp_path / "keys.safetensors"], capsys)
    assert code == 0 and "2 W+ codes (blend, blend+seed 20)" in out, err
    code, out, err = run(["morph", tmp_path / "keys.safetensors", "--model", d / "g.safetensors", "--frames", 3,
                          "--out", tmp_path / "frames"], capsys)
    assert code == 0, err
    pngs = sorted((tmp_path / "frames").glob("*.png"))
    assert len(pngs) == 4 and "through blend, blend+seed 20" in out
    first = torch.from_numpy(np.array(Image.open(pngs[0]))).float() / 255
    assert (first - lat.render(stylegan)[0]).abs().max() <= 1 / 255 + 1e-6


def test_other_generators_and_bad_files_are_refused(files, tmp_path, capsys):
    d, _fs, stylegan = files
    from facespace.stylegan import tiny_generator

    save_generator(tiny_generator(resolution=32, seed=8), tmp_path / "other.safetensors")
    save_latent(random_latent(stylegan, 0, 1), tmp_path / "a.safetensors")
    code, _, err = run(["render", tmp_path / "a.safetensors", "--model", tmp_path / "other.safetensors", "--out",
                        tmp_path / "a.png"], capsys)
    assert code == 2 and "made for generator" in err and not (tmp_path / "a.png").exists()
    code, _, err = run(["render", tmp_path / "a.safetensors", "--model", tmp_path / "other.safetensors", "--out",
                        tmp_path / "a.png", "--allow-mismatch"], capsys)
    assert code == 0, err
    np.save(tmp_path / "w.npy", np.zeros((2, 8, 32), np.float32))
    code, _, err = run(["render", tmp_path / "w.npy", "--out", tmp_path / "w.png"], capsys)
    assert code == 2 and "--model" in err
    code, _, err = run(["mix", tmp_path / "a.safetensors", "--out", tmp_path / "m.safetensors"], capsys)
    assert code == 2 and "at least two" in err
    code, _, err = run(["mix", tmp_path / "a.safetensors", tmp_path / "a.safetensors", "--layers", "0-3",
                        "--out", tmp_path / "m.safetensors"], capsys)
    assert code == 2 and "no ':'" in err
    code, _, err = run(["random", d / "g.safetensors", "--out", tmp_path / "r.npy"], capsys)
    assert code == 2 and ".safetensors" in err


def test_project_writes_a_latent_file_when_the_name_says_so(files, tmp_path, capsys):
    d, _fs, stylegan = files
    from facespace.imageops import image_to_pil

    pictures = random_latent(stylegan, 40, 2).render(stylegan)
    paths = [tmp_path / "ann.png", tmp_path / "ann two.png"]
    for pic, path in zip(image_to_pil(pictures), paths):
        pic.save(path)
    settings = ["--steps", 20, "--target-psnr", 0]
    code, out, err = run(["project", d / "g.safetensors", *paths, "--out", tmp_path / "p.safetensors", *settings], capsys)
    assert code == 0, err
    latent = load_latent(tmp_path / "p.safetensors")
    assert latent.labels == ("ann", "ann two") and latent.generator_fingerprint == stylegan.generator.fingerprint()
    code, _, err = run(["project", d / "g.safetensors", *paths, "--out", tmp_path / "p.npy", *settings], capsys)
    assert code == 0, err
    assert np.array_equal(np.load(tmp_path / "p.npy"), latent.wplus.numpy())  # the same codes either way
    code, _, err = run(["render", tmp_path / "p.safetensors", "--out", tmp_path / "p.png"], capsys)
    assert code == 0, err
