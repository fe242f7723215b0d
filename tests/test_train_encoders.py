"""Encoders: sizes from the generator, the original MLP's structure, the linear encoder's exact convexity."""
import pytest
import torch

from facespace.errors import ModelFormatError
from facespace.train import LinearEncoder, MLPEncoder, build_encoder, make_encoder
from facespace.space.encoders import EqualizedLinear


def test_mlp_has_the_original_widths_and_output_shape():
    enc = MLPEncoder(num_faces=8, num_ws=18, w_dim=512)
    widths = [(layer.weight.shape[1], layer.weight.shape[0]) for layer in enc.layers]
    assert widths == [(8, 8), (8, 64), (64, 128), (128, 256), (256, 512), (512, 512), (512, 18 * 512)]
    assert all(isinstance(layer, EqualizedLinear) for layer in enc.layers)
    out = enc(torch.eye(8)[:3])
    assert out.shape == (3, 18, 512) and out.dtype == torch.float32
    assert MLPEncoder(100, 4, 8).kwargs["hidden"][0] == 64  # min(N, 64)


def test_mlp_pixelnorm_makes_scaled_codes_the_same_blend():
    enc = make_encoder("mlp", 4, 6, 16, seed=3)
    a = torch.tensor([[0.5, 0.5, 0.0, 0.0]])
    assert torch.allclose(enc(a), enc(2 * a), atol=1e-5)
    assert not torch.allclose(enc(a), enc(torch.tensor([[1.0, 0.0, 0.0, 0.0]])), atol=1e-3)


def test_mlp_is_not_linear_in_its_codes():
    enc = make_encoder("mlp", 3, 4, 8, seed=0)
    e = torch.eye(3)
    mix = enc(torch.tensor([[0.3, 0.7, 0.0]]))
    convex = 0.3 * enc(e[:1]) + 0.7 * enc(e[1:2])
    assert (mix - convex).abs().max() > 1e-3


def test_linear_encoder_blend_is_the_convex_combination_of_face_codes():
    torch.manual_seed(0)
    w_avg = torch.randn(16)
    enc = make_encoder("linear", 5, 6, 16, w_avg=w_avg)
    assert torch.allclose(enc(torch.zeros(1, 5)), w_avg.expand(6, 16)[None])  # no face = the mean face
    faces = torch.randn(5, 6, 16)
    enc.set_face_codes(faces)
    assert torch.allclose(enc(torch.eye(5)), faces, atol=1e-6)
    a = torch.rand(7, 5)
    a = a / a.sum(1, keepdim=True)
    expected = torch.einsum("bn,nlc->blc", a, faces)
    assert torch.allclose(enc(a), expected, atol=1e-5)
    # A combination of two blends is the blend of the combined weights (it is affine in the codes).
    assert torch.allclose(enc(0.25 * a[:1] + 0.75 * a[1:2]), 0.25 * enc(a[:1]) + 0.75 * enc(a[1:2]), atol=1e-5)


def test_build_encoder_rebuilds_from_kind_and_kwargs():
    for kind in ("mlp", "linear"):
        enc = make_encoder(kind, 3, 4, 8, w_avg=torch.ones(8), seed=1)
        twin = build_encoder(kind, **enc.kwargs)
        twin.load_state_dict(enc.state_dict())
        codes = torch.rand(2, 3)
        assert torch.equal(twin(codes), enc(codes))
    with pytest.raises(ModelFormatError, match="unknown encoder kind"):
        build_encoder("transformer", num_faces=3)


def test_seeded_encoders_are_identical():
    a, b = make_encoder("mlp", 3, 4, 8, seed=5), make_encoder("mlp", 3, 4, 8, seed=5)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert isinstance(make_encoder("linear", 3, 4, 8), LinearEncoder)
