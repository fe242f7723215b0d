"""Generator contract: shapes, truncation, noise modes, early stop, fingerprint, native round trip, StyleGAN handle."""
import pytest
import torch

from facespace.errors import Cancelled, FaceSpaceError, ModelFormatError
from facespace.runtime import PlainRuntime, Progress
from facespace.stylegan import StyleGAN, build_generator, load_generator, save_generator, tiny_generator

FAMILIES = ["stylegan1", "stylegan2"]


@pytest.fixture(scope="module", params=FAMILIES)
def G(request):
    return tiny_generator(request.param, resolution=32, seed=1)


def test_shapes_and_num_ws(G):
    z = torch.randn(2, G.z_dim)
    ws = G.mapping(z)
    assert ws.shape == (2, G.num_ws, G.w_dim) == (2, 8, 32)
    img = G.synthesis(ws)
    assert img.shape == (2, 3, 32, 32) and img.dtype == torch.float32 and torch.isfinite(img).all()
    assert torch.equal(G(z, psi=1.0), img)


def test_truncation_moves_toward_w_avg_on_layers_below_cutoff(G):
    z = torch.randn(3, G.z_dim)
    full = G.mapping(z)
    half = G.mapping(z, psi=0.5, cutoff=3)
    torch.testing.assert_close(half[:, :3], G.w_avg + 0.5 * (full[:, :3] - G.w_avg))
    assert torch.equal(half[:, 3:], full[:, 3:])
    at_avg = G.mapping(z, psi=0.0)
    torch.testing.assert_close(at_avg, G.w_avg.expand_as(at_avg))


def test_noise_modes(G):
    ws = G.mapping(torch.randn(1, G.z_dim))
    const1, const2 = G.synthesis(ws, "const"), G.synthesis(ws, "const")
    assert torch.equal(const1, const2)
    torch.manual_seed(0)
    r1 = G.synthesis(ws, "random")
    r2 = G.synthesis(ws, "random")
    assert not torch.allclose(r1, r2)
    none = G.synthesis(ws, "none")
    assert not torch.allclose(none, const1)
    with pytest.raises(ValueError, match="noise mode"):
        G.synthesis(ws, "sometimes")


def test_max_resolution_stops_early_with_a_valid_image(G):
    ws = G.mapping(torch.randn(2, G.z_dim))
    for r in (4, 8, 16, 32, 64):
        img = G.synthesis(ws, max_resolution=r)
        assert img.shape[-1] == min(r, 32)
    # the early image is the full network's own image at that stage: cropping later layers must not change it
    G8 = build_generator({**G.arch, "resolution": 8})
    sd = {k: v for k, v in G.state_dict().items() if k in G8.state_dict()}
    G8.load_state_dict(sd)
    G8.w_avg.copy_(G.w_avg)
    torch.testing.assert_close(G8.synthesis(ws[:, :G8.num_ws]), G.synthesis(ws, max_resolution=8))


def test_fused_and_batched_modulation_agree(G):
    ws = G.mapping(torch.randn(3, G.z_dim))
    torch.testing.assert_close(G.synthesis(ws, fused=True), G.synthesis(ws, fused=False), atol=1e-4, rtol=1e-4)


def test_fingerprint_stable_and_weight_sensitive(G):
    fp = G.fingerprint()
    assert fp == tiny_generator(G.family, 32, seed=1).fingerprint() and len(fp) == 16
    other = tiny_generator(G.family, 32, seed=2)
    assert other.fingerprint() != fp


