"""Every reader: files written in each on-disk format load into the same generator and the same images."""
import math

import numpy as np
import pytest
import torch

from facespace.errors import ModelFormatError
from facespace.stylegan import build_generator, detect_format, load_generator, save_generator, tiny_generator
from facespace.stylegan.layers import SQRT2
from stylegan_fixtures import stylegan2_tf_variables, write_ada_pickle, write_rosinality, write_tf_pickle

WRITERS = {
    "tf-stylegan1": ("stylegan1", write_tf_pickle, "nvidia-tf-stylegan1"),
    "tf-stylegan2": ("stylegan2", write_tf_pickle, "nvidia-tf-stylegan2"),
    "ada-pytorch": ("stylegan2", write_ada_pickle, "stylegan2-ada-pytorch"),
    "rosinality": ("stylegan2", write_rosinality, "rosinality"),
}


@pytest.fixture(scope="module")
def generators():
    return {fam: tiny_generator(fam, resolution=16, seed=11) for fam in ("stylegan1", "stylegan2")}


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_format_loads_to_the_same_generator(fmt, generators, tmp_path):
    family, writer, tag = WRITERS[fmt]
    G = generators[family]
    path = writer(G, tmp_path / "model.bin")
    loaded = load_generator(path)
    assert loaded.family == family and loaded.provenance["format"] == tag
    assert loaded.arch == G.arch
    assert (loaded.num_ws, loaded.w_dim, loaded.z_dim, loaded.resolution) == (G.num_ws, G.w_dim, G.z_dim, 16)
    torch.testing.assert_close(loaded.w_avg, G.w_avg, rtol=0, atol=0)
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0))
    ws = loaded.mapping(z, psi=0.6, cutoff=3)
    expected = G.synthesis(G.mapping(z, psi=0.6, cutoff=3))
    assert torch.equal(loaded.synthesis(ws), expected)
    # and through our own file: the converted weights survive a safetensors round trip unchanged
    out = tmp_path / "converted.safetensors"
    save_generator(loaded, out)
    again = load_generator(out)
    assert again.fingerprint() == loaded.fingerprint() == G.fingerprint()
    assert torch.equal(again.synthesis(ws), expected)
    assert again.provenance["format"] == tag


@pytest.mark.parametrize("fmt,name", [("ada-pytorch", "looks-like.pt"), ("rosinality", "looks-like.pkl"),
                                      ("tf-stylegan1", "no_extension")])
def test_format_is_chosen_by_content_not_extension(fmt, name, generators, tmp_path):
    family, writer, tag = WRITERS[fmt]
    path = writer(generators[family], tmp_path / name)
    assert load_generator(path).provenance["format"] == tag
    G = generators[family]
    out = save_generator(G, tmp_path / "native.pkl")
    assert detect_format(out) == "safetensors" and load_generator(out).fingerprint() == G.fingerprint()


def test_tf_stylegan2_conversion_formula(generators, tmp_path):
    """Conv0_up weights are transposed and flipped, mod_bias gains +1, noise is noise[0,0], dense is transposed."""
    G = generators["stylegan2"]
    v = dict(stylegan2_tf_variables(G))
    loaded = load_generator(write_tf_pickle(G, tmp_path / "g.pkl"))
    b8 = loaded.synthesis_network.b8
    tf_up = torch.from_numpy(v["8x8/Conv0_up/weight"])
    assert torch.equal(b8.conv0.weight, tf_up.permute(3, 2, 0, 1).flip([2, 3]))
    assert torch.equal(b8.conv1.weight, torch.from_numpy(v["8x8/Conv1/weight"]).permute(3, 2, 0, 1))
    assert torch.equal(b8.conv1.affine.bias, torch.from_numpy(v["8x8/Conv1/mod_bias"]) + 1)
    assert torch.equal(b8.conv1.affine.weight, torch.from_numpy(v["8x8/Conv1/mod_weight"]).t())
    assert torch.equal(b8.conv0.noise_const, torch.from_numpy(v["noise1"])[0, 0])


