"""The shipped example workflows use only nodes that exist, with inputs those nodes accept (no ComfyUI needed)."""
import pytest
from PIL import Image

from pack_util import imported_pack
from workflow_util import (CORE_NODE_DEFS, FRONTEND_ONLY, MUTED_MODES, input_kind, links_by_id, load_workflow,
                           pack_node_defs, shipped_workflows, widget_inputs, widget_values, workflow_to_prompt)

WORKFLOWS = shipped_workflows()
SOCKET_TYPES = {"IMAGE", "MASK", "STYLEGAN", "FACESPACE", "FACESPACE_WEIGHTS", "STYLEGAN_LATENT", "STRING", "INT", "FLOAT"}


@pytest.fixture(scope="module")
def node_defs():
    with imported_pack("facespace_pack_for_workflows") as module:
        yield {**CORE_NODE_DEFS, **pack_node_defs(module.NODE_CLASS_MAPPINGS)}


def executed_nodes(workflow):
    return [n for n in workflow["nodes"] if n["type"] not in FRONTEND_ONLY and n.get("mode", 0) not in MUTED_MODES]


def test_three_workflows_each_with_a_jpeg_thumbnail():
    names = {p.stem for p in WORKFLOWS}
    assert len(names) >= 3, names
    for path in WORKFLOWS:
        thumb = path.with_suffix(".jpg")
        assert thumb.is_file(), f"{path.name} has no thumbnail {thumb.name}"
        with Image.open(thumb) as im:
            assert im.format == "JPEG" and min(im.size) >= 200, (thumb.name, im.format, im.size)


def test_workflows_cover_training_morph_video_and_random_blends():
    types = {p.stem: {n["type"] for n in load_workflow(p)["nodes"]} for p in WORKFLOWS}
    assert any({"FaceSpaceAlignFaces", "FaceSpaceTrainEncoder", "FaceSpaceBlendWeights", "FaceSpaceSave",
                "SaveImage"} <= t for t in types.values()), "photos -> align -> train -> blends -> save"
    assert any({"FaceSpaceLoad", "FaceSpaceMorphSequence"} <= t and t & {"SaveAnimatedWEBP", "SaveImage"}
               for t in types.values()), "saved FaceSpace -> morph -> video"
    assert any({"FaceSpaceLoad", "FaceSpaceBlendWeights"} <= t for t in types.values()), "saved FaceSpace -> blends"
    morph = next(load_workflow(p) for p in WORKFLOWS if "FaceSpaceMorphSequence" in types[p.stem])
    notes = " ".join(str(v) for n in morph["nodes"] if n["type"] in ("Note", "MarkdownNote")
                     for v in n.get("widgets_values", []))
    assert "VHS_VideoCombine" in notes, "the morph workflow names VideoHelperSuite's video node as the option"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_node_exists(path, node_defs):
    workflow = load_workflow(path)
    unknown = {n["type"] for n in workflow["nodes"]} - set(node_defs) - FRONTEND_ONLY
    assert not unknown, f"{path.name} uses nodes that do not exist: {unknown}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_widget_values_fit_the_inputs(path, node_defs):
    for node in executed_nodes(load_workflow(path)):
        node_def = node_defs[node["type"]]
        widgets = widget_inputs(node_def)
        values = node.get("widgets_values", [])
        expected = sum(slots for *_rest, slots in widgets)
        assert len(values) == expected, \
            f"{path.name} node {node['id']} ({node['type']}): {len(values)} widget values for {expected} widgets"
        named = widget_values(node, node_def)
        for name, kind, options, _slots in widgets:
            value = named[name]
            where = f"{path.name} node {node['id']} {node['type']}.{name}={value!r}"
            if kind == "INT":
                assert isinstance(value, int) and not isinstance(value, bool), where
            elif kind == "FLOAT":
                assert isinstance(value, (int, float)) and not isinstance(value, bool), where
            elif kind == "BOOLEAN":
                assert isinstance(value, bool), where
            elif kind == "STRING":
                assert isinstance(value, str), where
            elif kind == "COMBO" and options["options"]:  # empty: a model folder, filled on the user's machine
                assert value in options["options"], f"{where} is not one of {options['options']}"
            if kind in ("INT", "FLOAT"):
                assert options.get("min", value) <= value <= options.get("max", value), where


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_links_join_matching_sockets(path, node_defs):
    workflow = load_workflow(path)
    nodes = {n["id"]: n for n in workflow["nodes"]}
    links = links_by_id(workflow)
    assert len(links) == len(workflow.get("links", [])), "link ids are unique"
    for link_id, (origin, origin_slot, target, target_slot, kind) in links.items():
        assert link_id in (nodes[origin]["outputs"][origin_slot].get("links") or []), f"link {link_id} at its origin"
        target_input = nodes[target]["inputs"][target_slot]
        assert target_input.get("link") == link_id, f"link {link_id} at its target"
        origin_def, target_def = node_defs.get(nodes[origin]["type"]), node_defs.get(nodes[target]["type"])
        if origin_def:
            gives = origin_def["output"][origin_slot]
            assert gives == kind, f"link {link_id}: the origin gives {gives}, the link says {kind}"
        if target_def:
            entry = {**target_def["input"].get("required", {}), **target_def["input"].get("optional", {})}
            takes = input_kind(entry[target_input["name"]])[0]
            assert takes == kind, f"link {link_id}: {target_input['name']} takes {takes}, not {kind}"
    assert workflow.get("last_link_id", 0) >= max(links, default=0)
    assert workflow.get("last_node_id", 0) >= max(nodes, default=0)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_converts_to_a_complete_api_prompt(path, node_defs):
    workflow = load_workflow(path)
    prompt = workflow_to_prompt(workflow, node_defs)
    assert prompt and {v["class_type"] for v in prompt.values()} <= set(node_defs)
    for node_id, entry in prompt.items():
        required = node_defs[entry["class_type"]]["input"].get("required", {})
        missing = set(required) - set(entry["inputs"])
        assert not missing, f"{path.name} node {node_id} ({entry['class_type']}) lacks required inputs {missing}"
        for name, value in entry["inputs"].items():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                assert value[0] in prompt, f"{path.name} node {node_id}.{name} is linked to a node that does not run"
    assert any(node_defs[e["class_type"]]["output"] == [] for e in prompt.values()), "the workflow saves something"
