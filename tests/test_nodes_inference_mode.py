"""The nodes chained the way ComfyUI runs them: every node call inside torch.inference_mode().

ComfyUI executes each node under inference mode, so a generator loaded by one node is made of
inference tensors when the next node trains or renders with it. This runs the pack's whole path
(load -> sample -> train -> save -> load -> blend -> morph) like that, without a server.
"""
import pytest
import torch

from facespace.runtime import PlainRuntime
from facespace.stylegan import save_generator, tiny_generator


@pytest.fixture
def models(tmp_path, monkeypatch):
    from nodes import comfy

    monkeypatch.setattr(comfy, "_runtime", PlainRuntime("cpu", models_dir=tmp_path, show_progress=False))
    (tmp_path / "stylegan").mkdir()
    (tmp_path / "facespace").mkdir()
    save_generator(tiny_generator("stylegan2", resolution=32, seed=5), tmp_path / "stylegan" / "tiny.safetensors")
    return tmp_path


def run_node(cls, **inputs):
    """One node call as ComfyUI makes it; returns (result tuple, ui dict)."""
    node = cls()
    with torch.inference_mode():
        out = getattr(node, cls.FUNCTION)(**inputs)
    if isinstance(out, dict):
        return tuple(out.get("result", ())), out.get("ui", {})
    return out, {}


def test_the_node_path_runs_under_inference_mode(models):
    from nodes import NODE_CLASS_MAPPINGS as N

    (stylegan,), _ = run_node(N["FaceSpaceLoadStyleGAN"], model="tiny.safetensors")
    (faces,), _ = run_node(N["FaceSpaceSampleStyleGAN"], stylegan=stylegan, seed=0, batch_size=3)
    assert faces.shape == (3, 32, 32, 3)

    (trained,), ui = run_node(N["FaceSpaceTrainEncoder"], stylegan=stylegan, images=faces,
                              face_names="ann, bo, cy", steps=3)
    assert ui["facespace_names"] == ["ann", "bo", "cy"]
    _, ui = run_node(N["FaceSpaceSave"], facespace=trained, name="path_test")
    assert (models / "facespace" / "path_test.safetensors").is_file()

    (loaded,), ui = run_node(N["FaceSpaceLoad"], stylegan=stylegan, file="path_test.safetensors")
    assert ui["facespace_names"] == ["ann", "bo", "cy"]
    (blends, _info, chart, _latent), ui = run_node(N["FaceSpaceBlendWeights"], facespace=loaded, weights="ann=1, cy=1",
                                          mode="weights", count=1, seed=0, normalize=True)
    assert blends.shape == (1, 32, 32, 3) and chart.shape[0] == 1
    assert ui["facespace_weights"] == [pytest.approx([0.5, 0.0, 0.5])]
    (frames,), _ = run_node(N["FaceSpaceMorphSequence"], facespace=loaded, order="", frames_per_transition=2,
                            hold_frames=0, easing="linear", space="wplus", loop=False)
    assert frames.shape[1:] == (32, 32, 3) and torch.isfinite(frames).all()
