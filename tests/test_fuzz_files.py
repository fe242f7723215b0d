"""Fuzzing every file format we read, with hypothesis, over mutated valid files.

The corpus (tests/fuzz_corpus/) holds one tiny valid file per format, written by `write_corpus`; each
example mutates one of them (byte flips, interesting integers, truncation, insertion, deletion, copied
chunks; half of them aimed at the format's structure rather than its tensor data) and reads it. Any
outcome other than a successful load or a one-line FaceSpaceError naming the file is a finding; each
format runs in its own forked child, so a crash is reported (with the input that caused it) rather than
ending the test run. Inputs that once failed are kept in tests/fuzz_crashers/ and replayed every run.

FACESPACE_FUZZ_EXAMPLES (default 30 per format) sets the length of a run; FACESPACE_FUZZ_SEED runs a
different (random) sequence for longer campaigns.
"""
from __future__ import annotations

import os
import pickletools
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from hypothesis import seed as hypothesis_seed

from isolation import run_in_child

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "fuzz_corpus"
CRASHERS = HERE / "fuzz_crashers"
EXAMPLES = int(os.environ.get("FACESPACE_FUZZ_EXAMPLES", "30"))
SEED = int(os.environ["FACESPACE_FUZZ_SEED"]) if os.environ.get("FACESPACE_FUZZ_SEED") else None  # longer campaigns
KINDS = {"tf-sg1.pkl": "generator", "tf-sg2.pkl": "generator", "ada.pkl": "generator", "rosinality.pt": "generator",
         "rosinality-legacy.pt": "generator", "native.safetensors": "generator", "facespace.safetensors": "facespace",
         "photo.png": "photo", "latent.npy": "latent", "latent.safetensors": "latent-file"}


def tiny():
    from facespace.stylegan import tiny_generator

    return tiny_generator("stylegan2", resolution=8, seed=5, z_dim=8, w_dim=8, mapping_hidden=8,
                          channels={4: 4, 8: 4})


def write_corpus(folder: Path) -> None:
    """One small valid file per format (the committed corpus is what this writes)."""
    from PIL import Image

    import hostile_files as hf
    from facespace.stylegan import save_generator, tiny_generator
    from stylegan_fixtures import write_ada_pickle, write_rosinality, write_tf_pickle

    folder.mkdir(parents=True, exist_ok=True)
    G = tiny()
    G1 = tiny_generator("stylegan1", resolution=8, seed=6, z_dim=8, w_dim=8, mapping_hidden=8, channels={4: 4, 8: 4})
    write_tf_pickle(G1, folder / "tf-sg1.pkl")
    write_tf_pickle(G, folder / "tf-sg2.pkl")
    write_ada_pickle(G, folder / "ada.pkl")
    write_rosinality(G, folder / "rosinality.pt", training=True)
    from stylegan_fixtures import rosinality_state_dict

    torch.save({"g_ema": rosinality_state_dict(G), "latent_avg": G.w_avg.clone()}, folder / "rosinality-legacy.pt",
               _use_new_zipfile_serialization=False)
    save_generator(G, folder / "native.safetensors", overwrite=True)
    if (folder / "facespace.safetensors").exists():
        (folder / "facespace.safetensors").unlink()
    hf.tiny_facespace(G, folder / "facespace.safetensors", names=("anna", "bea", "cy"))
    Image.fromarray(np.random.RandomState(0).randint(0, 255, (12, 10, 3), dtype=np.uint8)).save(folder / "photo.png")
    np.save(folder / "latent.npy", np.random.RandomState(1).randn(2, 8).astype(np.float32))
    from facespace.latent import random_latent, save_latent
    from facespace.stylegan import StyleGAN

    save_latent(random_latent(StyleGAN(G), 0, 2), folder / "latent.safetensors", overwrite=True)


def structure_offsets(name: str, data: bytes) -> list[int]:
    """Offsets of the bytes that carry a file's structure (opcodes, headers), not its tensor data."""
    offsets: list[int] = []
    if name.endswith(".pkl") or name == "rosinality-legacy.pt":
        try:
            offsets = [pos for _, _, pos in pickletools.genops(data)]
        except Exception:
            pass
    elif name.endswith(".pt"):
        with zipfile.ZipFile(__import__("io").BytesIO(data)) as z:
            for info in z.infolist():
                start = info.header_offset
                size = info.compress_size if info.filename.endswith("data.pkl") else 0
                offsets += list(range(start, start + 30 + len(info.filename) + size))
        offsets += list(range(max(0, len(data) - 2000), len(data)))  # central directory
    elif name.endswith(".safetensors"):
        offsets = list(range(0, 8 + struct.unpack("<Q", data[:8])[0]))
    else:  # photo, latent: the header
        offsets = list(range(0, min(len(data), 160)))
    return offsets or list(range(len(data)))


INTERESTING = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2 ** 63 - 1, 2 ** 64 - 1, 10 ** 9]


