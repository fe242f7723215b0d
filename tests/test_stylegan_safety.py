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
