"""Read UI-format workflows (as the ComfyUI front end saves them) and turn them into API-format prompts.

Node definitions come either from a running server's /object_info or, without ComfyUI, from the
pack's own classes (`pack_node_defs`) plus `CORE_NODE_DEFS`, the few core nodes the shipped
workflows use, as ComfyUI 0.3.64 declares them.
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_DIR = ROOT / "example_workflows"

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
SEED_NAMES = {"seed", "noise_seed"}  # the front end adds a control_after_generate widget after these
UPLOAD_OPTIONS = ("image_upload", "video_upload", "animated_image_upload", "audio_upload")
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}  # never sent to the server
MUTED_MODES = {2, 4}  # 2 = muted (never), 4 = bypassed

# Core nodes used by the shipped workflows, with the inputs and outputs ComfyUI 0.3.64 gives them.
CORE_NODE_DEFS = {
    "LoadImage": {
        "input": {"required": {"image": [[], {"image_upload": True}]}},
        "input_order": {"required": ["image"]},
        "output": ["IMAGE", "MASK"],
    },
    "SaveImage": {
        "input": {"required": {"images": ["IMAGE", {}], "filename_prefix": ["STRING", {"default": "ComfyUI"}]}},
        "input_order": {"required": ["images", "filename_prefix"]},
        "output": [],
    },
    "PreviewImage": {
        "input": {"required": {"images": ["IMAGE", {}]}},
        "input_order": {"required": ["images"]},
        "output": [],
    },
    "SaveAnimatedWEBP": {
        "input": {"required": {
            "images": ["IMAGE", {}],
            "filename_prefix": ["STRING", {"default": "ComfyUI"}],
            "fps": ["FLOAT", {"default": 6.0, "min": 0.01, "max": 1000.0, "step": 0.01}],
            "lossless": ["BOOLEAN", {"default": True}],
            "quality": ["INT", {"default": 80, "min": 0, "max": 100}],
            "method": [["default", "fastest", "slowest"], {}],
        }},
        "input_order": {"required": ["images", "filename_prefix", "fps", "lossless", "quality", "method"]},
        "output": [],
    },
    "ImageBatch": {
        "input": {"required": {"image1": ["IMAGE", {}], "image2": ["IMAGE", {}]}},
        "input_order": {"required": ["image1", "image2"]},
        "output": ["IMAGE"],
    },
}


def load_workflow(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def shipped_workflows() -> list[Path]:
    return sorted(WORKFLOW_DIR.glob("*.json"))


def pack_node_defs(node_class_mappings: dict) -> dict:
    """Node definitions in /object_info's shape, from the pack's V1 classes."""
    defs = {}
    for node_id, cls in node_class_mappings.items():
        spec = cls.INPUT_TYPES()
        defs[node_id] = {
            "input": {k: spec.get(k, {}) for k in ("required", "optional")},
            "input_order": {k: list(spec.get(k, {})) for k in ("required", "optional")},
            "output": list(cls.RETURN_TYPES),
        }
    return defs


def input_kind(entry) -> tuple[str, dict]:
    """(type, options) of one input entry; combos (a list of values, or "COMBO") come back as "COMBO"."""
    kind = entry[0]
    options = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
    if isinstance(kind, (list, tuple)):
        return "COMBO", {**options, "options": list(kind)}
    return kind, options


def widget_inputs(node_def: dict) -> list[tuple[str, str, dict, int]]:
    """(name, type, options, slots) per widget input, in the order the front end creates the widgets.

    `slots` is how many widgets_values entries it takes: 2 for a seed with its control_after_generate
    companion or a combo with an upload button, else 1.
    """
    out = []
    for section in ("required", "optional"):
        inputs = node_def["input"].get(section) or {}
        order = (node_def.get("input_order") or {}).get(section) or list(inputs)
        for name in order:
            kind, options = input_kind(inputs[name])
            if kind not in WIDGET_TYPES or options.get("forceInput"):
                continue
            slots = 1
            if kind == "INT" and options.get("control_after_generate", name in SEED_NAMES):
                slots = 2
            elif kind == "COMBO" and (options.get("control_after_generate")
                                      or any(options.get(o) for o in UPLOAD_OPTIONS)):
                slots = 2
            out.append((name, kind, options, slots))
    return out


def widget_values(node: dict, node_def: dict) -> dict:
    """{input name: value} from a UI node's widgets_values, by the front end's widget order."""
    values = node.get("widgets_values") or []
    if isinstance(values, dict):
        return dict(values)
    named, index = {}, 0
    for name, _kind, _options, slots in widget_inputs(node_def):
        if index < len(values):
            named[name] = values[index]
        index += slots
    return named


def expected_widget_count(node_def: dict) -> int:
    return sum(slots for *_rest, slots in widget_inputs(node_def))


def links_by_id(workflow: dict) -> dict:
    """link id -> (origin node id, origin slot, target node id, target slot, type)."""
    return {link[0]: tuple(link[1:6]) for link in workflow.get("links", [])}


def workflow_to_prompt(workflow: dict, node_defs: dict) -> dict:
    """API-format prompt {id: {class_type, inputs}} equivalent to a UI workflow."""
    nodes = {node["id"]: node for node in workflow["nodes"]}
    links = links_by_id(workflow)

    def source(link_id):
        origin, slot, *_ = links[link_id]
        while nodes[origin]["type"] == "Reroute":  # legacy reroute nodes pass their one input through
            origin, slot, *_ = links[nodes[origin]["inputs"][0]["link"]]
        return [str(origin), slot]

    prompt = {}
    for node_id, node in nodes.items():
        if node["type"] in FRONTEND_ONLY or node.get("mode", 0) in MUTED_MODES:
            continue
        node_def = node_defs[node["type"]]
        inputs = widget_values(node, node_def)
        for slot in node.get("inputs", []):
            if slot.get("link") is not None:
                inputs[slot["name"]] = source(slot["link"])
        prompt[str(node_id)] = {"class_type": node["type"], "inputs": inputs}
    return prompt
