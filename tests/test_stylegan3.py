"""StyleGAN3: NVlabs/stylegan3 pickles load safely into the engine, its ops match literal formulas, and the
rest of the pack (input transform, rendering, training, blends, morphs) works with it."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from facespace.blend import layer_groups, plan_blends, render_blends
from facespace.cli.model import generator_info
from facespace.errors import FaceSpaceError, ModelFormatError
from facespace.imageops import native_to_image
from facespace.morph import MorphPlan, render_morph
from facespace.runtime import PlainRuntime
from facespace.stylegan import StyleGAN, load_generator, save_generator, tiny_generator, z_from_seeds
from facespace.stylegan.generator import normalize_arch, state_shapes
from facespace.stylegan.stylegan3 import filtered_lrelu, input_transform, layer_plan, lowpass_filter
from facespace.train import TrainSettings, train_facespace
from stylegan_fixtures import stylegan3_init_kwargs, write_stylegan3_pickle

CONFIGS = {"t": {}, "r": {"conv_kernel": 1, "use_radial_filters": True}}


@pytest.fixture(scope="module")
def generators():
    return {cfg: tiny_generator("stylegan3", resolution=32, seed=21, **kw) for cfg, kw in CONFIGS.items()}


def rt():
    return PlainRuntime("cpu", show_progress=False)


@pytest.mark.parametrize("cfg", list(CONFIGS))
def test_nvidia_pickle_loads_to_the_same_generator(cfg, generators, tmp_path):
    G = generators[cfg]
    marker = tmp_path / "ran.txt"
    path = write_stylegan3_pickle(G, tmp_path / f"stylegan3-{cfg}-ffhqu-32x32.pkl", marker=str(marker))
    loaded = load_generator(path)
    assert not marker.exists()  # the module source in the file was never run
    assert loaded.family == "stylegan3" and loaded.arch == G.arch and loaded.provenance["format"] == "stylegan3"
    assert loaded.fingerprint() == G.fingerprint()
    info = generator_info(loaded)
    assert (info["family"], info["config"], info["resolution"], info["num_ws"]) == ("stylegan3", cfg, 32, 8)
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0))
    ws = loaded.mapping(z, psi=0.7)
    expected = G.synthesis(G.mapping(z, psi=0.7))
    assert torch.equal(loaded.synthesis(ws), expected)
    out = save_generator(loaded, tmp_path / "converted.safetensors")
    again = load_generator(out)
    assert again.fingerprint() == G.fingerprint() and again.provenance["format"] == "stylegan3"
    assert torch.equal(again.synthesis(ws), expected)


@pytest.mark.parametrize("cfg,params", [("t", 22_313_167), ("r", 15_093_151)])
def test_released_1024_layouts(cfg, params):
    """NVIDIA's FFHQ 1024 configs (train.py: cbase 32768, cmax 512, doubled for R), worked out without weights."""
    base = 65536 if cfg == "r" else 32768
    arch = {"family": "stylegan3", "resolution": 1024, "mapping_layers": 2, "channel_base": base,
            "channel_max": base // 64, **CONFIGS[cfg]}
    shapes = state_shapes(arch)
    trainable = [k for k in shapes if not k.endswith(("filter", "magnitude_ema", "transform", "freqs", "phases"))
                 and k != "w_avg"]
    assert sum(math.prod(shapes[k]) for k in trainable) == params
    names = [s["name"] for s in layer_plan(normalize_arch(arch))[1]]
    assert len(names) + 1 == 16 and names[-2:] == ["L13_1024_32" if cfg == "t" else "L13_1024_64", "L14_1024_3"]
    assert shapes[f"synthesis_network.{names[0]}.weight"][2:] == ((3, 3) if cfg == "t" else (1, 1))


def test_filters_match_scipy_design():
    signal = pytest.importorskip("scipy.signal")
    special = pytest.importorskip("scipy.special")
    for taps, cutoff, width, fs in ((12, 2.0, 9.9, 32), (24, 5.6, 10.4, 64), (12, 512, 188.2, 2048)):
        ours = lowpass_filter(taps, cutoff, width, fs)
        ref = signal.firwin(numtaps=taps, cutoff=cutoff, width=width, fs=fs)
        np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-5, atol=1e-7)
        x = (np.arange(taps) - (taps - 1) / 2) / fs
        r = np.hypot(*np.meshgrid(x, x))
        f = special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
        w = np.kaiser(taps, signal.kaiser_beta(signal.kaiser_atten(taps, width / (fs / 2))))
        f *= np.outer(w, w)
        np.testing.assert_allclose(lowpass_filter(taps, cutoff, width, fs, radial=True).numpy(), f / f.sum(),
                                   rtol=1e-5, atol=1e-7)
    assert lowpass_filter(1, 2.0, 1.0, 16) is None