def test_fingerprint_is_cached_until_a_weight_changes(monkeypatch):
    G = tiny_generator("stylegan2", 16, seed=11)
    hashes = []
    real = G._hash_weights
    monkeypatch.setattr(G, "_hash_weights", lambda: hashes.append(1) or real())
    fp = G.fingerprint()
    assert G.fingerprint() == fp and len(hashes) == 1
    G.half()  # moves and casts keep the digest of the weights as loaded, without hashing again
    assert G.fingerprint() == fp and len(hashes) == 1 and G.w_avg.dtype == torch.float16
    G.float()
    with torch.no_grad():
        G.synthesis_network.b8.conv1.weight.add_(1.0)
    changed = G.fingerprint()
    assert changed != fp and len(hashes) == 2
    G.w_avg = G.w_avg.clone()  # replaced tensor, same values
    assert G.fingerprint() == changed and len(hashes) == 3
    fresh = tiny_generator("stylegan2", 16, seed=11)
    with torch.inference_mode():  # inference tensors keep no version counter
        G.double().float()
        assert G.w_avg.is_inference()
        G.load_state_dict(fresh.state_dict())
        assert G.fingerprint() == fp
        G.load_state_dict(tiny_generator("stylegan2", 16, seed=12).state_dict())
        assert G.fingerprint() == tiny_generator("stylegan2", 16, seed=12).fingerprint() != fp


def test_fingerprint_without_cache_ignores_device_and_precision():
    G = tiny_generator("stylegan1", 16, seed=13)
    fp = G.fingerprint()
    assert tiny_generator("stylegan1", 16, seed=13).double().fingerprint() == fp


def test_native_round_trip_and_no_silent_overwrite(G, tmp_path):
    path = tmp_path / "g.safetensors"
    save_generator(G, path)
    G2 = load_generator(path)
    assert G2.arch == G.arch and G2.fingerprint() == G.fingerprint()
    ws = G.mapping(torch.randn(2, G.z_dim))
    assert torch.equal(G2.synthesis(ws), G.synthesis(ws))
    assert G2.provenance["file"] == "g.safetensors"
    with pytest.raises(FaceSpaceError, match="already exists"):
        save_generator(G, path)
    save_generator(G, path, overwrite=True)


def test_foreign_safetensors_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(ModelFormatError, match="other.safetensors"):
        load_generator(path)


class CountingRuntime(PlainRuntime):
    def __init__(self, cancel_after=None):
        super().__init__("cpu", show_progress=False)
        self.updates, self.cancel_after, self.checks = [], cancel_after, 0

    def progress(self, total, desc=""):
        rt = self

        class P(Progress):
            def update(self, n=1, preview=None, status=None):
                rt.updates.append((n, preview.size if preview is not None else None))

        return P(total, desc)

    def check_cancel(self):
        self.checks += 1
        if self.cancel_after is not None and self.checks > self.cancel_after:
            raise Cancelled("cancelled by the user")


