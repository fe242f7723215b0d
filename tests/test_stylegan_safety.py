"""Hostile and broken files: refused with a clear error, nothing from them is run."""
import builtins
import os
import pickle
import subprocess
import zipfile

import pytest
import torch

from facespace.errors import ModelFormatError, UnsafeFileError
from facespace.stylegan import load_generator, save_generator, tiny_generator
from stylegan_fixtures import (write_ada_pickle, write_malicious_pickle, write_malicious_torch, write_rosinality,
                               write_tf_pickle)


@pytest.fixture(scope="module")
def G():
    return tiny_generator("stylegan2", resolution=8, seed=21)


@pytest.mark.parametrize("func,args,global_name", [
    (os.system, ("touch {marker}",), "posix.system"),
    (builtins.eval, ("open({marker!r}, 'w').close()",), "builtins.eval"),
    (builtins.exec, ("open({marker!r}, 'w').close()",), "builtins.exec"),
    (subprocess.check_call, (["touch", "{marker}"],), "subprocess.check_call"),
])
@pytest.mark.parametrize("container", ["pickle", "torch"])
def test_code_in_a_file_is_refused_and_not_run(func, args, global_name, container, tmp_path):
    marker = tmp_path / "pwned"
    args = tuple([a.format(marker=str(marker)) for a in x] if isinstance(x, list) else x.format(marker=str(marker))
                 for x in args)
    writer = write_malicious_pickle if container == "pickle" else write_malicious_torch
    path = writer(tmp_path / f"evil.{'pkl' if container == 'pickle' else 'pt'}", func, args)
    with pytest.raises(UnsafeFileError) as info:
        load_generator(path)
    assert global_name in str(info.value) and path.name in str(info.value)
    assert not marker.exists()


def test_unknown_class_in_a_pickle_is_refused(tmp_path):
    path = tmp_path / "odd.pkl"
    path.write_bytes(b"\x80\x02cmymodule\nHelper\nq\x00)\x81q\x01.")
    with pytest.raises(UnsafeFileError, match="mymodule.Helper"):
        load_generator(path)


def test_embedded_source_is_never_run(G, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    G1 = tiny_generator("stylegan1", resolution=8, seed=22)
    load_generator(write_tf_pickle(G1, tmp_path / "sg1.pkl", marker="tf-ran.txt"))
    load_generator(write_ada_pickle(G, tmp_path / "ada.pkl", marker="ada-ran.txt"))
    assert not (tmp_path / "tf-ran.txt").exists() and not (tmp_path / "ada-ran.txt").exists()


def _writers(G):
    return {
        "tf.pkl": lambda p: write_tf_pickle(G, p),
        "ada.pkl": lambda p: write_ada_pickle(G, p),
        "rosinality.pt": lambda p: write_rosinality(G, p),
        "native.safetensors": lambda p: save_generator(G, p),
    }


@pytest.mark.parametrize("name", ["tf.pkl", "ada.pkl", "rosinality.pt", "native.safetensors"])
@pytest.mark.parametrize("keep", [0.5, 0.97])
def test_truncated_files_give_a_format_error_naming_the_file(G, name, keep, tmp_path):
    full = _writers(G)[name](tmp_path / name)
    data = full.read_bytes()
    cut = tmp_path / f"cut-{name}"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelFormatError, match=f"cut-{name}"):
        load_generator(cut)