def literal_filtered_lrelu(x, fu, fd, up, down, pad, gain, slope, clamp):
    """Zero insertion, padding and full 2-D convolutions, in float64: the slow definition."""
    n, c, h, w = x.shape
    z = torch.zeros(n, c, h * up, w * up, dtype=x.dtype)
    z[:, :, ::up, ::up] = x
    z = F.pad(z, [pad[0], pad[1], pad[0], pad[1]])
    f2 = torch.outer(fu, fu) * up * up if fu.ndim == 1 else fu * up * up
    z = F.conv2d(z, f2.flip([0, 1]).to(x.dtype)[None, None].repeat(c, 1, 1, 1), groups=c)
    z = F.leaky_relu(z, slope) * gain
    z = z.clamp(-clamp, clamp)
    d2 = torch.outer(fd, fd) if fd.ndim == 1 else fd
    z = F.conv2d(z, d2.flip([0, 1]).to(x.dtype)[None, None].repeat(c, 1, 1, 1), groups=c)
    return z[:, :, ::down, ::down]


@pytest.mark.parametrize("up,pad,radial", [(2, (11, 10), False), (4, (-2, -5), False), (2, (-9, -10), False),
                                           (2, (11, 10), True), (4, (3, 0), True)])
def test_filtered_lrelu_equals_the_literal_definition(up, pad, radial):
    g = torch.Generator().manual_seed(up + pad[0])
    x = torch.randn(2, 3, 24, 24, generator=g, dtype=torch.float64) * 3
    fu = lowpass_filter(6 * up, 3.0, 4.0, 16.0 * up).double()
    fd = lowpass_filter(12, 3.5, 5.0, 16.0 * up, radial=radial).double()
    x.requires_grad_(True)
    ours = filtered_lrelu(x, fu, fd, up, 2, pad, gain=math.sqrt(2), slope=0.2, clamp=2.5)
    ref = literal_filtered_lrelu(x, fu, fd, up, 2, pad, math.sqrt(2), 0.2, 2.5)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)
    probe = torch.randn(ref.shape, generator=g, dtype=torch.float64)  # gradients too (training needs them)
    grad_ours, = torch.autograd.grad((ours * probe).sum(), x)
    grad_ref, = torch.autograd.grad((ref * probe).sum(), x)
    torch.testing.assert_close(grad_ours, grad_ref, rtol=0, atol=1e-12)


def test_first_layer_matches_nvidias_modulated_conv_formula(generators):
    """Weights and styles normalized, demodulated, input gain 1/sqrt(magnitude_ema), full padding, in float64."""
    G = generators["t"].double()
    try:
        syn = G.synthesis_network
        layer = getattr(syn, syn.layer_names[0])
        ws = G.mapping(torch.randn(2, G.z_dim, dtype=torch.float64, generator=torch.Generator().manual_seed(8)))
        x = syn.input(ws[:, 0])
        ours = layer(x, ws[:, 1])
        w, s = layer.weight, layer.affine(ws[:, 1])
        w = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
        s = s * s.square().mean().rsqrt()  # NVIDIA's: one scale for the whole batch, cancelled by demodulation
        wm = w[None] * s[:, None, :, None, None]
        wm = wm * (wm.square().sum([2, 3, 4]) + 1e-8).rsqrt()[:, :, None, None, None] * layer.magnitude_ema.rsqrt()
        y = torch.cat([F.conv2d(x[i:i + 1], wm[i], padding=2) for i in range(2)]) + layer.bias[None, :, None, None]
        sp = layer.spec
        ref = literal_filtered_lrelu(y, layer.up_filter, layer.down_filter, sp["up"], sp["down"], sp["padding"],
                                     math.sqrt(2), 0.2, 256.0)
        torch.testing.assert_close(ours, ref, rtol=0, atol=1e-10)
    finally:
        G.float()


