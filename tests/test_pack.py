"""The pack as ComfyUI sees it: registration, ids, display names, tooltips, web folder."""
import re

import pytest

from pack_util import ROOT, imported_pack
DESIGN_NAMES = {"LoadStyleGAN", "AlignFaces", "TrainFaceSpaceEncoder", "BlendWeights", "MorphSequence"}


@pytest.fixture(scope="module")
def pack():
    with imported_pack("facespace_pack_under_test") as module:
        yield module


def test_pack_exports_mappings_and_web_directory(pack):
    assert pack.NODE_CLASS_MAPPINGS and set(pack.NODE_CLASS_MAPPINGS) == set(pack.NODE_DISPLAY_NAME_MAPPINGS)
    assert (ROOT / pack.WEB_DIRECTORY).is_dir()
    assert list((ROOT / pack.WEB_DIRECTORY).glob("*.js")), "the web folder holds the extension's scripts"
    assert DESIGN_NAMES <= set(pack.NODE_DISPLAY_NAME_MAPPINGS.values())


def test_node_ids_are_prefixed_and_classes_complete(pack):
    for node_id, cls in pack.NODE_CLASS_MAPPINGS.items():
        assert node_id.startswith("FaceSpace"), node_id
        assert cls.CATEGORY.startswith("FaceSpace"), node_id
        assert callable(getattr(cls, cls.FUNCTION)), node_id
        n_out = len(cls.RETURN_TYPES)
        assert len(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)) == n_out, node_id
        assert len(getattr(cls, "OUTPUT_TOOLTIPS", ())) == n_out, f"{node_id}: one tooltip per output"


def test_every_input_has_a_tooltip(pack):
    for node_id, cls in pack.NODE_CLASS_MAPPINGS.items():
        spec = cls.INPUT_TYPES()
        for section in ("required", "optional"):
            for name, entry in spec.get(section, {}).items():
                options = entry[1] if len(entry) > 1 else {}
                assert options.get("tooltip"), f"{node_id}.{name} has no tooltip"


def test_readme_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, re.S).group(1)
    commands = [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) >= 2
    install = next(c for c in commands if "pip install" in c)
    pip_part = install[install.index("pip install"):].split("&&")[0].strip()
    assert pip_part in ci, f"CI must install as README says: {pip_part}"
    assert "python -m pytest -q" in commands[-1] and "python -m pytest -q" in ci
