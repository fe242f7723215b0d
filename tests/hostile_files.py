"""Small crafted files an attacker could post as a "StyleGAN model", each a few bytes to a few MB.

Each maker takes a folder and returns the file it wrote. Pickles are written opcode by opcode where a
normal pickler could not write them (deep or shared structures, forged states).
"""
from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import torch


def op_global(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


def op_str(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def op_put(i: int) -> bytes:
    return b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i)


def op_get(i: int) -> bytes:
    return b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i)


def deep_tuple(depth: int) -> bytes:
    return b")" + b"\x85" * depth  # EMPTY_TUPLE, then TUPLE1 wrapping it again and again


def shared_tuple(levels: int, first_memo: int = 0) -> bytes:
    """t = (); t = (t, t) `levels` times through the memo: 2**levels leaves from a few hundred bytes."""
    out = b")" + op_put(first_memo)
    for i in range(levels):
        out += b"0" + op_get(first_memo + i) * 2 + b"\x86" + op_put(first_memo + i + 1)  # POP, (t, t)
    return out


def pickle_file(folder: Path, name: str, body: bytes, proto: int = 2) -> Path:
    path = Path(folder) / name
    path.write_bytes(bytes([0x80, proto]) + body + b".")
    return path


def dict_with_key(key: bytes) -> bytes:
    return b"}" + key + b"K\x01s"


def deep_key_pickle(folder: Path) -> Path:
    return pickle_file(folder, "deep-key.pkl", dict_with_key(deep_tuple(1_000_000)))


def deep_frozenset_pickle(folder: Path) -> Path:
    return pickle_file(folder, "deep-frozenset.pkl", b"(" + deep_tuple(1_000_000) + b"\x91", proto=4)


def shared_key_pickle(folder: Path) -> Path:
    return pickle_file(folder, "shared-key.pkl", dict_with_key(shared_tuple(60)))


def shared_module_src_pickle(folder: Path) -> Path:
    meta = (b"}" + op_str("class_name") + op_str("x") + b"s" + op_str("state") + b"}s"
            + op_str("module_src") + shared_tuple(40) + b"s")
    body = (b"}" + op_str("G_ema") + op_global("torch_utils.persistence", "_reconstruct_persistent_obj")
            + meta + b"\x85Rs")
    return pickle_file(folder, "shared-src.pkl", body)


def shared_tf_name_pickle(folder: Path) -> Path:
    state = b"}" + op_str("name") + shared_tuple(40) + b"s"
    network = op_global("dnnlib.tflib.network", "Network") + b")\x81"  # NEWOBJ, then BUILD with the state
    return pickle_file(folder, "shared-name.pkl", network + state + b"b")


def _dtype_state(state: tuple) -> bytes:
    """An array whose dtype is numpy.dtype('f4') given `state` by BUILD (what numpy itself would do)."""
    class Forged:
        def __reduce__(self):
            return (np.dtype, ("f4", False, True), state)

    return pickle.dumps([Forged()], protocol=3)


def forged_dtype_pickles(folder: Path) -> list[Path]:
    cases = {
        "dtype-object-field.pkl": (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 1, 63),
        "dtype-far-offset.pkl": (3, "|", None, ("a",), {"a": (np.dtype("f4"), 2 ** 30)}, 4, 1, 16),
        "dtype-subarray.pkl": (3, "<", (np.dtype("f4"), (4096, 4096)), None, None, -1, -1, 0),
    }
    out = []
    for name, state in cases.items():
        (Path(folder) / name).write_bytes(_dtype_state(state))
        out.append(Path(folder) / name)
    return out


def class_state_pickle(folder: Path) -> Path:
    """BUILD aimed at an allow-listed class itself: would set class attributes for every later load."""
    body = op_global("dnnlib.util", "EasyDict") + b"(}" + op_str("take_state") + b"K\x01s" + b"}" + op_str("x") \
        + b"K\x01stb"
    return pickle_file(folder, "class-state.pkl", body)