def test_input_transform_pans_and_turns_the_fourier_features(generators):
    syn = generators["t"].synthesis_network
    w = generators["t"].mapping(torch.randn(3, 32, generator=torch.Generator().manual_seed(5)))[:, 0]
    base = syn.input(w)
    k = 3  # pan right by three samples of the input grid
    moved = syn.input(w, input_transform((k / syn.input.sampling_rate, 0.0)))
    torch.testing.assert_close(moved[..., k:], base[..., :-k], rtol=0, atol=2e-5)
    turned = syn.input(w, input_transform(rotate=90))  # the grid is symmetric: a quarter turn maps it onto itself
    torch.testing.assert_close(turned, torch.rot90(base, 1, dims=(2, 3)), rtol=0, atol=2e-5)
    assert not torch.allclose(turned, base, atol=1e-2)
    torch.testing.assert_close(syn.input(w, input_transform()), base, rtol=0, atol=1e-6)


def test_render_with_transform_and_family_check(generators):
    G = generators["t"]
    sg = StyleGAN(G, psi=0.8)
    plain = sg.sample([1, 2], rt())
    assert torch.equal(sg.sample([1, 2], rt(), transform=input_transform()), plain)
    moved = sg.sample([1, 2], rt(), transform=input_transform((0.25, 0.0), rotate=20))
    assert moved.shape == plain.shape and (moved - plain).abs().max() > 0.05
    per_image = torch.stack([input_transform((0.25, 0.0), rotate=20), torch.eye(3)])
    ws = sg.mapping(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(4)))
    both = G.synthesis(ws, transform=per_image)  # one image moved, one not: the batch path vs a single image
    torch.testing.assert_close(both[1:], G.synthesis(ws[1:]), rtol=0, atol=1e-5)
    sg2 = StyleGAN(tiny_generator("stylegan2", resolution=16, seed=1), name="sg2.pkl")
    with pytest.raises(FaceSpaceError, match="StyleGAN3 images only; sg2.pkl is a stylegan2"):
        sg2.sample([0], rt(), transform=input_transform(rotate=5))


def test_reduced_resolution_is_the_full_image_averaged(generators):
    G = generators["r"]
    ws = G.mapping(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(6)))
    full = G.synthesis(ws)
    torch.testing.assert_close(G.synthesis(ws, max_resolution=8), F.avg_pool2d(full, 4), rtol=0, atol=1e-6)


