"""Runtime fallback, atomic writes and image conversions: the services every feature builds on."""
import pytest
import torch

from facespace.errors import Cancelled, FaceSpaceError
from facespace.fileio import atomic_path
from facespace.imageops import grid, image_to_native, image_to_pil, native_to_image, pil_to_image
from facespace.runtime import PlainRuntime, get_runtime


def test_atomic_path_writes_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "out" / "face.bin"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_bytes(b"first")
    assert target.read_bytes() == b"first"
    with pytest.raises(FaceSpaceError, match="already exists"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"second")
    assert target.read_bytes() == b"first"
    with atomic_path(target, overwrite=True) as tmp:
        tmp.write_bytes(b"second")
    assert target.read_bytes() == b"second"


def test_atomic_path_failure_leaves_nothing(tmp_path):
    target = tmp_path / "face.png"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_plain_runtime_serves_cpu_cancel_and_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESPACE_MODELS", str(tmp_path))
    rt = PlainRuntime(device="cpu", show_progress=False)
    assert rt.device() == torch.device("cpu")
    assert rt.model_dirs("stylegan") == [tmp_path / "stylegan"]
    layer = torch.nn.Linear(2, 2)
    assert rt.load(layer) is layer
    rt.check_cancel()
    rt.cancel_requested = True
    with pytest.raises(Cancelled):
        rt.check_cancel()
    assert get_runtime(rt) is rt


def test_grad_enabled_inside_inference_mode():
    rt = PlainRuntime(device="cpu", show_progress=False)
    with torch.inference_mode():
        with rt.grad_enabled():
            w = torch.ones(3, requires_grad=True)
            (w * 2).sum().backward()
    assert torch.equal(w.grad, torch.full((3,), 2.0))


def test_image_conversions_round_trip():
    native = torch.rand(2, 3, 8, 6) * 2 - 1
    image = native_to_image(native)
    assert image.shape == (2, 8, 6, 3) and image.dtype == torch.float32 and image.device.type == "cpu"
    assert torch.allclose(image_to_native(image), native, atol=1e-6)
    pics = image_to_pil(image)
    assert [p.size for p in pics] == [(6, 8), (6, 8)]
    assert (pil_to_image(pics) - image).abs().max() <= 0.5 / 255 + 1e-6
    grey = torch.rand(1, 4, 4, 1)
    assert torch.equal(image_to_native(grey)[0, 0], image_to_native(grey)[0, 2])
    sheet = grid(pics, cols=2, pad=2)
    assert sheet.size == (2 * 6 + 3 * 2, 8 + 2 * 2)
