"""BlendWeights in a real browser: a real ComfyUI with the pack, driven by Playwright in headless Chromium.

Opens the shipped random-blends workflow, drags a slider, types weights, runs it and checks the chart,
then saves and reopens the workflow; in the classic canvas and in Nodes 2.0 (the Vue renderer), on the
checkout's pinned front end and, when COMFYUI_FRONTEND_ROOT is given, on another one. Runs only when
all of these are there, and skips otherwise:

    COMFYUI_DIR, COMFYUI_PYTHON          a ComfyUI checkout and a Python with its requirements
    COMFYUI_FRONTEND_ROOT (optional)     a front end's static/ folder, e.g. the newest wheel unpacked:
                                         pip download --no-deps comfyui-frontend-package==1.58.1; unzip it
    PLAYWRIGHT_DIR (optional)            a folder where `npm install playwright-core` was run
                                         (default: the repository, or node's own search path)
    CHROMIUM (optional)                  the browser (default: `chromium` on PATH, e.g. Debian's package)
    COMFYUI_TEST_PORT (optional)         the port to serve on (default: a free one)
    FACESPACE_SCREENSHOTS (optional)     a folder outside the repository to keep the screenshots in

Screenshots are written to a temporary folder (printed with -s) or FACESPACE_SCREENSHOTS, never into
the repository.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from comfyui_server_util import PACK_LINK_NAME, ComfyServer, comfyui_from_env

ROOT = Path(__file__).resolve().parents[1]
PAGE_SCRIPT = Path(__file__).resolve().parent / "browser" / "blendweights_page.mjs"
WORKFLOW = "facespace_random_blends"
GENERATOR_FILE = "tiny_stylegan2_32.safetensors"
FACESPACE_FILE = "my_faces.safetensors"  # the name the shipped workflow picks
NAMES = ["anna", "bea", "carla", "dora"]
RENDERERS = ("classic", "vue")


def playwright_module() -> str | None:
    """Path of playwright-core's ES module entry, found from PLAYWRIGHT_DIR or the repository."""
    node = shutil.which("node")
    if node is None:
        return None
    for folder in filter(None, (os.environ.get("PLAYWRIGHT_DIR"), str(ROOT))):
        out = subprocess.run([node, "-e", "console.log(require.resolve('playwright-core/package.json'))"],
                             cwd=folder, capture_output=True, text=True, timeout=30)
        if out.returncode == 0:
            entry = Path(out.stdout.strip()).parent / "index.mjs"
            if entry.is_file():
                return str(entry)
    return None


def why_not() -> str:
    found = comfyui_from_env()
    if isinstance(found, str):
        return found
    if not (os.environ.get("CHROMIUM") or shutil.which("chromium")):
        return "no chromium (install Debian's `chromium` or set CHROMIUM)"
    if playwright_module() is None:
        return "playwright-core not found (npm install playwright-core; set PLAYWRIGHT_DIR to that folder)"
    return ""


REASON = why_not()
pytestmark = pytest.mark.skipif(bool(REASON), reason=REASON or "runs")
FRONT_ENDS = {"pinned": None, "env": os.environ.get("COMFYUI_FRONTEND_ROOT")}


@pytest.fixture(scope="module", params=list(FRONT_ENDS))
def server(request, tmp_path_factory):
    from facespace.stylegan import save_generator
    from facespace.train import save_facespace
    from test_blend import make_rendering_facespace

    front_end = FRONT_ENDS[request.param]
    if request.param == "env" and not front_end:
        pytest.skip("set COMFYUI_FRONTEND_ROOT to a front end's static/ folder to check it too")
    root = tmp_path_factory.mktemp(f"browser-{request.param}")
    port = int(os.environ["COMFYUI_TEST_PORT"]) if os.environ.get("COMFYUI_TEST_PORT") else None
    srv = ComfyServer(*comfyui_from_env(), root, port=port, front_end_root=front_end)
    fs = make_rendering_facespace()
    assert fs.names == NAMES
    save_generator(fs.stylegan.generator, srv.paths["models"] / "stylegan" / GENERATOR_FILE)
    save_facespace(fs, srv.paths["models"] / "facespace" / FACESPACE_FILE)
    srv.front_end = request.param
    with srv:
        yield srv


def screenshot_folder(name: str, tmp_path_factory) -> Path:
    """FACESPACE_SCREENSHOTS/<name> when that is set (outside the repository), else a temporary folder."""
    chosen = os.environ.get("FACESPACE_SCREENSHOTS")
    if not chosen:
        return tmp_path_factory.mktemp(f"shots-{name}")
    folder = Path(chosen).resolve() / name
    assert ROOT not in folder.parents, f"FACESPACE_SCREENSHOTS={chosen}: screenshots stay out of the repository"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


@pytest.mark.parametrize("renderer", RENDERERS)
def test_blendweights_in_the_browser(server, renderer, tmp_path_factory):
    shots = screenshot_folder(f"{server.front_end}-{renderer}", tmp_path_factory)
    check = {
        "playwright": playwright_module(),
        "chromium": os.environ.get("CHROMIUM") or shutil.which("chromium"),
        "url": server.url,
        "renderer": renderer,
        "shots": str(shots),
        "profile": str(tmp_path_factory.mktemp("chromium-profile")),
        "generator": GENERATOR_FILE,
        "facespaceFile": FACESPACE_FILE,
        "workflow": f"/workflow_templates/{PACK_LINK_NAME}/{WORKFLOW}.json",
        "seed": 1 + RENDERERS.index(renderer),  # each run its own prompt, never answered from the cache
    }
    out = subprocess.run(["node", str(PAGE_SCRIPT)], env={**os.environ, "FACESPACE_BROWSER_CHECK": json.dumps(check)},
                         capture_output=True, text=True, timeout=420)
    print(f"screenshots: {shots}")
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no report from the page script:\n{out.stdout}\n{out.stderr}\n{server.log_tail(2000)}"
    seen = json.loads(lines[-1])
    if seen.get("unsupported"):
        pytest.skip(f"front end {seen.get('frontEnd')}: {seen['unsupported']}")
    assert seen["ok"], f"{seen.get('error')}\nscreenshots in {shots}\n{server.log_tail(2000)}"
    assert seen["vueSetting"] is (renderer == "vue")
    assert seen["initial"]["labels"] == NAMES
    assert seen["afterRun"]["bars"] == [[n, w] for n, w in zip(NAMES, [0.2, 0.6, 0, 0.2])]
    assert seen["restored"]["bars"] == seen["afterRun"]["bars"]
    for state in ("afterDrag", "unknown", "afterRun", "restored"):
        assert seen[state]["shownText"] == seen[state]["queuedText"], state
    assert seen["skippedMessage"] == {"text": "skipped 2 photo(s) without a face: blank.png, cat.jpg", "shown": True}
    assert len(list(shots.glob("*.png"))) == 6