def test_stylegan1_mapping_and_first_block_match_the_tf_formulas(generators, tmp_path):
    """Hand-written numpy version of NVIDIA's StyleGAN1 graph (dense, epilogue, ToRGB) on the TF variables."""
    from stylegan_fixtures import stylegan1_tf_variables, _mapping_vars

    G = generators["stylegan1"]
    loaded = load_generator(write_tf_pickle(G, tmp_path / "karras2019stylegan-tiny.pkl"))
    m = dict(_mapping_vars(G))
    s = dict(stylegan1_tf_variables(G))
    z = np.random.RandomState(0).randn(2, G.z_dim)
    x = z / np.sqrt(np.mean(z ** 2, axis=1, keepdims=True) + 1e-8)
    lrmul = 0.01
    for i in range(G.arch["mapping_layers"]):
        w = m[f"Dense{i}/weight"]
        x = x @ (w * SQRT2 / math.sqrt(w.shape[0]) * lrmul) + m[f"Dense{i}/bias"] * lrmul
        x = np.maximum(x, 0.2 * x)
    ws = loaded.mapping(torch.from_numpy(z).float())
    np.testing.assert_allclose(ws[:, 0].numpy(), x, rtol=1e-4, atol=1e-5)

    def epilogue(h, scope, noise, dl):
        h = h + noise * s[f"{scope}/Noise/weight"].reshape(1, -1, 1, 1)
        h = h + s[f"{scope}/bias"].reshape(1, -1, 1, 1)
        h = np.maximum(h, 0.2 * h)
        h = h - h.mean(axis=(2, 3), keepdims=True)
        h = h / np.sqrt(np.mean(h ** 2, axis=(2, 3), keepdims=True) + 1e-8)
        sw = s[f"{scope}/StyleMod/weight"]
        style = dl @ (sw / math.sqrt(sw.shape[0])) + s[f"{scope}/StyleMod/bias"]
        c = h.shape[1]
        return h * (style[:, :c, None, None] + 1) + style[:, c:, None, None]

    dl = ws.numpy().astype(np.float64)
    h = np.repeat(s["4x4/Const/const"], 2, axis=0)
    h = epilogue(h, "4x4/Const", s["noise0"], dl[:, 0])
    w = s["4x4/Conv/weight"] * SQRT2 / math.sqrt(9 * h.shape[1])  # [3,3,in,out], SAME padding
    hp = np.pad(h, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = sum(np.einsum("nchw,co->nohw", hp[:, :, dy:dy + 4, dx:dx + 4], w[dy, dx])
               for dy in range(3) for dx in range(3))
    h = epilogue(conv, "4x4/Conv", s["noise1"], dl[:, 1])
    lod = int(math.log2(G.resolution // 4))
    trgb = s[f"ToRGB_lod{lod}/weight"][0, 0] / math.sqrt(h.shape[1])
    img = np.einsum("nchw,co->nohw", h, trgb) + s[f"ToRGB_lod{lod}/bias"].reshape(1, -1, 1, 1)
    ours = loaded.synthesis(ws, noise_mode="const", max_resolution=4)
    np.testing.assert_allclose(ours.numpy(), img, rtol=1e-4, atol=1e-4)


def test_stylegan1_fused_upscale_equals_nearest_upscale_then_flipped_conv():
    """NVIDIA's fused transposed conv (used from 128 px) sums the 3x3 kernel over 2x2 shifts; that equals
    nearest-up followed by a 3x3 conv with the spatially flipped kernel."""
    G = tiny_generator("stylegan1", resolution=32, seed=4)
    fused = build_generator({**G.arch, "fused_min_res": 8})
    sd = G.state_dict()
    sd.update({k: v.flip([2, 3]) for k, v in sd.items() if k.endswith("conv0.weight")})
    fused.load_state_dict(sd)
    assert fused.synthesis_network.b8.conv0.fused_up and not G.synthesis_network.b8.conv0.fused_up
    ws = G.mapping(torch.randn(2, G.z_dim))
    torch.testing.assert_close(fused.synthesis(ws), G.synthesis(ws), rtol=1e-4, atol=1e-4)


def test_tf_mapping_lr_multiplier_is_read_from_the_build_settings(tmp_path):
    for family in ("stylegan1", "stylegan2"):
        G = tiny_generator(family, resolution=8, seed=14, mapping_lr_mul=0.05)
        loaded = load_generator(write_tf_pickle(G, tmp_path / f"{family}.pkl"))
        assert loaded.arch["mapping_lr_mul"] == 0.05
        z = torch.randn(2, G.z_dim)
        torch.testing.assert_close(loaded.mapping(z), G.mapping(z), rtol=0, atol=0)


def test_stylegan2_mapping_formula(generators):
    G = generators["stylegan2"]
    z = torch.randn(3, G.z_dim, dtype=torch.float64)
    x = z * (z.square().mean(1, keepdim=True) + 1e-8).rsqrt()
    for i in range(G.arch["mapping_layers"]):
        fc = getattr(G.mapping_network, f"fc{i}")
        w, b = fc.weight.double(), fc.bias.double()
        x = torch.nn.functional.leaky_relu(x @ (w * 0.01 / math.sqrt(w.shape[1])).t() + b * 0.01, 0.2) * SQRT2
    torch.testing.assert_close(G.mapping(z.float())[:, 0], x.float(), rtol=1e-5, atol=1e-5)


def test_rosinality_training_checkpoint_and_missing_latent_avg(generators, tmp_path):
    G = tiny_generator("stylegan2", resolution=16, seed=12, mapping_lr_mul=0.02)
    loaded = load_generator(write_rosinality(G, tmp_path / "000100.pt", training=True))
    assert loaded.arch["mapping_lr_mul"] == 0.02 and loaded.fingerprint() == G.fingerprint()
    G = generators["stylegan2"]
    bare = load_generator(write_rosinality(G, tmp_path / "bare.pt", with_latent_avg=False))
    expected = G.mapping_network(torch.randn(4096, G.z_dim, generator=torch.Generator().manual_seed(0))).mean(0)
    torch.testing.assert_close(bare.w_avg, expected)
    assert "mean of" in bare.provenance["w_avg"]


def test_legacy_torch_save_is_read(generators, tmp_path):
    from stylegan_fixtures import rosinality_state_dict

    G = generators["stylegan2"]
    path = tmp_path / "old.pt"
    torch.save({"g_ema": rosinality_state_dict(G), "latent_avg": G.w_avg}, path, _use_new_zipfile_serialization=False)
    assert detect_format(path) == "pickle"
    assert load_generator(path).fingerprint() == G.fingerprint()


def test_ada_conv_clamp_comes_from_init_kwargs(tmp_path):
    G = tiny_generator("stylegan2", resolution=16, seed=13, conv_clamp=0.5)
    loaded = load_generator(write_ada_pickle(G, tmp_path / "network-snapshot-000000.pkl"))
    assert loaded.arch["conv_clamp"] == 0.5
    ws = G.mapping(torch.randn(1, G.z_dim))
    img = loaded.synthesis(ws)
    assert torch.equal(img, G.synthesis(ws))
    unclamped = build_generator({**G.arch, "conv_clamp": None})
    unclamped.load_state_dict(G.state_dict())
    free = unclamped.synthesis(ws)
    assert free.abs().max() > 1.5 and img.abs().max() <= 0.5 * len(G.synthesis_network.resolutions) + 1e-6


def test_conditional_and_incomplete_ada_files_are_refused(generators, tmp_path):
    from stylegan_fixtures import ada_state_dict

    G = generators["stylegan2"]
    sd = ada_state_dict(G)
    sd["mapping.embed.weight"] = torch.randn(32, 10)
    with pytest.raises(ModelFormatError, match="conditional"):
        load_generator(write_ada_pickle(G, tmp_path / "cond.pkl", state_dict=sd))
    sd = ada_state_dict(G)
    del sd["synthesis.b8.conv0.affine.weight"]
    with pytest.raises(ModelFormatError, match=r"partial.pkl.*synthesis_network\.b8\.conv0\.affine\.weight"):
        load_generator(write_ada_pickle(G, tmp_path / "partial.pkl", state_dict=sd))