@pytest.mark.parametrize("content,expect", [
    (b"", "empty"),
    (b"hello, this is a text file\n", "not a model file"),
    (b"\x89PNG\r\n\x1a\n" + bytes(64), "not a model file"),
    (bytes(range(256)) * 4, "not a model file"),
    (pickle.dumps({"weights": [1, 2, 3]}), "not a StyleGAN generator"),
    (pickle.dumps([1, 2, 3]), "not a StyleGAN generator"),
    (b"\x80\x04\x95\xff\xff", "damaged or truncated"),
])
def test_not_a_model(content, expect, tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(content)
    with pytest.raises(ModelFormatError, match=expect) as info:
        load_generator(path)
    assert "model.pkl" in str(info.value)


def test_other_torch_files_and_zips(tmp_path):
    path = tmp_path / "classifier.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(ModelFormatError, match="classifier.pt.*not a StyleGAN2 generator"):
        load_generator(path)
    z = tmp_path / "archive.pt"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("readme.txt", "not torch")
    with pytest.raises(ModelFormatError, match="archive.pt"):
        load_generator(z)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pkl"):
        load_generator(tmp_path / "nothing.pkl")
    with pytest.raises(ModelFormatError, match="folder"):
        load_generator(tmp_path)


def _global(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


def _int(n: int) -> bytes:
    return b"J" + n.to_bytes(4, "little", signed=True)  # BININT


GIB = 2 ** 30
HOSTILE_PICKLES = {  # name: (stream, what the refusal says)
    # allowed names used as callables instead of as data: each would allocate gigabytes or more
    "tensor-call": (b"\x80\x02" + _global("torch", "Tensor") + _int(GIB) + b"\x85R.", "construct torch.Tensor"),
    "tensor-newobj": (b"\x80\x02" + _global("torch", "Tensor") + _int(GIB) + b"\x85\x81.", "construct torch.Tensor"),
    "parameter-call": (b"\x80\x02" + _global("torch.nn.parameter", "Parameter") + b")R.", "construct torch.nn"),
    "ndarray-call": (b"\x80\x02" + _global("numpy", "ndarray") + _int(GIB) + _int(64) + b"\x86\x85R.",
                     "construct numpy.ndarray"),
    "ndarray-reconstruct": (b"\x80\x03" + _global("numpy.core.multiarray", "_reconstruct") + _global("numpy", "ndarray")
                            + _int(GIB) + _int(64) + b"\x86C\x01b\x87R.", "of shape"),
    # extra state poured onto an inert holder (default BUILD would set arbitrary attributes)
    "persistent-build": (b"\x80\x02" + _global("torch_utils.persistence", "_reconstruct_persistent_obj")
                         + b"}\x85R}X\x05\x00\x00\x00dtypeK\x01sb.", "extra state"),
    "ordereddict-build": (b"\x80\x02" + _global("collections", "OrderedDict") + b")R}X\x05\x00\x00\x00itemsK\x01sb.",
                          "attributes"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_PICKLES))
def test_allowed_names_cannot_be_misused(name, tmp_path):
    data, expect = HOSTILE_PICKLES[name]
    path = tmp_path / f"{name}.pkl"
    path.write_bytes(data)
    with pytest.raises(ModelFormatError, match=f"{name}.pkl.*{expect}"):
        load_generator(path)


@pytest.mark.parametrize("data,global_name", [
    (b"\x80\x02" + _global("builtins", "getattr") + b".", "builtins.getattr"),
    (b"\x80\x02" + _global("numpy", "load") + b".", "numpy.load"),
    (b"\x80\x02" + _global("torch._utils", "_rebuild_device_tensor_from_numpy") + b".",
     "torch._utils._rebuild_device_tensor_from_numpy"),
    (b"\x80\x02" + _global("torch.storage", "_load_from_bytes.__globals__") + b".",
     "torch.storage._load_from_bytes.__globals__"),
    # protocol 4 STACK_GLOBAL whose names come back from the memo
    (b"\x80\x04\x8c\x05posix\x94\x8c\x06system\x940h\x00h\x01\x93.", "posix.system"),
])
def test_other_globals_are_refused_however_named(data, global_name, tmp_path):
    path = tmp_path / "odd.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafeFileError, match=global_name.replace(".", r"\.")):
        load_generator(path)


def test_settings_asking_for_a_huge_network_are_refused_before_allocating(G, tmp_path):
    """The architecture comes from the file; it is checked against the file's tensors without building it."""
    from stylegan_fixtures import write_ada_pickle

    path = write_ada_pickle(G, tmp_path / "wide.pkl", init_kwargs={"z_dim": 2 ** 40, "w_dim": G.w_dim,
                                                                    "img_resolution": 8, "img_channels": 3})
    with pytest.raises(ModelFormatError, match="wide.pkl.*z_dim"):
        load_generator(path)


@pytest.mark.parametrize("change,expect", [
    ({"channels": {"4": 2 ** 12, "8": 2 ** 12}}, "shape"),
    ({"channels": {"4": 2 ** 20, "8": 2 ** 20}}, "whole numbers from 1 to 65536"),
    ({"mapping_layers": 10 ** 9}, "mapping layers"),
    ({"resolution": 2 ** 30}, "resolution"),
    ({"channels": [1, 2]}, "settings"),
    ({"resample_filter": [1] * 100_000}, "resample_filter"),
    ({"z_dim": -1}, "z_dim"),
])
def test_native_file_with_a_bad_arch_is_refused(G, change, expect, tmp_path):
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    good = save_generator(G, tmp_path / "good.safetensors")
    with safe_open(str(good), "pt") as f:
        meta = f.metadata()
    meta["arch"] = json.dumps({**json.loads(meta["arch"]), **change})
    bad = tmp_path / "bad.safetensors"
    save_file(load_file(str(good)), str(bad), metadata=meta)
    with pytest.raises(ModelFormatError, match=f"bad.safetensors.*{expect}"):
        load_generator(bad)


def test_broadcast_tensors_cannot_inflate_a_small_file(G):
    """A stride-0 view claims many values for few stored ones."""
    from facespace.stylegan.formats.common import generator_from_state

    state = dict(G.state_dict())
    key = "synthesis_network.b8.conv1.weight"
    state[key] = torch.zeros(1).expand(state[key].shape)
    with pytest.raises(ModelFormatError, match="tiny.pkl.*claim"):
        generator_from_state(G.arch, state, {}, "tiny.pkl")
    state[key] = G.state_dict()[key].clone()
    assert generator_from_state(G.arch, state, {}, "tiny.pkl").fingerprint() == G.fingerprint()


def test_values_of_the_wrong_kind_give_a_format_error_naming_the_file(G, tmp_path):
    from stylegan_fixtures import rosinality_state_dict

    sd = rosinality_state_dict(G)
    sd["input.input"] = "a string where a tensor belongs"
    path = tmp_path / "odd.pt"
    torch.save({"g_ema": sd}, path)
    with pytest.raises(ModelFormatError, match="odd.pt.*unexpected kind"):
        load_generator(path)
