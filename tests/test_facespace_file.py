"""The FaceSpace file: round trip, no silent overwrite, generator fingerprint checks, damaged files."""
import json
import struct

import pytest
import torch

from facespace.errors import FaceSpaceError, FingerprintMismatchError, ModelFormatError, UnknownFaceError
from facespace.stylegan import StyleGAN, tiny_generator
from facespace.train import FaceSpace, load_facespace, make_encoder, read_facespace_info, save_facespace


@pytest.fixture(scope="module")
def G():
    return tiny_generator(resolution=16, seed=3)


def make_fs(G, kind: str, n: int = 3) -> FaceSpace:
    table = G.mapping(torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(4)), psi=0.7)
    enc = make_encoder(kind, n, G.num_ws, G.w_dim, w_avg=G.w_avg, seed=2)
    if kind == "linear":
        enc.set_face_codes(table)
    meta = {"psnr": {"ann": 31.5, "bo": 33.0, "cy": 30.2}, "settings": {"steps": 5},
            "loss_history": {"step": [1, 2], "loss": [0.5, 0.25]}}
    return FaceSpace(["ann", "bo", "cy"][:n], enc, kind, table, G.resolution, G.fingerprint(), meta,
                     stylegan=StyleGAN(G))


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_round_trip_keeps_encoder_table_and_metadata(G, kind, tmp_path):
    fs = make_fs(G, kind)
    path = save_facespace(fs, tmp_path / f"{kind}.safetensors")
    back = load_facespace(path, StyleGAN(G))
    assert back.names == fs.names and back.encoder_kind == kind
    assert (back.num_ws, back.w_dim, back.resolution) == (G.num_ws, G.w_dim, G.resolution)
    assert back.generator_fingerprint == G.fingerprint() and back.stylegan.generator is G
    assert torch.equal(back.wplus_table, fs.wplus_table)
    codes = torch.rand(4, 3)
    assert torch.equal(back.encode(codes), fs.encode(codes))
    assert back.metadata == fs.metadata and back.encoder_kwargs == fs.encoder_kwargs
    info = read_facespace_info(path)
    assert info["names"] == fs.names and info["encoder_kind"] == kind and info["format_version"] == 1
    assert info["psnr"]["bo"] == 33.0 and info["generator_fingerprint"] == G.fingerprint()


def test_existing_file_is_not_overwritten_unless_asked(G, tmp_path):
    path = tmp_path / "space.safetensors"
    save_facespace(make_fs(G, "linear"), path)
    before = path.read_bytes()
    with pytest.raises(FaceSpaceError, match="already exists"):
        save_facespace(make_fs(G, "mlp"), path)
    assert path.read_bytes() == before
    save_facespace(make_fs(G, "mlp"), path, overwrite=True)
    assert read_facespace_info(path)["encoder_kind"] == "mlp"
    assert [p.name for p in tmp_path.iterdir()] == ["space.safetensors"]  # no temporary files left


def test_other_generator_is_refused_unless_allowed(G, tmp_path):
    path = save_facespace(make_fs(G, "linear"), tmp_path / "a.safetensors")
    other = tiny_generator(resolution=16, seed=4)
    with pytest.raises(FingerprintMismatchError, match=r"a\.safetensors.*trained for generator"):
        load_facespace(path, StyleGAN(other))
    fs = load_facespace(path, StyleGAN(other), allow_mismatch=True)
    assert fs.stylegan.generator is other
    wrong_shape = tiny_generator(resolution=32, seed=0)
    if wrong_shape.num_ws != G.num_ws:
        with pytest.raises(FingerprintMismatchError, match="cannot render"):
            load_facespace(path, StyleGAN(wrong_shape), allow_mismatch=True)


def test_bad_files_raise_model_format_error_naming_the_file(G, tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 3)
    with pytest.raises(ModelFormatError, match="junk.safetensors"):
        load_facespace(junk)
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, str(plain))
    with pytest.raises(ModelFormatError, match="plain.safetensors is not a FaceSpace file"):
        read_facespace_info(plain)
    # A FaceSpace whose tensors were cut short.
    good = save_facespace(make_fs(G, "linear"), tmp_path / "good.safetensors")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-64])
    with pytest.raises(ModelFormatError, match="cut.safetensors"):
        load_facespace(cut)
    # A header from the future.
    future = rewrite_header(good, tmp_path / "future.safetensors", lambda meta: meta.update(format_version="99"))
    with pytest.raises(ModelFormatError, match="version '99'"):
        read_facespace_info(future)


def rewrite_header(good, dest, change_metadata, change_info=None):
    """A copy of a FaceSpace file with its header metadata (and the JSON record in it) changed in place."""
    raw = good.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header["__metadata__"]
    change_metadata(meta)
    if change_info is not None:
        info = json.loads(meta["facespace"])
        change_info(info)
        meta["facespace"] = json.dumps(info, separators=(",", ":"))
    body = json.dumps(header, separators=(",", ":")).encode()
    assert len(body) <= n
    dest.write_bytes(raw[:8] + body.ljust(n) + raw[8 + n:])
    return dest


def test_inconsistent_records_are_damaged_files(G, tmp_path):
    good = save_facespace(make_fs(G, "linear"), tmp_path / "good.safetensors")
    same_name = rewrite_header(good, tmp_path / "twins.safetensors", lambda m: None,
                               lambda info: info.update(names=["ann", "Ann", "cy"]))
    with pytest.raises(ModelFormatError, match="twins.safetensors is a damaged FaceSpace file.*unique"):
        load_facespace(same_name)
    fewer = rewrite_header(good, tmp_path / "fewer.safetensors", lambda m: None,
                           lambda info: info.update(names=["ann", "bo"]))
    with pytest.raises(ModelFormatError, match="fewer.safetensors: W\\+ table"):
        load_facespace(fewer)


def test_face_lookup_and_codes(G):
    fs = make_fs(G, "linear")
    assert fs.index("bo") == 1 and torch.equal(fs.code("cy"), torch.tensor([0.0, 0.0, 1.0]))
    with pytest.raises(UnknownFaceError, match="'dan'.*ann, bo, cy"):
        fs.index("dan")
    assert torch.allclose(fs.face_wplus(["bo"]), fs.wplus_table[1:2], atol=1e-5)


def test_a_facespace_is_bound_to_its_generator_for_good(G):
    fs = make_fs(G, "linear")
    with pytest.raises(AttributeError):
        fs.stylegan = StyleGAN(tiny_generator(resolution=16, seed=4))  # no slot to swap the generator in
    unbound = fs.bound_to(None)
    assert unbound.stylegan is None and fs.stylegan.generator is G  # binding makes a new value
    assert unbound.encoder is fs.encoder and unbound.wplus_table.data_ptr() == fs.wplus_table.data_ptr()  # shared
    with pytest.raises(FaceSpaceError, match="not bound to a generator"):
        unbound.render(fs.face_wplus())
    with pytest.raises(FingerprintMismatchError, match="trained for generator"):
        unbound.bound_to(StyleGAN(tiny_generator(resolution=16, seed=4)))
    with pytest.raises(FingerprintMismatchError, match="trained for generator"):
        FaceSpace(fs.names, fs.encoder, "linear", fs.wplus_table, G.resolution, "0" * 16,
                  stylegan=StyleGAN(G))
    assert torch.equal(unbound.bound_to(StyleGAN(G)).render(fs.face_wplus()), fs.render(fs.face_wplus()))
