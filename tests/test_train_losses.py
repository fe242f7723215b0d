"""Losses: PSNR, MS-SSIM, the VGG16 perceptual loss from a local torchvision-layout file."""
import pytest
import torch

from facespace.errors import ModelFormatError
from facespace.train.losses import (ImageLoss, VGG16Features, find_vgg16, load_vgg16, ms_ssim, psnr)


def test_psnr_matches_its_definition():
    x = torch.full((2, 3, 8, 8), 0.5)
    y = x.clone()
    y[0] += 0.1
    y[1] += 0.01
    assert psnr(x, y).tolist() == pytest.approx([20.0, 40.0], abs=1e-3)


@pytest.mark.parametrize("size", [16, 64])
def test_ms_ssim_is_one_for_equal_images_and_drops_with_noise(size):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, size, size, generator=g)
    assert torch.allclose(ms_ssim(x, x), torch.ones(2), atol=1e-5)
    slight = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    heavy = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    s1, s2 = ms_ssim(x, slight), ms_ssim(x, heavy)
    assert (s1 < 1).all() and (s2 < s1).all()


def test_ms_ssim_gives_gradients():
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    (1 - ms_ssim(x, torch.rand(1, 3, 32, 32))).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def _vgg_file(tmp_path, name="vgg16-397923af.pth"):
    torch.manual_seed(0)
    net = VGG16Features()
    state = {k: v for k, v in net.state_dict().items() if k.startswith("features.")}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision files carry the classifier too
    path = tmp_path / name
    torch.save(state, path)
    return path, net


def test_vgg16_loads_from_a_torchvision_layout_file(tmp_path):
    path, net = _vgg_file(tmp_path)
    assert find_vgg16([tmp_path]) == path
    loaded = load_vgg16(path)
    x = torch.rand(1, 3, 32, 32)
    taps = loaded(x)
    assert len(taps) == 13 and all(torch.equal(a, b) for a, b in zip(taps, net(x)))
    assert not any(p.requires_grad for p in loaded.parameters())


def test_vgg16_absent_or_wrong_file(tmp_path):
    assert find_vgg16([tmp_path / "missing"]) is None
    bad = tmp_path / "vgg16.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, bad)
    with pytest.raises(ModelFormatError, match="vgg16.pth"):
        load_vgg16(bad)
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(ModelFormatError, match="junk.pth"):
        load_vgg16(tmp_path / "junk.pth")


def test_image_loss_combines_weighted_parts_per_sample(tmp_path):
    _, net = _vgg_file(tmp_path)
    net.eval().requires_grad_(False)
    g = torch.Generator().manual_seed(1)
    targets = torch.rand(3, 3, 32, 32, generator=g)
    loss = ImageLoss(targets, pixel=2.0, l1=0.5, structural=1.0, perceptual=0.1, vgg=net, perceptual_size=32)
    pred = targets.clone().requires_grad_(True)
    total, parts = loss(pred)
    assert total.shape == (3,) and torch.allclose(total, torch.zeros(3), atol=1e-4)
    pred2 = (targets + 0.1).requires_grad_(True)
    total, parts = loss(pred2, torch.tensor([0, 1, 2]))
    assert set(parts) == {"pixel", "l1", "structural", "perceptual"}
    expected = 2 * parts["pixel"] + 0.5 * parts["l1"] + parts["structural"] + 0.1 * parts["perceptual"]
    assert torch.allclose(total, expected)
    total.sum().backward()
    assert pred2.grad.abs().sum() > 0
    # Without VGG weights the perceptual term is simply absent.
    assert "perceptual" not in ImageLoss(targets, perceptual=1.0, vgg=None)(pred2)[1]


def test_vgg16_with_nan_or_wrong_shapes_is_refused_in_one_line(tmp_path):
    path, net = _vgg_file(tmp_path)
    state = torch.load(path)
    state["features.0.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, path)
    with pytest.raises(ModelFormatError, match="features.0.weight holds 1 NaN"):
        load_vgg16(path)
    state["features.0.weight"] = torch.zeros(64, 3, 5, 5)
    torch.save(state, path)
    with pytest.raises(ModelFormatError, match="expected shapes") as info:
        load_vgg16(path)
    assert "\n" not in str(info.value)
