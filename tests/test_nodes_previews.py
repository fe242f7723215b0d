"""Progress pictures: nodes whose results are pictures report progress without them, so no stale,
enlarged last item stays on the node after the run; training keeps its previews."""
from __future__ import annotations

import pytest

from facespace.runtime import PlainRuntime, Progress
from facespace.stylegan import StyleGAN, tiny_generator
from node_util import defaults
from nodes import comfy
from nodes.blend import FaceSpaceBlendWeights
from nodes.morph import FaceSpaceMorphSequence
from nodes.sample import FaceSpaceSampleStyleGAN
from test_blend import make_rendering_facespace


class Recorded(Progress):
    def __init__(self, log, total, desc):
        super().__init__(total, desc)
        self.log = log

    def update(self, n=1, preview=None, status=None):
        super().update(n)
        self.log.append((self.desc, n, preview is not None))


class RecordingRuntime(PlainRuntime):
    def __init__(self):
        super().__init__("cpu", show_progress=False)
        self.log = []

    def progress(self, total, desc=""):
        return Recorded(self.log, total, desc)


@pytest.fixture
def recorder(monkeypatch):
    rt = RecordingRuntime()
    monkeypatch.setattr(comfy, "_runtime", rt)
    return rt.log


def test_rendering_nodes_report_counts_without_pictures(recorder):
    FaceSpaceSampleStyleGAN().sample(StyleGAN(tiny_generator(resolution=16, seed=1)), seed=0, batch_size=3)
    fs = make_rendering_facespace(resolution=16)
    FaceSpaceBlendWeights().blend(**defaults(FaceSpaceBlendWeights, facespace=fs, mode="random", count=2))
    FaceSpaceMorphSequence().morph(**defaults(FaceSpaceMorphSequence, facespace=fs, frames_per_transition=2))
    assert {desc for desc, _, _ in recorder} and sum(n for _, n, _ in recorder) >= 3 + 2 + 2
    assert not any(picture for _, _, picture in recorder), recorder


def test_the_plain_runtime_still_passes_pictures_on(recorder):
    rt = comfy.runtime()
    assert rt is comfy._runtime
    with rt.progress(2, "training FaceSpace") as bar:
        bar.update(1, preview=object())
    with comfy.runtime(previews=False).progress(2, "render") as bar:
        bar.update(2, preview=object(), status="2/2")
    assert recorder == [("training FaceSpace", 1, True), ("render", 2, False)]