def broadcast_tensor_pickle(folder: Path) -> Path:
    path = Path(folder) / "broadcast.pkl"
    path.write_bytes(pickle.dumps({"G_ema": [torch.zeros(1).expand(8192, 8192)]}))
    return path


def torch_zip(obj, path: Path, deflate: bool = False, replace_pickle: bytes | None = None) -> Path:
    """torch.save(obj) as a zip, optionally with its records deflated or its data.pkl replaced."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if replace_pickle is not None and info.filename.endswith("data.pkl"):
                data = replace_pickle
            dst.writestr(info.filename, data, zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED)
    return path


def deep_key_torch(folder: Path) -> Path:
    return torch_zip({"a": 1}, Path(folder) / "deep-key.pt",
                     replace_pickle=b"\x80\x02" + dict_with_key(deep_tuple(1_000_000)) + b".")


def deflate_bomb_torch(folder: Path) -> Path:
    return torch_zip({"g_ema": {"input.input": torch.zeros(16 * 2 ** 20)}}, Path(folder) / "bomb.pt", deflate=True)


def broadcast_latent_avg_torch(folder: Path, G) -> Path:
    from stylegan_fixtures import rosinality_state_dict

    return torch_zip({"g_ema": rosinality_state_dict(G), "latent_avg": torch.zeros(1).expand(2 ** 28)},
                     Path(folder) / "broadcast-avg.pt")


def wrong_latent_avg_torch(folder: Path, G) -> Path:
    from stylegan_fixtures import rosinality_state_dict

    return torch_zip({"g_ema": rosinality_state_dict(G), "latent_avg": torch.zeros(G.w_dim + 3)},
                     Path(folder) / "wrong-avg.pt")


def raw_safetensors(path: Path, header: dict | bytes, data: bytes = b"") -> Path:
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    Path(path).write_bytes(struct.pack("<Q", len(head)) + head + data)
    return Path(path)


def ada_with(G, folder: Path, name: str, **changes) -> Path:
    """An ADA pickle of G whose `_init_kwargs` (or its mapping/synthesis kwargs) carry `changes`."""
    from stylegan_fixtures import write_ada_pickle

    kw = {"z_dim": G.z_dim, "c_dim": 0, "w_dim": G.w_dim, "img_resolution": G.resolution,
          "img_channels": G.img_channels, "mapping_kwargs": {"num_layers": G.arch["mapping_layers"]},
          "synthesis_kwargs": {"channel_base": 1024, "channel_max": 32, "conv_clamp": None}}
    for key, value in changes.items():
        group, _, leaf = key.rpartition("__")
        (kw[group] if group else kw)[leaf] = value
    return write_ada_pickle(G, Path(folder) / name, init_kwargs=kw)


def nested_list(depth: int):
    out = [1.0]
    for _ in range(depth):
        out = [out]
    return out


def tiny_facespace(G, path: Path, names=("anna", "bea"), poison: bool = False, **meta) -> Path:
    from facespace.space.encoders import make_encoder
    from facespace.space.model import FaceSpace
    from facespace.train import save_facespace

    table = G.w_avg.reshape(1, 1, -1).repeat(len(names), G.num_ws, 1) + 0.1 * torch.randn(len(names), G.num_ws, G.w_dim)
    if poison:
        table[1, 0, 3] = float("nan")
    enc = make_encoder("linear", len(names), G.num_ws, G.w_dim, w_avg=G.w_avg)
    enc.set_face_codes(table)
    fs = FaceSpace(list(names), enc, "linear", table, G.resolution, G.fingerprint(), dict(meta))
    return save_facespace(fs, path)


def rewrite_facespace(path: Path, out: Path, change) -> Path:
    """The same tensors with the FaceSpace JSON metadata changed by `change(info)`."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    info = json.loads(meta["facespace"])
    change(info)
    meta["facespace"] = json.dumps(info)
    save_file(load_file(str(path)), str(out), metadata=meta)
    return out


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height pixels, with almost no image data."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                           + chunk(b"IEND", b""))
    return Path(path)
