"""The BlendWeights and MorphSequence nodes as ComfyUI calls them (no ComfyUI needed)."""
import pytest
import torch

from facespace.blend import format_weights, parse_weights
from facespace.errors import UnknownFaceError, WeightsError
from node_util import defaults
from nodes.blend import FaceSpaceBlendWeights
from nodes.morph import FaceSpaceMorphSequence
from test_blend import make_rendering_facespace


@pytest.fixture(scope="module")
def fs():
    return make_rendering_facespace("linear", n=4)


def call(node_cls, **inputs):
    node = node_cls()
    with torch.inference_mode():  # as ComfyUI runs every node
        return getattr(node, node_cls.FUNCTION)(**inputs)


def assert_comfy_image(t, n=None):
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.device.type == "cpu"
    assert t.ndim == 4 and t.shape[-1] == 3 and t.min() >= 0 and t.max() <= 1
    if n is not None:
        assert t.shape[0] == n


def test_blend_node_outputs_images_weights_and_charts(fs):
    out = call(FaceSpaceBlendWeights, **defaults(FaceSpaceBlendWeights, facespace=fs, weights="anna=0.6, bea=0.4"))
    images, info, charts, latent = out["result"]
    assert torch.equal(latent.wplus, fs.encode(torch.tensor([[0.6, 0.4, 0, 0]])))
    assert latent.labels == ("blend",) and latent.generator_fingerprint == fs.generator_fingerprint
    assert latent.weights[0]["names"] == fs.names and latent.weights[0]["weights"] == pytest.approx([0.6, 0.4, 0, 0])
    assert_comfy_image(images, 1)
    assert_comfy_image(charts, 1)
    assert images.shape[1:3] == (32, 32) and charts.shape[2] >= 32 and charts.shape[1] > charts.shape[2]
    assert info["names"] == fs.names and info["weights"] == [pytest.approx([0.6, 0.4, 0, 0])]
    assert out["ui"] == {"facespace_names": fs.names, "facespace_weights": info["weights"]}
    expected = fs.stylegan.render(fs.encode(torch.tensor([[0.6, 0.4, 0, 0]])))
    assert torch.allclose(images, expected, atol=1e-5)
    # The face sits at the bottom of its chart picture, enlarged to the chart's width.
    assert charts[0, -charts.shape[2]:].mean() == pytest.approx(
        torch.nn.functional.interpolate(images.permute(0, 3, 1, 2), size=charts.shape[2], mode="bilinear")
        .mean().item(), abs=0.02)


def test_blend_node_random_batch_and_groups(fs):
    out = call(FaceSpaceBlendWeights, **defaults(FaceSpaceBlendWeights, facespace=fs, mode="random", count=3,
                                                 seed=11, coarse_weights="dora=1"))
    images, info, charts, latent = out["result"]
    assert latent.labels == ("blend 1", "blend 2", "blend 3")
    assert latent.weights[2]["groups"]["coarse"]["weights"] == [0, 0, 0, 1.0]
    assert torch.allclose(latent.render(fs.stylegan), images, atol=1e-6)
    assert_comfy_image(images, 3)
    assert_comfy_image(charts, 3)
    assert len(out["ui"]["facespace_weights"]) == 3
    assert all(sum(row) == pytest.approx(1) for row in info["weights"])
    assert info["groups"]["coarse"]["weights"][0] == [0, 0, 0, 1.0]
    again = call(FaceSpaceBlendWeights, **defaults(FaceSpaceBlendWeights, facespace=fs, mode="random", count=3,
                                                   seed=11, coarse_weights="dora=1"))
    assert torch.equal(again["result"][0], images)


def test_blend_node_errors_name_the_problem(fs):
    with pytest.raises(UnknownFaceError, match="anna, bea, carla, dora"):
        call(FaceSpaceBlendWeights, **defaults(FaceSpaceBlendWeights, facespace=fs, weights="zoe=1"))
    with pytest.raises(WeightsError, match="fine_weights"):
        call(FaceSpaceBlendWeights, **defaults(FaceSpaceBlendWeights, facespace=fs, fine_weights="anna=-1"))


def test_slider_text_round_trips_through_the_node(fs):
    text = format_weights(fs.names, [0.1, 0.2, 0.3, 0.4])
    out = call(FaceSpaceBlendWeights, **defaults(FaceSpaceBlendWeights, facespace=fs, weights=text, normalize=False))
    assert format_weights(fs.names, out["ui"]["facespace_weights"][0]) == text
    assert parse_weights(text, fs.names) == pytest.approx(out["result"][1]["weights"][0])


def test_morph_node_outputs_one_frame_batch(fs):
    out = call(FaceSpaceMorphSequence, **defaults(FaceSpaceMorphSequence, facespace=fs, order="bea, dora",
                                                  frames_per_transition=4, hold_frames=1, loop=True))
    (frames,) = out
    assert_comfy_image(frames, 2 * (4 + 1))
    faces = fs.stylegan.render(fs.face_wplus())
    assert torch.allclose(frames[0], faces[1], atol=1e-5) and torch.allclose(frames[5], faces[3], atol=1e-5)
    default_order = call(FaceSpaceMorphSequence, **defaults(FaceSpaceMorphSequence, facespace=fs,
                                                            frames_per_transition=2))[0]
    assert_comfy_image(default_order, 3 * 2 + 1)
    assert torch.allclose(default_order[::2], faces, atol=1e-5), "default order = every face, training order"
