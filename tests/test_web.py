"""What the browser relies on: the sliders read and write weights text exactly as BlendWeights reads it,
and the names route answers from FaceSpace files in the model folder only."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from facespace.blend import plan_blends
from facespace.errors import FaceSpaceError

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / "web" / "js" / "facespace_weights.js"
NAMES = ["anna", "ben", "cara"]
TEXTS = [
    "anna=0.5, ben=1", "", "0.2, 0.3, 0.5", "0.2, 0.3", "ben=0.4, zoe=2", "anna=0.2, ANNA=0.9",
    "anna=-1, ben=1", "anna=0, ben=0", "Anna: 1.5; cara=2", "anna=x", "anna=1, 0.5", "anna=1e-3\ncara=.5",
    "cara=0.125;;ben=3", "inf, 1, 1",
]
MOVES = [("", "ben", 0.25), ("0.2, 0.3, 0.5", "cara", 0.0), ("ben=0.4", "anna", 0.75), ("Anna: 1, cara=2", "anna", 0.5)]

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def run_js(body: str):
    script = f"import * as w from {json.dumps(MODULE.as_uri())};\nconst names = {json.dumps(NAMES)};\n{body}"
    out = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def node_weights(text):
    """What the node does with the text: the weight per face, or None when it refuses it."""
    try:
        return plan_blends(NAMES, text, normalize=False).weights[0].tolist()
    except FaceSpaceError:
        return None


@needs_node
def test_slider_state_agrees_with_the_node():
    states = run_js(f"""
        const out = {json.dumps(TEXTS)}.map((t) => {{
          const s = w.readSliderState(t, names);
          return {{values: names.map((n) => s.values[n]), problems: w.describeProblems(s)}};
        }});
        console.log(JSON.stringify(out));""")
    for text, state in zip(TEXTS, states):
        expected = node_weights(text)
        if expected is None:
            assert state["problems"], f"{text!r}: the node refuses it, the sliders must say so"
        else:
            assert state["problems"] == "", f"{text!r}: the node accepts it, the sliders report {state['problems']!r}"
            assert state["values"] == pytest.approx(expected), text


@needs_node
def test_slider_moves_write_text_the_node_reads_back():
    texts = run_js(f"""
        console.log(JSON.stringify({json.dumps(MOVES)}.map(([t, n, v]) => w.applySliderChange(t, names, n, v))));""")
    for (before, name, value), after in zip(MOVES, texts):
        old, new = node_weights(before), node_weights(after)
        assert new is not None, after
        for i, face in enumerate(NAMES):
            assert new[i] == pytest.approx(value if face == name else old[i]), (before, after)


@pytest.fixture
def facespace_folder(tmp_path, monkeypatch):
    from facespace.runtime import PlainRuntime
    from facespace.train import save_facespace
    from nodes import comfy
    from test_blend import NAMES as SAVED_NAMES, make_facespace

    monkeypatch.setattr(comfy, "_runtime", PlainRuntime("cpu", models_dir=tmp_path, show_progress=False))
    folder = tmp_path / "facespace"
    folder.mkdir()
    save_facespace(make_facespace("linear"), folder / "mine.safetensors")
    (folder / "broken.safetensors").write_bytes(b"not a safetensors file")
    return folder, SAVED_NAMES


def test_names_route_reads_the_names_of_a_saved_facespace(facespace_folder):
    from nodes.routes import face_names

    _folder, names = facespace_folder
    assert face_names("mine.safetensors") == (200, {"file": "mine.safetensors", "names": names})


def test_names_route_refuses_what_is_not_a_facespace_in_the_folder(facespace_folder):
    from nodes.routes import face_names

    folder, _names = facespace_folder
    status, body = face_names("broken.safetensors")
    assert status == 422 and "broken.safetensors" in body["error"]
    assert face_names("")[0] == 400
    assert face_names("other.safetensors")[0] == 404
    assert face_names(str(folder / "mine.safetensors"))[0] == 404, "absolute paths are not read"
    assert face_names("../facespace/mine.safetensors")[0] == 404
