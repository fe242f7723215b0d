"""Rendering and saving morphs: chunking, progress and cancel, endpoints, IMAGE layout, files."""
import sys

import pytest
import torch
from PIL import Image

import facespace.morph as morph_module
from facespace.errors import Cancelled, FaceSpaceError
from facespace.morph import MorphPlan, morph_target, morph_wplus, render_morph, save_morph
from facespace.runtime import PlainRuntime, Progress
from test_blend import make_rendering_facespace


class RecordingRuntime(PlainRuntime):
    def __init__(self, cancel_after: int | None = None):
        super().__init__("cpu", show_progress=False)
        self.bars, self.cancel_checks, self.cancel_after = [], 0, cancel_after

    def progress(self, total, desc=""):
        bar = Progress(total, desc)
        bar.previews = []
        original = bar.update

        def update(n=1, preview=None, status=None):
            bar.previews.append(preview)
            original(n, preview, status)

        bar.update = update
        self.bars.append(bar)
        return bar

    def check_cancel(self):
        self.cancel_checks += 1
        if self.cancel_after is not None and self.cancel_checks > self.cancel_after:
            raise Cancelled("cancelled by the user")


@pytest.fixture(scope="module")
def fs():
    return make_rendering_facespace("linear")


def test_chunked_rendering_gives_the_same_frames_as_one_batch(fs):
    plan = MorphPlan([0, 1, 3], frames=5, hold=1, easing="cosine")
    rt = RecordingRuntime()
    chunked = render_morph(fs, plan, runtime=rt, batch_size=3)
    whole = render_morph(fs, plan, batch_size=100)
    assert chunked.shape == (plan.frame_count(), 32, 32, 3)
    assert torch.allclose(chunked, whole, atol=1e-5)
    assert len(rt.bars) == 1 and rt.bars[0].n == rt.bars[0].total == plan.frame_count(), "one progress bar"
    assert len(rt.bars[0].previews) == 5 and all(isinstance(p, Image.Image) for p in rt.bars[0].previews)


def test_frames_are_comfy_images_and_endpoints_are_the_reconstructions(fs):
    plan = MorphPlan([2, 0], frames=4)
    frames = render_morph(fs, plan)
    assert frames.dtype == torch.float32 and frames.device.type == "cpu" and frames.ndim == 4
    assert frames.shape[-1] == 3 and frames.min() >= 0 and frames.max() <= 1
    faces = fs.stylegan.render(fs.face_wplus())
    assert torch.allclose(frames[0], faces[2], atol=1e-5) and torch.allclose(frames[-1], faces[0], atol=1e-5)
    assert not torch.allclose(frames[1], frames[0], atol=1e-3)


def test_cancel_stops_rendering(fs):
    plan = MorphPlan([0, 1, 2, 3], frames=8)
    with pytest.raises(Cancelled):
        render_morph(fs, plan, runtime=RecordingRuntime(cancel_after=2), batch_size=2)


def test_rendering_goes_chunk_by_chunk(fs, monkeypatch):
    """The generator sees one chunk at a time; the frames go into one preallocated batch."""
    plan = MorphPlan([0, 1], frames=6)
    calls = []
    G = fs.stylegan.generator
    real_synthesis = G.synthesis

    def spy(ws, **kwargs):
        calls.append(ws.shape[0])
        return real_synthesis(ws, **kwargs)

    monkeypatch.setattr(G, "synthesis", spy)
    frames = render_morph(fs, plan, batch_size=2)
    assert calls == [2, 2, 2, 1] and frames.shape[0] == 7


def test_save_as_gif_and_folder_never_overwriting(fs, tmp_path):
    frames = render_morph(fs, MorphPlan([0, 1], frames=3))
    gif = save_morph(frames, tmp_path / "m.gif", fps=20)
    with Image.open(gif) as im:
        assert im.n_frames == 4 and im.size == (32, 32) and im.info["duration"] == 50
    with pytest.raises(FaceSpaceError, match="exists"):
        save_morph(frames, tmp_path / "m.gif")
    save_morph(frames, tmp_path / "m.gif", overwrite=True)
    paths = save_morph(frames, tmp_path / "frames")
    assert [p.name for p in paths] == [f"frame_{i:05d}.png" for i in range(4)]
    with pytest.raises(FaceSpaceError, match="exists"):
        save_morph(frames, tmp_path / "frames")
    with pytest.raises(FaceSpaceError, match=".gif"):
        save_morph(frames, tmp_path / "m.webm")


def test_bad_fps_and_blocked_targets_are_refused_before_anything_is_written(tmp_path):
    frames = torch.rand(2, 8, 8, 3)
    for fps in (0, -5, float("nan")):
        with pytest.raises(FaceSpaceError, match="fps"):
            save_morph(frames, tmp_path / "m.gif", fps=fps)
    assert not list(tmp_path.iterdir())
    (tmp_path / "m.gif").write_bytes(b"an earlier morph")
    with pytest.raises(FaceSpaceError, match="exists"):
        morph_target(tmp_path / "m.gif")
    assert (tmp_path / "m.gif").read_bytes() == b"an earlier morph"
    assert morph_target(tmp_path / "m.gif", overwrite=True) == "gif"
    assert morph_target(tmp_path / "frames") == "frames"


def test_mp4_without_an_encoder_suggests_gif_or_folder(fs, tmp_path, monkeypatch):
    monkeypatch.setattr(morph_module, "find_ffmpeg", lambda: None)
    frames = torch.rand(3, 8, 8, 3)
    with pytest.raises(FaceSpaceError, match=r"\.gif or a folder"):
        save_morph(frames, tmp_path / "m.mp4")
    assert not list(tmp_path.iterdir()), "nothing half-written is left behind"


def test_morph_through_an_mlp_encoder_renders_its_faces():
    fs = make_rendering_facespace("mlp")
    plan = MorphPlan([1, 3], frames=3, space="code")
    frames = render_morph(fs, plan)
    ends = fs.stylegan.render(morph_wplus(fs, plan)[[0, -1]])
    assert torch.allclose(frames[[0, -1]], ends, atol=1e-5)


def test_mp4_frames_are_piped_to_the_encoder(tmp_path, monkeypatch):
    """The encoder gets every frame as raw RGB on stdin and writes the file that then replaces the target."""
    fake = tmp_path / "fake-ffmpeg"
    fake.write_text(f"#!{sys.executable}\nimport sys\nargs = sys.argv[1:]\ndata = sys.stdin.buffer.read()\n"
                    "open(args[-1], 'wb').write(' '.join(args[:-1]).encode() + b'|' + str(len(data)).encode())\n")
    fake.chmod(0o755)
    monkeypatch.setattr(morph_module, "find_ffmpeg", lambda: str(fake))
    frames = torch.rand(5, 6, 10, 3)
    path = save_morph(frames, tmp_path / "m.mp4", fps=30)
    args, size = path.read_bytes().split(b"|")
    assert int(size) == 5 * 6 * 10 * 3
    assert b"-s 10x6" in args and b"-r 30" in args and b"yuv420p" in args
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake-ffmpeg", "m.mp4"]