@pytest.mark.parametrize("family", FAMILIES)
def test_stylegan_render_and_sample(family):
    G = tiny_generator(family, resolution=16, seed=3)
    sg = StyleGAN(G, psi=0.5, cutoff=None, noise_mode="const", name="tiny")
    rt = CountingRuntime()
    ws = G.mapping(torch.randn(5, G.z_dim))
    img = sg.render(ws, runtime=rt, batch_size=2)
    assert img.shape == (5, 16, 16, 3) and img.dtype == torch.float32 and img.device.type == "cpu"
    assert 0 <= img.min() and img.max() <= 1
    assert [n for n, _ in rt.updates] == [2, 2, 1] and rt.updates[0][1] == (16, 16)
    expected = ((G.synthesis(ws) + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1)
    torch.testing.assert_close(img, expected, atol=1e-5, rtol=1e-5)
    a = sg.sample([7, 8], runtime=rt)
    b = sg.sample([7], runtime=rt)
    assert a.shape == (2, 16, 16, 3) and torch.allclose(a[:1], b, atol=1e-5)
    assert not torch.allclose(a[0], a[1])
    with pytest.raises(Cancelled):
        sg.render(ws, runtime=CountingRuntime(cancel_after=1), batch_size=2)


def test_render_fills_one_batch_under_one_named_bar(monkeypatch):
    G = tiny_generator("stylegan2", resolution=8, seed=4)
    sg = StyleGAN(G, name="tiny")
    bars = []
    rt = PlainRuntime("cpu", show_progress=False)
    monkeypatch.setattr(rt, "progress", lambda total, desc="": bars.append((total, desc)) or Progress(total, desc))
    monkeypatch.setattr(torch, "cat", None)  # chunks are written into the output, never joined afterwards
    ws = G.mapping(torch.randn(5, G.z_dim))
    img = sg.render(ws, runtime=rt, batch_size=2, desc="morph")
    assert img.shape == (5, 8, 8, 3) and bars == [(5, "morph")]
    assert sg.render(ws[:0], runtime=rt).shape == (0, 8, 8, 3) and bars[-1] == (0, "render tiny")
    monkeypatch.undo()
    torch.testing.assert_close(img, sg.render(ws, batch_size=5), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_gradients_flow_to_latents_after_loading_under_inference_mode(family, tmp_path):
    """ComfyUI runs nodes under inference_mode; training later needs gradients through the generator."""
    path = save_generator(tiny_generator(family, resolution=16, seed=5), tmp_path / "g.safetensors")
    with torch.inference_mode():
        G = load_generator(path)
        G.synthesis(G.mapping(torch.randn(1, G.z_dim)))  # fills the frozen-weight caches in inference mode
        with torch.inference_mode(False), torch.enable_grad():
            ws = G.mapping(torch.randn(2, G.z_dim)).clone().requires_grad_(True)
            G.synthesis(ws, max_resolution=8).square().mean().backward()
    assert ws.grad is not None and ws.grad.shape == ws.shape and ws.grad.abs().sum() > 0
    assert ws.grad[:, G.num_ws - 1].abs().sum() == 0  # layers past 8 px take no part


@pytest.mark.parametrize("family", FAMILIES)
def test_gradient_matches_finite_differences(family):
    """Directional derivative of a loss through synthesis (float64): autograd vs central differences."""
    G = tiny_generator(family, resolution=16, seed=6).double()
    ws = G.mapping(torch.randn(2, G.z_dim, dtype=torch.float64))
    target = torch.randn(2, 3, 16, 16, dtype=torch.float64)

    def loss(w):
        return (G.synthesis(w) - target).square().mean()

    w = ws.clone().requires_grad_(True)
    loss(w).backward()
    v = torch.randn_like(ws)
    eps = 1e-6
    numeric = (loss(ws + eps * v) - loss(ws - eps * v)) / (2 * eps)
    torch.testing.assert_close((w.grad * v).sum(), numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("family", FAMILIES)
def test_weight_changes_are_seen_by_cached_kernels(family):
    G = tiny_generator(family, resolution=16, seed=7)
    ws = G.mapping(torch.randn(1, G.z_dim))
    before = G.synthesis(ws)
    G.load_state_dict(tiny_generator(family, resolution=16, seed=8).state_dict())
    after = G.synthesis(ws)
    fresh = tiny_generator(family, resolution=16, seed=8).synthesis(ws)
    assert not torch.allclose(before, after) and torch.equal(after, fresh)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_reduced_precision_under_autocast(family, dtype):
    """The GPU precision option runs synthesis under autocast; wide layers must not overflow in float16."""
    G = tiny_generator(family, resolution=16, seed=9, channels={4: 512, 8: 512, 16: 256}, w_dim=64, z_dim=64)
    ws = G.mapping(torch.randn(2, G.z_dim))
    ref = G.synthesis(ws)
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype):
        out = G.synthesis(ws)
    assert out.dtype == dtype and torch.isfinite(out).all()
    assert (out.float() - ref).abs().max() < 0.05 * ref.abs().max()
    sg = StyleGAN(G, psi=1.0, dtype=dtype)  # on the CPU rendering stays float32
    img = sg.render(ws, runtime=PlainRuntime("cpu", show_progress=False))
    torch.testing.assert_close(img, ((ref + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_instance_norm_style_gradient(layout):
    from facespace.stylegan.stylegan1 import InstanceNormStyle

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64, generator=g).contiguous(memory_format=layout).requires_grad_(True)
    gain = (torch.rand(2, 3, 1, 1, dtype=torch.float64, generator=g) + 0.5).requires_grad_(True)
    shift = torch.randn(2, 3, 1, 1, dtype=torch.float64, generator=g).requires_grad_(True)
    assert torch.autograd.gradcheck(InstanceNormStyle.apply, (x, gain, shift))
    expected = torch.nn.functional.instance_norm(x.detach(), eps=1e-8) * gain.detach() + shift.detach()
    torch.testing.assert_close(InstanceNormStyle.apply(x, gain, shift).detach(), expected)
