"""The fast synthesis paths compute what NVIDIA's graphs compute: folded up-convolutions, in-place epilogues,
gain folded into the epilogue, weights stored in the layout the convolutions read."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from facespace.stylegan import load_generator, save_generator, tiny_generator
from facespace.stylegan import layers
from facespace.stylegan.layers import make_filter
from facespace.stylegan.stylegan1 import ConvLayer, Epilogue, nhwc_moments

CL = torch.channels_last


def blur121(x):
    f = make_filter([1, 2, 1]).to(x.dtype)[None, None].expand(x.shape[1], 1, 3, 3)
    return F.conv2d(x, f, padding=1, groups=x.shape[1])


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("layout", [CL, torch.contiguous_format])
def test_stylegan1_up_layer_equals_nvidia_ops(fused, layout):
    """Fused: transposed conv with the 3x3 kernel summed over 2x2 shifts, then blur; otherwise nearest
    upscale, 3x3 conv, blur. Ours: transposed 3x3 conv + one 4x4 FIR with its edges corrected."""
    torch.manual_seed(0)
    conv = ConvLayer(6, 5, up=True, fused_up=fused).double()
    x = torch.randn(2, 6, 7, 7, dtype=torch.float64).contiguous(memory_format=layout)
    bias = torch.randn(5, dtype=torch.float64)
    w = conv.weight.detach() * conv.weight_gain
    if fused:
        k = F.pad(w.transpose(0, 1), [1, 1, 1, 1])
        k = k[:, :, 1:, 1:] + k[:, :, :-1, 1:] + k[:, :, 1:, :-1] + k[:, :, :-1, :-1]
        expected = blur121(F.conv_transpose2d(x, k, stride=2, padding=1))
    else:
        expected = blur121(F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), w, padding=1))
    expected = expected + bias.reshape(1, -1, 1, 1)
    up_filter = make_filter(np.convolve([1.0, 1.0], [1.0, 2.0, 1.0])).double()
    ours = conv(x, bias, up_filter, 0.25) * conv.weight_gain
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("noise_mode", ["const", "random", "none"])
def test_epilogue_in_place_and_autograd_paths_equal_the_formula(noise_mode, monkeypatch):
    """noise -> bias -> lrelu -> instance norm (eps 1e-8) -> style, with the conv's weight gain g handed over."""
    monkeypatch.setattr(layers, "ROWS_ELEMENTS", 64)  # several row slices even on a small image
    torch.manual_seed(1)
    c, r, g = 4, 8, 0.05
    epi = Epilogue(c, 16, r).double().requires_grad_(False)
    with torch.no_grad():
        for p in epi.parameters():
            p.copy_(torch.randn_like(p))
    w = torch.randn(2, 16, dtype=torch.float64)
    x = torch.randn(2, c, r, r, dtype=torch.float64).contiguous(memory_format=CL) * 3 + 1  # conv output / g
    pre = x * g + epi.bias.reshape(1, c, 1, 1)
    torch.manual_seed(5)
    if noise_mode == "random":
        pre = pre + torch.randn(2, 1, r, r, dtype=torch.float64) * epi.noise_weight.reshape(1, c, 1, 1)
    elif noise_mode == "const":
        pre = pre + epi.noise_const * epi.noise_weight.reshape(1, c, 1, 1)
    a = F.leaky_relu(pre, 0.2)
    a = (a - a.mean((2, 3), keepdim=True)) / (a.var((2, 3), keepdim=True, unbiased=False) + 1e-8).sqrt()
    s = epi.style(w)
    expected = a * (s[:, :c, None, None] + 1) + s[:, c:, None, None]
    conv_out = x + (epi.bias / g).reshape(1, c, 1, 1)  # what ConvLayer hands over: bias / g added
    results = []
    for grad in (False, True):
        torch.manual_seed(5)
        inp = conv_out.clone().requires_grad_(grad)
        with torch.set_grad_enabled(grad):
            out = epi(inp * 1.0, w, noise_mode, gain=g)  # a fresh tensor, as a convolution hands over
        assert out.is_contiguous(memory_format=CL)
        results.append(out.detach())
    torch.testing.assert_close(results[0], expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(results[1], expected, rtol=1e-10, atol=1e-10)


def test_moments_stay_accurate_when_the_mean_dwarfs_the_spread(monkeypatch):
    monkeypatch.setattr(layers, "ROWS_ELEMENTS", 256)
    x = torch.randn(2, 64, 64, 3) + torch.tensor([1e3, -2e3, 0.5])
    mean, var = nhwc_moments(x)
    x64 = x.double()
    torch.testing.assert_close(mean.double(), x64.mean((1, 2)), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(var.double(), x64.var((1, 2), unbiased=False), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("family", ["stylegan1", "stylegan2"])
@pytest.mark.parametrize("batch", [1, 3])
def test_inference_and_gradient_paths_render_the_same(family, batch):
    """In-place epilogues (no gradient) and the autograd paths (gradient to the latents) agree."""
    G = tiny_generator(family, resolution=32, seed=2)
    ws = G.mapping(torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(3)))
    with torch.no_grad():
        fast = G.synthesis(ws)
    tracked = G.synthesis(ws.clone().requires_grad_(True))
    assert tracked.requires_grad and fast.is_contiguous() and tracked.is_contiguous()
    torch.testing.assert_close(fast, tracked.detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", ["stylegan1", "stylegan2"])
def test_weights_keep_the_convolution_layout_through_save_and_load(family, tmp_path):
    G = load_generator(save_generator(tiny_generator(family, resolution=16, seed=4), tmp_path / "g.safetensors"))
    b8 = G.synthesis_network.b8
    assert b8.conv1.weight.is_contiguous(memory_format=CL)
    assert b8.conv0.weight.transpose(0, 1).is_contiguous(memory_format=CL)  # what the transposed conv reads
    G2 = G.to(torch.float64)
    assert G2.synthesis_network.b8.conv0.weight.transpose(0, 1).is_contiguous(memory_format=CL)


@pytest.mark.parametrize("up", [False, True])
@pytest.mark.parametrize("noise_mode", ["const", "random", "none"])
def test_stylegan2_layer_gradients_equal_autograd_of_the_plain_ops(up, noise_mode, monkeypatch):
    """With frozen weights the layer runs as one autograd Function; with trainable weights as plain ops."""
    from facespace.stylegan.stylegan2 import SynthesisLayer

    monkeypatch.setattr(layers, "ROWS_ELEMENTS", 64)
    torch.manual_seed(2)
    layer = SynthesisLayer(6, 5, 8, 16 if up else 8, up=up).double()
    with torch.no_grad():
        layer.bias.normal_()
        layer.noise_strength.fill_(0.7)
    filt = make_filter([1, 3, 3, 1]).double()
    x0 = torch.randn(2, 6, 8, 8, dtype=torch.float64).contiguous(memory_format=CL)
    w0 = torch.randn(2, 8, dtype=torch.float64)
    target = torch.randn(2, 5, 16 if up else 8, 16 if up else 8, dtype=torch.float64)
    grads = []
    for trainable in (False, True):
        layer.requires_grad_(trainable)
        x, w = x0.clone().requires_grad_(True), w0.clone().requires_grad_(True)
        torch.manual_seed(9)
        out = layer(x, w, noise_mode, filt)
        assert layer._gradient_to_inputs_only(x, w, None) is not trainable
        (out * target).sum().backward()
        grads.append((out.detach(), x.grad, w.grad))
    for fast, plain in zip(*grads):
        torch.testing.assert_close(fast, plain, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("fused", [True, False])
def test_stylegan1_up_layer_gradient_equals_autograd_of_the_plain_ops(fused):
    torch.manual_seed(3)
    conv = ConvLayer(6, 5, up=True, fused_up=fused).double()
    up_filter = make_filter(np.convolve([1.0, 1.0], [1.0, 2.0, 1.0])).double()
    x0 = torch.randn(2, 6, 7, 7, dtype=torch.float64).contiguous(memory_format=CL)
    target = torch.randn(2, 5, 14, 14, dtype=torch.float64)
    bias = torch.randn(5, dtype=torch.float64)
    grads = []
    for trainable in (False, True):  # frozen: UpConvFIR; trainable: plain ops with in-place edge updates
        conv.requires_grad_(trainable)
        x = x0.clone().requires_grad_(True)
        out = conv(x, bias, up_filter, 0.25)
        (out * target).sum().backward()
        grads.append((out.detach(), x.grad))
    for fast, plain in zip(*grads):
        torch.testing.assert_close(fast, plain, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("layout", [CL, torch.contiguous_format])
def test_instance_norm_style_with_leaky_relu_gradient(layout, monkeypatch):
    from facespace.stylegan.stylegan1 import InstanceNormStyle

    monkeypatch.setattr(layers, "ROWS_ELEMENTS", 6)  # row slices in the backward sums
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64, generator=g).contiguous(memory_format=layout).requires_grad_(True)
    gain = (torch.rand(2, 3, 1, 1, dtype=torch.float64, generator=g) + 0.5).requires_grad_(True)
    shift = torch.randn(2, 3, 1, 1, dtype=torch.float64, generator=g).requires_grad_(True)
    fn = lambda a, b, c: InstanceNormStyle.apply(a, b, c, 1e-8, 0.2)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, gain, shift))
    act = F.leaky_relu(x.detach(), 0.2)
    expected = F.instance_norm(act, eps=1e-8) * gain.detach() + shift.detach()
    torch.testing.assert_close(fn(x, gain, shift).detach(), expected)
