"""`python -m facespace project` on a tiny generator file and images it made: codes `sample --latent` renders."""
import numpy as np
import pytest
import torch
from PIL import Image

from facespace.cli import main
from facespace.imageops import native_to_pil
from facespace.stylegan import save_generator, tiny_generator


@pytest.fixture
def setup(tmp_path):
    G = tiny_generator(resolution=16, seed=7)
    model = tmp_path / "tiny.safetensors"
    save_generator(G, model)
    ws = G.mapping(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(1)), psi=0.7)
    with torch.no_grad():
        pics = native_to_pil(G.synthesis(ws))
    files = [tmp_path / "ann.png", tmp_path / "bo.png"]
    pics[0].save(files[0])
    pics[1].resize((48, 48), Image.LANCZOS).save(files[1])  # square, not the generator's size: resized
    return G, model, files, tmp_path


def test_project_writes_wplus_that_sample_renders_and_prints_psnr(setup, capsys):
    G, model, files, tmp = setup
    out = tmp / "codes.npy"
    code = main(["--device", "cpu", "project", str(model), *map(str, files), "--out", str(out), "--steps", "60",
                 "--target-psnr", "30"])
    assert code == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0].startswith("ann.png") and printed[1].startswith("bo.png") and "dB" in printed[0]
    psnr = [float(line.split()[1]) for line in printed[:2]]
    assert min(psnr) > 25
    assert printed[-1].startswith(f"wrote {out} (2 x {G.num_ws} x {G.w_dim} W+); PSNR at 16 px: worst")
    codes = np.load(out)
    assert codes.shape == (2, G.num_ws, G.w_dim) and codes.dtype == np.float32
    with torch.no_grad():
        img = ((G.synthesis(torch.from_numpy(codes)) + 1) / 2).clamp(0, 1)
    target = torch.from_numpy(np.asarray(Image.open(files[0]), dtype=np.float32) / 255).permute(2, 0, 1)
    measured = -10 * torch.log10((img[0] - target).square().mean())
    assert float(measured) == pytest.approx(psnr[0], abs=0.1)
    assert main(["--device", "cpu", "sample", str(model), "--latent", str(out), "--out", str(tmp / "r.png")]) == 0
    assert (tmp / "r_000.png").is_file() and (tmp / "r_001.png").is_file()


def test_project_refuses_non_square_images_and_existing_output(setup, capsys):
    G, model, files, tmp = setup
    Image.new("RGB", (20, 16)).save(tmp / "wide.png")
    assert main(["project", str(model), str(tmp / "wide.png"), "--out", str(tmp / "x.npy")]) == 2
    assert "wide.png is 20x16 pixels; projection needs square images" in capsys.readouterr().err
    (tmp / "x.npy").write_bytes(b"keep")
    assert main(["project", str(model), str(files[0]), "--out", str(tmp / "x.npy")]) == 2
    assert "already exists" in capsys.readouterr().err and (tmp / "x.npy").read_bytes() == b"keep"
    assert main(["project", str(model), str(files[0]), "--out", str(tmp / "x.txt")]) == 2
    assert "must end in .npy" in capsys.readouterr().err
    assert not (tmp / "x.txt").exists()