@st.composite
def mutated(draw, name: str, data: bytes, offsets: list[int]):
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        if not buf:
            break
        aimed = draw(st.booleans())
        pos = draw(st.sampled_from(offsets)) if aimed else draw(st.integers(0, len(buf) - 1))
        pos = min(pos, len(buf) - 1)
        kind = draw(st.sampled_from(["flip", "byte", "int", "truncate", "insert", "delete", "copy"]))
        if kind == "flip":
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            buf[pos] = draw(st.integers(0, 255))
        elif kind == "int":
            width = draw(st.sampled_from([1, 2, 4, 8]))
            value = draw(st.sampled_from(INTERESTING)) % (1 << (8 * width))
            buf[pos:pos + width] = value.to_bytes(width, "little")
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del buf[pos:pos + draw(st.integers(1, 64))]
        else:
            start = draw(st.integers(0, len(buf) - 1))
            buf[pos:pos] = buf[start:start + draw(st.integers(1, 256))]
    return bytes(buf)


def read(kind: str, path: Path, G):
    """Read a file the way users' files are read; FaceSpaceError is the only acceptable failure."""
    if kind == "generator":
        from facespace.stylegan import load_generator

        return load_generator(path)
    if kind == "facespace":
        from facespace.train import load_facespace

        return load_facespace(path)
    if kind == "latent-file":
        from facespace.latent import load_latent

        return load_latent(path)
    if kind == "photo":
        from facespace.align.photos import load_photo

        return load_photo(path)
    from facespace.cli.model import read_latents

    return read_latents(path, G, "auto")


def check_outcome(kind: str, path: Path, G) -> str:
    from facespace.errors import FaceSpaceError

    try:
        read(kind, path, G)
        return "loaded"
    except (FaceSpaceError, FileNotFoundError) as exc:
        text = str(exc)
        assert "\n" not in text, f"a message of several lines: {text!r}"
        assert path.name in text, f"the message does not name the file: {text!r}"
        return "refused"


def fuzz_format(name: str, work: Path, examples: int) -> int:
    """In the child: `examples` mutations of corpus file `name`; prints the counts, keeps the current input."""
    data = (CORPUS / name).read_bytes()
    offsets = structure_offsets(name, data)
    kind, G = KINDS[name], tiny()
    target = work / f"fuzzed{Path(name).suffix}"
    counts = {"loaded": 0, "refused": 0}

    @settings(max_examples=examples, deadline=None, derandomize=SEED is None, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(mutated(name, data, offsets))
    @hypothesis_seed(SEED)
    def one(blob):
        (work / "current.bin").write_bytes(blob)  # left behind if the child dies on this input
        target.write_bytes(blob)
        counts[check_outcome(kind, target, G)] += 1

    one()
    print(f"{name}: {sum(counts.values())} executions, {counts['loaded']} loaded, {counts['refused']} refused")
    return 0


@pytest.fixture(scope="module", autouse=True)
def corpus_outcomes():
    """Every corpus file read once here: checks it, and lets each forked child start warm."""
    G = tiny()
    return {name: check_outcome(kind, CORPUS / name, G) for name, kind in KINDS.items()}


def test_corpus_is_current_and_small(corpus_outcomes):
    assert sorted(p.name for p in CORPUS.iterdir() if p.is_file()) == sorted(KINDS)
    for p in CORPUS.iterdir():
        assert p.stat().st_size < 200_000, p.name
    assert corpus_outcomes == {name: "loaded" for name in KINDS}  # every corpus file is valid as it is


@pytest.mark.parametrize("name", sorted(KINDS))
def test_fuzz(name, tmp_path):
    result = run_in_child(fuzz_format, name, tmp_path, EXAMPLES, timeout_s=max(120, EXAMPLES * 4))
    crasher = tmp_path / "current.bin"
    assert result.code == 0 and result.signal is None, (
        f"{name}: {result.describe()}; the input is kept at {crasher} (copy it into tests/fuzz_crashers/)")
    assert result.rss_growth_mb < 400, result.describe()
    assert f"{name}: {EXAMPLES} executions" in result.out, result.out
    sys.stdout.write(result.out)


@pytest.mark.parametrize("path", sorted(CRASHERS.glob("*")) if CRASHERS.is_dir() else [], ids=lambda p: p.name)
def test_known_crashers_are_refused_cleanly(path, tmp_path):
    """Inputs the fuzzer once found failing: named <corpus file>--<what>.bin, replayed as that format."""
    name = path.name.split("--", 1)[0]
    target = tmp_path / f"replayed{Path(name).suffix}"
    target.write_bytes(path.read_bytes())

    def replay():
        check_outcome(KINDS[name], target, tiny())
        return 0

    result = run_in_child(replay)
    assert result.code == 0 and result.signal is None, result.describe()


if __name__ == "__main__":  # python tests/test_fuzz_files.py: rewrite the corpus
    sys.path.insert(0, str(HERE.parent))
    write_corpus(CORPUS)
