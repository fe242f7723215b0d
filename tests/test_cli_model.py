"""`python -m facespace info | convert | sample` on tiny generator files."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from facespace.cli import main
from facespace.stylegan import load_generator, save_generator, tiny_generator, z_from_seeds
from stylegan_fixtures import write_malicious_pickle, write_tf_pickle


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    G1 = tiny_generator("stylegan1", resolution=16, seed=31)
    G2 = tiny_generator("stylegan2", resolution=16, seed=32, z_dim=24)  # z_dim != w_dim
    return {"sg1": (G1, write_tf_pickle(G1, d / "karras2019stylegan-tiny.pkl")),
            "sg2": (G2, save_generator(G2, d / "sg2.safetensors"))}


def run(argv, capsys):
    rc = main(["--device", "cpu", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_info_prints_one_json_object(files, capsys):
    G, path = files["sg1"]
    rc, out, _ = run(["info", path], capsys)
    info = json.loads(out)
    assert rc == 0
    assert info["family"] == "stylegan1" and info["format"] == "nvidia-tf-stylegan1"
    assert (info["resolution"], info["num_ws"], info["w_dim"], info["z_dim"]) == (16, 6, 32, 32)
    assert info["parameters"] == sum(p.numel() for p in G.parameters())
    assert info["fingerprint"] == G.fingerprint()
    resolutions = list(info["channels"])
    assert resolutions == sorted(resolutions, key=int) and resolutions[0] == "4", "channels in numeric order"


def test_convert_then_load_and_no_silent_overwrite(files, tmp_path, capsys):
    G, path = files["sg1"]
    out = tmp_path / "converted.safetensors"
    rc, stdout, _ = run(["convert", path, out], capsys)
    assert rc == 0 and out.exists() and "converted.safetensors" in stdout
    assert load_generator(out).fingerprint() == G.fingerprint()
    rc, _, err = run(["convert", path, out], capsys)
    assert rc == 2 and err.strip().count("\n") == 0 and err.startswith("error:") and "already exists" in err
    assert "pass --overwrite" in err, "the shell's flag, not the library's keyword"
    assert run(["convert", path, out, "--overwrite"], capsys)[0] == 0
    rc, _, err = run(["convert", path, tmp_path / "converted.pkl"], capsys)
    assert rc == 2 and ".safetensors" in err


@pytest.mark.parametrize("key", ["sg1", "sg2"])
def test_sample_npy_from_seeds_is_the_raw_output(files, key, tmp_path, capsys):
    G, path = files[key]
    out = tmp_path / "raw.npy"
    rc, _, _ = run(["sample", path, "--out", out, "--seed", 5, "--count", 3, "--psi", 0.5, "--cutoff", 2], capsys)
    assert rc == 0
    arr = np.load(out)
    assert arr.shape == (3, 3, 16, 16) and arr.dtype == np.float32
    expected = G.synthesis(G.mapping(z_from_seeds([5, 6, 7], G.z_dim), psi=0.5, cutoff=2))
    np.testing.assert_allclose(arr, expected.numpy(), atol=1e-5)


def test_sample_latent_files_by_shape(files, tmp_path, capsys):
    G, path = files["sg2"]  # z_dim 24, w_dim 32
    rng = np.random.RandomState(0)
    z = rng.randn(2, 24).astype(np.float32)
    w = rng.randn(2, 32).astype(np.float32)
    wp = rng.randn(2, G.num_ws, 32).astype(np.float32)
    cases = {"z": (z, G.synthesis(G.mapping(torch.from_numpy(z)))),
             "w": (w, G.synthesis(torch.from_numpy(w)[:, None].repeat(1, G.num_ws, 1))),
             "wplus": (wp, G.synthesis(torch.from_numpy(wp)))}
    for name, (lat, expected) in cases.items():
        np.save(tmp_path / f"{name}.npy", lat)
        out = tmp_path / f"out-{name}.npy"
        assert run(["sample", path, "--latent", tmp_path / f"{name}.npy", "--out", out], capsys)[0] == 0
        np.testing.assert_allclose(np.load(out), expected.numpy(), atol=1e-5)
    np.save(tmp_path / "bad.npy", rng.randn(2, 7).astype(np.float32))
    rc, _, err = run(["sample", path, "--latent", tmp_path / "bad.npy", "--out", tmp_path / "x.npy"], capsys)
    assert rc == 2 and "(2, 7)" in err and "W+ [N,6,32]" in err


def test_ambiguous_2d_latent_is_z_unless_told_w(files, tmp_path, capsys):
    G, path = files["sg1"]  # z_dim == w_dim == 32
    lat = np.random.RandomState(1).randn(1, 32).astype(np.float32)
    np.save(tmp_path / "lat.npy", lat)
    run(["sample", path, "--latent", tmp_path / "lat.npy", "--out", tmp_path / "as_z.npy"], capsys)
    run(["sample", path, "--latent", tmp_path / "lat.npy", "--latent-space", "w", "--out", tmp_path / "as_w.npy"],
        capsys)
    t = torch.from_numpy(lat)
    np.testing.assert_allclose(np.load(tmp_path / "as_z.npy"), G.synthesis(G.mapping(t)).numpy(), atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "as_w.npy"),
                               G.synthesis(t[:, None].repeat(1, G.num_ws, 1)).numpy(), atol=1e-5)


def test_sample_png_numbering_and_noise(files, tmp_path, capsys):
    G, path = files["sg2"]
    rc, _, _ = run(["sample", path, "--out", tmp_path / "face.png", "--count", 3, "--noise", "none"], capsys)
    assert rc == 0
    pics = [tmp_path / f"face_{i:03d}.png" for i in range(3)]
    assert all(p.exists() for p in pics) and not (tmp_path / "face.png").exists()
    img = np.asarray(Image.open(pics[1]), dtype=np.float32) / 255
    expected = ((G.synthesis(G.mapping(z_from_seeds([1], G.z_dim)), "none")[0] + 1) / 2).clamp(0, 1)
    np.testing.assert_allclose(img, expected.permute(1, 2, 0).numpy(), atol=1 / 255 + 1e-6)
    rc, _, _ = run(["sample", path, "--out", tmp_path / "one.png"], capsys)
    assert rc == 0 and (tmp_path / "one.png").exists()


def test_errors_are_one_line_and_non_zero(files, tmp_path, capsys):
    evil = write_malicious_pickle(tmp_path / "evil.pkl", os.system, ("echo hi",))
    bad_out = ["sample", files["sg2"][1], "--out", tmp_path / "x.gif"]
    for argv in (["info", evil], ["info", tmp_path / "missing.pkl"], bad_out):
        rc, out, err = run(argv, capsys)
        assert rc == 2 and err.startswith("error:") and err.strip().count("\n") == 0, err
    assert "posix.system" in run(["info", evil], capsys)[2]
    assert "--batch must be at least 1" in run(["sample", files["sg2"][1], "--out", tmp_path / "b.png",
                                                "--batch", 0], capsys)[2]


def test_module_entry_point_exit_status(tmp_path):
    (tmp_path / "empty.pkl").write_bytes(b"")
    proc = subprocess.run([sys.executable, "-m", "facespace", "info", str(tmp_path / "empty.pkl")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "empty.pkl is empty" in proc.stderr
