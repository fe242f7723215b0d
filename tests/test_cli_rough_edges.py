"""What a new user runs into on the command line: devices, picture types, and what training refuses."""
import pytest
import torch
from PIL import Image

from facespace.cli import main
from facespace.errors import DeviceError, FaceSpaceError
from facespace.fileio import PICTURE_SUFFIXES
from facespace.runtime import PlainRuntime, available_devices, usable_device
from facespace.stylegan import save_generator, tiny_generator
from facespace.train import TrainSettings, save_facespace, train_facespace
from test_blend import make_rendering_facespace


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    fs = make_rendering_facespace("linear", n=4, resolution=16)
    save_generator(fs.stylegan.generator, d / "g.safetensors")
    save_facespace(fs, d / "fs.safetensors")
    return d


@pytest.mark.parametrize("device", ["bogus", "cuda:7", "mps" if "mps" not in available_devices() else "cuda:99"])
def test_an_unavailable_device_is_one_line_naming_it_and_what_there_is(device, files, capsys):
    code = main(["--device", device, "info", str(files / "g.safetensors")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: device ")
    assert repr(device) in err and "available here: cpu" in err
    with pytest.raises(DeviceError, match="available here"):
        PlainRuntime(device)


def test_usable_devices_pass():
    assert usable_device("cpu") == torch.device("cpu")
    assert available_devices()[0] == "cpu"
    if torch.cuda.is_available():
        assert usable_device("cuda") == torch.device("cuda")


@pytest.mark.parametrize("suffix", PICTURE_SUFFIXES)
def test_sample_and_blend_write_the_same_picture_types(suffix, files, tmp_path, capsys):
    sample_out, blend_out = tmp_path / f"s{suffix}", tmp_path / f"b{suffix}"
    assert main(["--device", "cpu", "sample", str(files / "g.safetensors"), "--out", str(sample_out)]) == 0
    assert main(["--device", "cpu", "blend", str(files / "fs.safetensors"), "--model", str(files / "g.safetensors"),
                 "--out", str(blend_out)]) == 0
    expected = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}[suffix]
    for path in (sample_out, blend_out):
        with Image.open(path) as im:
            assert im.format == expected and im.size == (16, 16)
    capsys.readouterr()
    assert main(["--device", "cpu", "sample", str(files / "g.safetensors"), "--out", str(tmp_path / "s.gif")]) == 2
    assert ".webp" in capsys.readouterr().err


def test_training_refuses_a_single_face():
    G = tiny_generator(resolution=16, seed=1)
    one = torch.rand(1, 16, 16, 3)
    with pytest.raises(FaceSpaceError, match="at least two faces"):
        train_facespace(G, one, ["solo"], TrainSettings(steps=1))
    with pytest.raises(FaceSpaceError, match="at least two faces"):
        train_facespace(G, one[0], ["solo"], TrainSettings(steps=1))
