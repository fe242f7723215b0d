"""The pack inside a real ComfyUI server: the shipped workflows run end to end on a tiny generator.

Runs only where a ComfyUI checkout is given:
    COMFYUI_DIR=/path/to/ComfyUI COMFYUI_PYTHON=/path/to/ComfyUI/venv/bin/python pytest tests/test_comfyui_server.py
The server listens on 127.0.0.1 only, uses temporary folders for models, input and output, and is
stopped at the end. Its log is printed when something fails.
"""
from __future__ import annotations

import copy
import io
import json
import urllib.error
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from comfyui_server_util import PACK_LINK_NAME, ComfyServer, comfyui_from_env
from workflow_util import load_workflow, shipped_workflows, workflow_to_prompt

FOUND = comfyui_from_env()
pytestmark = pytest.mark.skipif(isinstance(FOUND, str), reason=FOUND if isinstance(FOUND, str) else "")

DATA = Path(__file__).resolve().parent / "data"
PHOTOS = ("astronaut.png", "grace_hopper.jpg")
GENERATOR_FILE = "tiny_stylegan2_32.safetensors"
FACESPACE_NAME = "server_test_faces"
PACK_NODES = {"FaceSpaceLoadStyleGAN", "FaceSpaceSampleStyleGAN", "FaceSpaceAlignFaces", "FaceSpaceTrainEncoder",
              "FaceSpaceSave", "FaceSpaceLoad", "FaceSpaceBlendWeights", "FaceSpaceMorphSequence",
              "FaceSpaceRandomLatent", "FaceSpaceProjectImage", "FaceSpaceMixLatents", "FaceSpaceEditLatent",
              "FaceSpaceJoinLatents", "FaceSpaceRenderLatent", "FaceSpaceSaveLatent", "FaceSpaceLoadLatent"}
RUN_TIMEOUT = 300


def painting(size: int) -> Image.Image:
    """A stand-in painting: swirling bands of strong colour (the test generator knows no real styles anyway)."""
    import numpy as np

    y, x = np.mgrid[0:size, 0:size] / size - 0.5
    angle = np.arctan2(y, x) + 6 * np.hypot(x, y)
    rgb = np.stack([np.sin(5 * angle), np.sin(5 * angle + 2), np.cos(9 * np.hypot(x, y))], axis=-1)
    return Image.fromarray(((rgb + 1) * 127.5).astype("uint8"))


def workflow_with(*node_types: str) -> dict:
    for path in shipped_workflows():
        workflow = load_workflow(path)
        if set(node_types) <= {n["type"] for n in workflow["nodes"]}:
            return workflow
    raise AssertionError(f"no shipped workflow uses {node_types}")


def set_inputs(prompt: dict, class_type: str, **values) -> None:
    nodes = [n for n in prompt.values() if n["class_type"] == class_type]
    assert nodes, f"the prompt has no {class_type}"
    for node in nodes:
        node["inputs"].update(values)


def images_of(entry: dict, class_type: str, prompt: dict) -> list[dict]:
    return [img for node_id, out in entry["outputs"].items() if prompt[node_id]["class_type"] == class_type
            for img in out.get("images", [])]