def test_single_image_and_batch_paths_agree_and_bf16_autocast_runs(generators):
    G = generators["t"]
    ws = G.mapping(torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(7)))
    batch = G.synthesis(ws)
    one = torch.cat([G.synthesis(ws[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(one, batch, rtol=0, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = G.synthesis(ws)
    assert torch.isfinite(low).all() and (low.float() - batch).abs().max() < 0.1


@pytest.mark.parametrize("what,kwargs,match", [
    ("unknown setting", {"shiny_new_option": 1}, r"unknown StyleGAN3 generator setting\(s\) \['shiny_new_option'\]"),
    ("unknown mapping setting", {"mapping_kwargs": {"num_layers": 2, "embed_features": 8}},
     r"unknown StyleGAN3 mapping setting\(s\) \['embed_features'\]"),
    ("conditional", {"c_dim": 10}, "class-conditional"),
    ("wrong layout", {"channel_base": 4096}, "lacks|unexpected"),
])
def test_files_we_would_render_wrongly_are_refused(what, kwargs, match, generators, tmp_path):
    G = generators["t"]
    kw = {**stylegan3_init_kwargs(G), **kwargs}
    path = write_stylegan3_pickle(G, tmp_path / "odd.pkl", init_kwargs=kw)
    with pytest.raises(ModelFormatError, match=match):
        load_generator(path)


def test_layer_groups_scale_to_stylegan3_layer_counts():
    assert {k: (r.start, r.stop) for k, r in layer_groups(16).items()} == {
        "coarse": (0, 4), "middle": (4, 7), "fine": (7, 16)}


def test_training_blends_and_morphs_on_stylegan3(generators):
    G = tiny_generator("stylegan3", resolution=16, seed=5)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        targets = native_to_image(G.synthesis(G.mapping(torch.randn(3, G.z_dim, generator=g), psi=0.6)))
    fs = train_facespace(StyleGAN(G), targets, "a, b, c", TrainSettings(steps=20, init_candidates=8),
                         rt())
    assert fs.num_ws == G.num_ws == 8
    recon = fs.stylegan.render(fs.face_wplus(), rt())
    err = (recon - targets).square().mean(dim=(1, 2, 3))
    assert (10 * torch.log10(1 / err)).min() > 20
    plan = plan_blends(fs.names, "a=0.5, b=0.5", group_weights={"fine": "c=1"}, num_ws=fs.num_ws)
    blends = render_blends(fs, plan, rt(), transform=input_transform((0.1, 0.0)))
    assert blends.shape == (1, 16, 16, 3)
    frames = render_morph(fs, MorphPlan([0, 1, 2], frames=2), rt())
    assert frames.shape[0] == 5


def test_cli_info_convert_and_sample_with_transform(generators, tmp_path, capsys):
    import json

    from facespace.cli import main

    G = generators["r"]
    pkl = write_stylegan3_pickle(G, tmp_path / "stylegan3-r-tiny.pkl")
    assert main(["info", str(pkl)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["family"], info["config"], info["num_ws"], info["format"]) == ("stylegan3", "r", 8, "stylegan3")
    assert list(info["channels"].values())[-1] == 3
    st = tmp_path / "g.safetensors"
    assert main(["convert", str(pkl), str(st)]) == 0
    moved, plain = tmp_path / "moved.npy", tmp_path / "plain.npy"
    assert main(["--device", "cpu", "sample", str(st), "--out", str(moved), "--translate", "0.1,-0.05",
                 "--rotate", "12"]) == 0
    assert main(["--device", "cpu", "sample", str(st), "--out", str(plain)]) == 0
    z = z_from_seeds([0], G.z_dim)
    expected = G.synthesis(G.mapping(z), transform=input_transform((0.1, -0.05), 12))
    torch.testing.assert_close(torch.from_numpy(np.load(moved)), expected, rtol=0, atol=1e-5)
    assert (torch.from_numpy(np.load(plain)) - expected).abs().max() > 1e-2
    sg2 = save_generator(tiny_generator("stylegan2", resolution=16, seed=2), tmp_path / "sg2.safetensors")
    capsys.readouterr()
    assert main(["--device", "cpu", "sample", str(sg2), "--out", str(tmp_path / "x.png"), "--rotate", "5"]) == 2
    assert "StyleGAN3 images only; sg2.safetensors is a stylegan2" in capsys.readouterr().err


@pytest.mark.parametrize("setting, value, named", [
    ("conv_clamp", math.inf, "conv_clamp"),
    ("first_cutoff", math.nan, "first_cutoff"),
    ("output_scale", 1e300, "output_scale"),
    ("mapping_kwargs", {"num_layers": 2, "lr_multiplier": 10 ** 400}, "lr_multiplier"),
    ("channel_base", "32768", "channel_base"),
])
def test_stylegan3_settings_out_of_range_are_refused_in_one_line(generators, tmp_path, setting, value, named):
    G = generators["t"]
    kwargs = stylegan3_init_kwargs(G)
    kwargs[setting] = value
    pkl = write_stylegan3_pickle(G, tmp_path / "bad.pkl", init_kwargs=kwargs)
    with pytest.raises(ModelFormatError, match=named) as info:
        load_generator(pkl)
    assert "\n" not in str(info.value)