def ui_of(entry: dict, class_type: str, prompt: dict) -> dict:
    found = [out for node_id, out in entry["outputs"].items() if prompt[node_id]["class_type"] == class_type]
    assert found, f"no ui output from {class_type}; outputs: {list(entry['outputs'])}"
    return found[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from facespace.stylegan import save_generator, tiny_generator

    root = tmp_path_factory.mktemp("comfyui")
    srv = ComfyServer(*FOUND, root)
    generator = tiny_generator("stylegan2", resolution=32, seed=3)
    save_generator(generator, srv.paths["models"] / "stylegan" / GENERATOR_FILE)
    photos = root / "photos"
    photos.mkdir()
    for name in PHOTOS:  # each photo and its mirror image: four faces
        image = Image.open(DATA / name).convert("RGB")
        stem = Path(name).stem
        image.save(photos / f"{stem}.png")
        ImageOps.mirror(image).save(photos / f"{stem}_mirrored.png")
    srv.photos = photos
    painting(64).save(srv.paths["input"] / "painting.png")
    with srv:
        yield srv


@pytest.fixture(scope="module")
def object_info(server):
    return server.get_json("/object_info")


@pytest.fixture(scope="module")
def trained(server, object_info):
    """Workflow 1 (photos -> align -> train -> blends -> save) on the tiny generator; its /history entry."""
    prompt = workflow_to_prompt(workflow_with("FaceSpaceTrainEncoder", "FaceSpaceSave"), object_info)
    set_inputs(prompt, "FaceSpaceLoadStyleGAN", model=GENERATOR_FILE)
    set_inputs(prompt, "FaceSpaceAlignFaces", folder=str(server.photos), backend="dlib")
    set_inputs(prompt, "FaceSpaceTrainEncoder", steps=20, resolution=0)
    set_inputs(prompt, "FaceSpaceSave", name=FACESPACE_NAME, overwrite=True)
    return prompt, server.run(prompt, timeout=RUN_TIMEOUT)


def test_pack_and_its_front_end_load(server, object_info):
    missing = PACK_NODES - set(object_info)
    assert not missing, f"nodes not registered: {missing}\n{server.log_tail()}"
    assert object_info["FaceSpaceBlendWeights"]["display_name"] == "BlendWeights"
    scripts = server.get_json("/extensions")
    ours = [s for s in scripts if s.startswith(f"/extensions/{PACK_LINK_NAME}/")]
    assert f"/extensions/{PACK_LINK_NAME}/facespace.js" in ours, scripts
    web = Path(__file__).resolve().parents[1] / "web" / "js"
    assert sorted(Path(s).name for s in ours) == sorted(p.name for p in web.glob("*.js"))
    for script in ours:
        assert server.get_bytes(script) == (web / Path(script).name).read_bytes()
    assert GENERATOR_FILE in object_info["FaceSpaceLoadStyleGAN"]["input"]["required"]["model"][0]


def test_templates_are_served_with_thumbnails(server):
    templates = server.get_json("/api/workflow_templates")
    names = sorted(templates.get(PACK_LINK_NAME, []))
    assert names == sorted(p.stem for p in shipped_workflows()), templates
    for name in names:
        workflow = json.loads(server.get_bytes(f"/api/workflow_templates/{PACK_LINK_NAME}/{name}.json"))
        assert workflow["nodes"]
        thumb = Image.open(io.BytesIO(server.get_bytes(f"/api/workflow_templates/{PACK_LINK_NAME}/{name}.jpg")))
        assert thumb.format == "JPEG"


def test_train_blend_and_save_workflow(server, trained):
    prompt, entry = trained
    charts = images_of(entry, "SaveImage", prompt)
    assert len(charts) >= 2, entry["outputs"]  # the blend and its chart
    for image in charts:
        with Image.open(io.BytesIO(server.view(image))) as im:
            assert im.size[0] >= 32 and im.size[1] >= 32
    ui = ui_of(entry, "FaceSpaceBlendWeights", prompt)
    names = ui["facespace_names"]
    assert names == ["astronaut", "astronaut_mirrored", "grace_hopper", "grace_hopper_mirrored"]
    assert len(ui["facespace_weights"]) == 1 and len(ui["facespace_weights"][0]) == len(names)
    assert ui_of(entry, "FaceSpaceTrainEncoder", prompt)["facespace_names"] == names
    saved = server.paths["models"] / "facespace" / f"{FACESPACE_NAME}.safetensors"
    assert saved.is_file()
    answer = server.get_json(f"/facespace/names?file={FACESPACE_NAME}.safetensors")
    assert answer["names"] == names


def test_names_route_refuses_files_outside_the_model_folder(server):
    for query in ("", "?file=../../etc/passwd", "?file=missing.safetensors"):
        with pytest.raises(urllib.error.HTTPError) as err:
            server.get_json(f"/facespace/names{query}")
        assert err.value.code in (400, 404)


def test_morph_video_workflow(server, object_info, trained):
    prompt = workflow_to_prompt(workflow_with("FaceSpaceLoad", "FaceSpaceMorphSequence"), object_info)
    set_inputs(prompt, "FaceSpaceLoadStyleGAN", model=GENERATOR_FILE)
    set_inputs(prompt, "FaceSpaceLoad", file=f"{FACESPACE_NAME}.safetensors")
    set_inputs(prompt, "FaceSpaceMorphSequence", frames_per_transition=3, hold_frames=0, loop=False)
    entry = server.run(prompt, timeout=RUN_TIMEOUT)
    saved = [img for out in entry["outputs"].values() for img in out.get("images", [])]
    assert saved, entry["outputs"]
    from facespace.morph import MorphPlan

    expected = MorphPlan(list(range(4)), frames=3, hold=0, loop=False).frame_count()
    with Image.open(io.BytesIO(server.view(saved[0]))) as im:
        assert getattr(im, "n_frames", 1) == expected


def test_random_blends_workflow(server, object_info, trained):
    workflow = copy.deepcopy(workflow_with("FaceSpaceLoad", "FaceSpaceBlendWeights"))
    prompt = workflow_to_prompt(workflow, object_info)
    set_inputs(prompt, "FaceSpaceLoadStyleGAN", model=GENERATOR_FILE)
    set_inputs(prompt, "FaceSpaceLoad", file=f"{FACESPACE_NAME}.safetensors")
    set_inputs(prompt, "FaceSpaceBlendWeights", mode="random", count=3, seed=7)
    entry = server.run(prompt, timeout=RUN_TIMEOUT)
    ui = ui_of(entry, "FaceSpaceBlendWeights", prompt)
    weights = ui["facespace_weights"]
    assert len(weights) == 3 and all(abs(sum(row) - 1) < 1e-6 for row in weights)  # normalised random rows
    assert len({tuple(row) for row in weights}) == 3
    assert images_of(entry, "SaveImage", prompt), entry["outputs"]


@pytest.fixture(scope="module")
def sampled_facespace(server):
    """A FaceSpace of two of the generator's own samples, saved beside the trained one (no training needed)."""
    import torch

    from facespace.space import FaceSpace, make_encoder, save_facespace
    from facespace.stylegan import StyleGAN, load_generator

    stylegan = StyleGAN(load_generator(server.paths["models"] / "stylegan" / GENERATOR_FILE), psi=0.7)
    G = stylegan.generator
    table = stylegan.mapping(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(5)))
    encoder = make_encoder("linear", 2, G.num_ws, G.w_dim, w_avg=G.w_avg, seed=0)
    encoder.set_face_codes(table)
    fs = FaceSpace(["ann", "bo"], encoder, "linear", table, G.resolution, G.fingerprint())
    save_facespace(fs, server.paths["models"] / "facespace" / "sampled_faces.safetensors", overwrite=True)
    return "sampled_faces.safetensors"


def test_style_blending_workflow(server, object_info, sampled_facespace):
    prompt = workflow_to_prompt(workflow_with("FaceSpaceProjectImage", "FaceSpaceMixLatents"), object_info)
    set_inputs(prompt, "FaceSpaceLoadStyleGAN", model=GENERATOR_FILE)
    set_inputs(prompt, "FaceSpaceLoad", file=sampled_facespace)
    set_inputs(prompt, "FaceSpaceBlendWeights", weights="ann=1")
    set_inputs(prompt, "LoadImage", image="painting.png")
    set_inputs(prompt, "FaceSpaceProjectImage", steps=20, resolution=0)
    set_inputs(prompt, "FaceSpaceMorphSequence", frames_per_transition=3, hold_frames=0, loop=False)
    entry = server.run(prompt, timeout=RUN_TIMEOUT)
    assert "PSNR at 32 px" in ui_of(entry, "FaceSpaceProjectImage", prompt)["text"][0]
    (blend,) = images_of(entry, "SaveImage", prompt)
    with Image.open(io.BytesIO(server.view(blend))) as im:
        assert im.size == (32, 32)
    (video,) = images_of(entry, "SaveAnimatedWEBP", prompt)
    with Image.open(io.BytesIO(server.view(video))) as im:
        assert getattr(im, "n_frames", 1) == 4  # face, two in-between frames, styled face


def test_edit_sweep_workflow(server, object_info):
    prompt = workflow_with("FaceSpaceEditLatent", "FaceSpaceRandomLatent")
    prompt = workflow_to_prompt(prompt, object_info)
    set_inputs(prompt, "FaceSpaceLoadStyleGAN", model=GENERATOR_FILE)
    set_inputs(prompt, "FaceSpaceRandomLatent", count=2)
    set_inputs(prompt, "FaceSpaceEditLatent", sweep_steps=5)
    set_inputs(prompt, "FaceSpaceRenderLatent", columns=5)
    entry = server.run(prompt, timeout=RUN_TIMEOUT)
    (sheet,) = images_of(entry, "SaveImage", prompt)
    with Image.open(io.BytesIO(server.view(sheet))) as im:
        assert im.size == (5 * 32 + 6 * 4, 2 * 32 + 3 * 4)  # one filmstrip of five strengths per face
    labels = ui_of(entry, "FaceSpaceRenderLatent", prompt)["latent_labels"]
    assert labels[:2] == ["seed 1 sefa0 -3", "seed 1 sefa0 -1.5"] and len(labels) == 10
