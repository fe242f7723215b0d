"""Hostile and broken inputs: no crash, no hang, no memory blow-up, one clear line.

Every case runs in a forked child (tests/isolation.py): a crash or a hang fails that case only. Each checks
the exit code, that stderr is exactly one line naming the file and what was wrong (no traceback), and the
child's peak memory above its parent's.
"""
from __future__ import annotations

import errno
import os
import signal

import numpy as np
import pytest
import torch

import hostile_files as hf
from isolation import run_in_child
from facespace.stylegan import save_generator, tiny_generator

MB = 2 ** 20
RSS_BOUND_MB = 250  # every refusal here costs far less; the files claim gigabytes to terabytes


@pytest.fixture(scope="module", autouse=True)
def warm_start(tmp_path_factory):
    """Every command's module imported and the load and render paths run once here, so that each forked
    child starts warm (the first load in a process costs seconds, later ones milliseconds)."""
    from facespace.cli import build_parser
    from facespace.stylegan import StyleGAN, load_generator

    build_parser()
    import nodes  # noqa: F401

    path = save_generator(tiny_generator("stylegan2", resolution=8, seed=1),
                          tmp_path_factory.mktemp("warm") / "g.safetensors")
    StyleGAN(load_generator(path)).sample([0])


@pytest.fixture(scope="module")
def G():
    return tiny_generator("stylegan2", resolution=8, seed=31)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile")


def cli(*argv):
    import gc

    from facespace.cli import main

    code = main([str(a) for a in argv])
    gc.collect()  # a forged object could crash the collector after a clean refusal
    return code


def check_one_line(result, *expected, code=2, rss_mb=RSS_BOUND_MB):
    lines = result.error_lines()
    assert result.signal is None and result.code == code, result.describe()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.describe()
    assert "Traceback" not in result.err
    for text in expected:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"
    assert result.rss_growth_mb < rss_mb, result.describe()
    return lines[0]


# ---------------------------------------------------------------- model files through `facespace info`

def _model_cases(G, folder):
    d = folder
    bad_filter = hf.ada_with(G, d, "deep-filter.pkl", synthesis_kwargs__resample_filter=hf.nested_list(300))
    cases = {
        # crashes (SIGSEGV) before: forged numpy dtypes, C recursion in hashing
        **{p.name: (p, "dtype") for p in hf.forged_dtype_pickles(d)},
        "deep-key.pkl": (hf.deep_key_pickle(d), "levels"),
        "deep-frozenset.pkl": (hf.deep_frozenset_pickle(d), "levels"),
        "deep-key.pt": (hf.deep_key_torch(d), "levels"),
        # hangs and runaway memory from tiny files
        "shared-key.pkl": (hf.shared_key_pickle(d), "key"),
        "shared-src.pkl": (hf.shared_module_src_pickle(d), "objects"),
        "shared-name.pkl": (hf.shared_tf_name_pickle(d), "objects"),
        # gigabytes claimed by few stored bytes
        "broadcast.pkl": (hf.broadcast_tensor_pickle(d), "broadcast"),
        "broadcast-avg.pt": (hf.broadcast_latent_avg_torch(d, G), "broadcast"),
        "bomb.pt": (hf.deflate_bomb_torch(d), "compression bomb"),
        "huge-header.safetensors": (hf.raw_safetensors(d / "huge-header.safetensors",
                                                       b'{"a": [' + b"{}," * 400_000 + b"{}]}"), "objects"),
        "deep-header.safetensors": (hf.raw_safetensors(d / "deep-header.safetensors",
                                                       b'{"a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"),
                                    "levels"),
        "claims-header.safetensors": (hf.raw_safetensors(d / "claims-header.safetensors",
                                                         b'{"a": {"dtype": "F32", "shape": [1000000000], '
                                                         b'"data_offsets": [0, 4000000000]}}'), "byte range"),
        # tracebacks before
        "one-byte.pkl": (_write(d / "one-byte.pkl", b"\x80"), "not a model file"),
        "inf-lr.pkl": (hf.ada_with(G, d, "inf-lr.pkl", mapping_kwargs__lr_multiplier=float("inf")), "lr_mul"),
        "big-lr.pkl": (hf.ada_with(G, d, "big-lr.pkl", mapping_kwargs__lr_multiplier=10 ** 400), "lr_mul"),
        "inf-clamp.pkl": (hf.ada_with(G, d, "inf-clamp.pkl", synthesis_kwargs__conv_clamp=float("inf")),
                          "conv_clamp"),
        "deep-filter.pkl": (bad_filter, "nest"),
        "huge-z.pkl": (hf.ada_with(G, d, "huge-z.pkl", z_dim=2 ** 70), "z_dim"),
        "bad-storage.pkl": (hf.pickle_file(d, "bad-storage.pkl", hf.op_global("torch.storage", "_load_from_bytes")
                                           + b"C\x05hello\x85R"), "damaged"),
        "wrong-avg.pt": (hf.wrong_latent_avg_torch(d, G), "latent_avg"),
        "deep-arch.safetensors": (_native_with_arch(G, d / "deep-arch.safetensors",
                                                    '{"a": ' + "[" * 10_000 + "]" * 10_000 + "}"), "levels"),
        "nan.safetensors": (_nan_generator(G, d / "nan.safetensors"), "NaN"),
        "pipe": (_fifo(d / "pipe"), "not a regular file"),
    }
    return cases


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _native_with_arch(G, path, arch_text: str):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    good = save_generator(G, path.with_name("good-" + path.name), overwrite=True)
    with safe_open(str(good), "pt") as f:
        meta = f.metadata()
    meta["arch"] = arch_text
    save_file(load_file(str(good)), str(path), metadata=meta)
    return path


def _nan_generator(G, path):
    import copy

    bad = copy.deepcopy(G)
    with torch.no_grad():
        bad.synthesis_network.b8.conv1.weight[0, 0, 0, 0] = float("nan")
    return save_generator(bad, path, overwrite=True)


def _fifo(path):
    if not path.exists():
        os.mkfifo(path)
    return path


@pytest.fixture(scope="module")
def model_cases(G, folder):
    return _model_cases(G, folder)


MODEL_CASES = ["dtype-object-field.pkl", "dtype-far-offset.pkl", "dtype-subarray.pkl", "deep-key.pkl",
               "deep-frozenset.pkl", "deep-key.pt", "shared-key.pkl", "shared-src.pkl", "shared-name.pkl",
               "broadcast.pkl", "broadcast-avg.pt", "bomb.pt", "huge-header.safetensors",
               "deep-header.safetensors", "claims-header.safetensors", "one-byte.pkl", "inf-lr.pkl", "big-lr.pkl",
               "inf-clamp.pkl", "deep-filter.pkl", "huge-z.pkl", "bad-storage.pkl", "wrong-avg.pt",
               "deep-arch.safetensors", "nan.safetensors", "pipe"]


def test_every_crafted_file_is_small(model_cases):
    for name, (path, _) in model_cases.items():
        if path.is_file():
            assert path.stat().st_size < 4 * MB, name


@pytest.mark.parametrize("name", MODEL_CASES)
def test_hostile_model_file_gives_one_line(model_cases, name):
    path, expected = model_cases[name]
    result = run_in_child(cli, "info", path, timeout_s=60)
    check_one_line(result, path.name, expected)


def test_a_class_cannot_be_changed_by_a_file(G, folder):
    """BUILD aimed at an allow-listed class is refused, and a later load in the same process is unaffected."""
    from stylegan_fixtures import write_ada_pickle

    evil = hf.class_state_pickle(folder)
    good = write_ada_pickle(G, folder / "good-ada.pkl")

    def both():
        from facespace.stylegan.safe_pickle import EasyDict

        code = cli("info", evil)
        assert not hasattr(EasyDict, "x") and "take_state" in EasyDict.__dict__
        return code * 10 + cli("info", good)

    result = run_in_child(both)
    assert result.code == 20 and result.error_lines()[0].startswith("error: class-state.pkl"), result.describe()
    assert '"fingerprint"' in result.out


def test_code_running_globals_are_still_refused_by_name(folder):
    path = hf.pickle_file(folder, "evil.pkl", hf.op_global("posix", "system") + hf.op_str("touch pwned") + b"\x85R")
    check_one_line(run_in_child(cli, "info", path), "evil.pkl", "posix.system", "nothing from the file was run")


# ---------------------------------------------------------------- FaceSpace files, latents, blends

@pytest.fixture(scope="module")
def generator_file(G, folder):
    return save_generator(G, folder / "gen.safetensors", overwrite=True)


@pytest.fixture(scope="module")
def facespace_file(G, folder, generator_file):
    return hf.tiny_facespace(G, folder / "fs.safetensors", generator_file=str(generator_file))


@pytest.mark.parametrize("case,expected", [
    ("huge-encoder", "encoder settings"),
    ("format-number", "table of texts"),
    ("nan", "NaN"),
    ("secret-generator", "not a model file"),
])
def test_hostile_facespace_gives_one_line(G, folder, facespace_file, case, expected):
    out = folder / f"fs-{case}.safetensors"
    if case == "huge-encoder":
        hf.rewrite_facespace(facespace_file, out,
                             lambda i: i["encoder_kwargs"].update(num_faces=10 ** 6, w_dim=2 ** 20))
    elif case == "format-number":
        from safetensors import safe_open

        with safe_open(str(facespace_file), "pt") as f:
            meta = f.metadata()
        head = {"__metadata__": {**meta, "format_version": 1}}
        hf.raw_safetensors(out, head)
    elif case == "nan":
        hf.tiny_facespace(G, out, poison=True)
    else:
        secret = folder / "notes.txt"
        secret.write_text("SECRET-PASSWORD-123 and more text\n")
        hf.rewrite_facespace(facespace_file, out, lambda i: i.update(generator_file=str(secret)))
    model = [] if case == "secret-generator" else ["--model", folder / "gen.safetensors"]
    result = run_in_child(cli, "blend", out, *model, "--out", folder / f"{case}.png")
    line = check_one_line(result, out.name, expected)
    assert "SECRET" not in result.err + result.out and "SECRET" not in line
    assert not (folder / f"{case}.png").exists()


def test_overflowing_blend_weights_are_refused(folder, facespace_file):
    result = run_in_child(cli, "blend", facespace_file, "--weights", "anna=1e308, bea=1e308", "--raw", "--out",
                          folder / "overflow.png")
    check_one_line(result, "weights")
    result = run_in_child(cli, "blend", facespace_file, "--weights", "anna=1e308, bea=1e308", "--out",
                          folder / "overflow.png")
    check_one_line(result, "more than a number can hold")
    assert not (folder / "overflow.png").exists()


def test_latents_with_nan_or_a_lying_header_are_refused(folder, generator_file, G):
    nan = folder / "nan.npy"
    z = np.zeros((2, G.z_dim), np.float32)
    z[1, 3] = np.nan
    np.save(nan, z)
    check_one_line(run_in_child(cli, "sample", generator_file, "--latent", nan, "--out", folder / "n.png"),
                   "nan.npy", "finite")
    lying = folder / "lying.npy"
    np.save(lying, np.zeros((1, G.z_dim), np.float32))
    data = lying.read_bytes()
    old, new = f"(1, {G.z_dim})".encode(), b"(99999999999,)"
    end = data.index(b"\n")  # the header keeps its length: the padding gives way
    header = data[:end].replace(old, new)
    header = header[: end - len(header)] if len(header) > end else header
    lying.write_bytes(header + data[end:])
    check_one_line(run_in_child(cli, "sample", generator_file, "--latent", lying, "--out", folder / "l.png"),
                   "lying.npy", "header")


def test_a_generator_that_overflows_while_rendering_is_refused_in_a_node(G, folder):
    import copy

    from facespace.stylegan import StyleGAN

    hot = copy.deepcopy(G)
    with torch.no_grad():
        hot.synthesis_network.b8.torgb.weight.mul_(1e38)  # finite weights whose sums overflow
        hot.synthesis_network.b8.torgb.bias.fill_(3e38)

    def node():
        from nodes.sample import FaceSpaceSampleStyleGAN

        try:
            FaceSpaceSampleStyleGAN().sample(StyleGAN(hot, psi=1.0, name="hot.pkl"), seed=0, batch_size=2)
        except Exception as exc:  # what ComfyUI shows: the message
            print(f"error: {exc}", file=__import__("sys").stderr)
            return 2
        return 0

    check_one_line(run_in_child(node), "hot.pkl", "NaN or inf")


def test_node_errors_are_one_line(model_cases, folder):
    def node():
        from nodes.load_stylegan import FaceSpaceLoadStyleGAN

        for name in ("deep-key.pkl", "bomb.pt", "huge-header.safetensors", "nan.safetensors"):
            try:
                FaceSpaceLoadStyleGAN().load(str(model_cases[name][0]))
            except Exception as exc:
                text = str(exc)
                assert "\n" not in text and name in text, text
            else:
                raise AssertionError(f"{name} loaded")
        return 0

    result = run_in_child(node)
    assert result.code == 0 and result.signal is None, result.describe()


# ---------------------------------------------------------------- photos

def test_a_photo_claiming_huge_dimensions_is_refused_before_decoding(folder):
    photos = folder / "photos"
    photos.mkdir(exist_ok=True)
    hf.png_header_only(photos / "big.png", 30_000, 30_000)  # 900 MP; PIL's own limit would raise its bomb error
    hf.png_header_only(photos / "medium.png", 12_000, 9_000)
    (folder / "none.json").write_text("{}")
    for name in ("big.png", "medium.png"):
        check_one_line(run_in_child(cli, "align", photos / name, "--out", folder / "aligned", "--backend", "given",
                                    "--landmarks", folder / "none.json"), name, "MP")


def test_photos_are_decoded_one_at_a_time(folder):
    from PIL import Image

    photos = folder / "many"
    photos.mkdir(exist_ok=True)
    for i in range(6):
        Image.new("RGB", (3000, 3000), (i * 40, 90, 200)).save(photos / f"p{i}.png")  # 27 MB decoded, 30 KB on disk

    def decode_all():
        from facespace.align.photos import gather_photos

        for photo in gather_photos(folder=photos):
            assert photo.image.size == (3000, 3000)
        return 0

    result = run_in_child(decode_all)
    assert result.code == 0, result.describe()
    assert result.rss_growth_mb < 3 * 27 + 40, result.describe()  # all six at once would be 162 MB


# ---------------------------------------------------------------- writing: OS errors, leftovers

def test_os_errors_while_saving_are_one_line(folder, generator_file):
    long_name = folder / ("n" * 300 + ".safetensors")
    check_one_line(run_in_child(cli, "convert", generator_file, long_name), "file name is too long")

    def disk_full():
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # writes past 4 KB fail as on a full disk
        return cli("convert", generator_file, folder / "out" / "full.safetensors")

    check_one_line(run_in_child(disk_full), "full.safetensors", "cannot write")
    assert not any((folder / "out").iterdir())  # no temporary left behind

    def read_only():
        import tempfile

        def refuse(*a, **k):
            raise OSError(errno.EROFS, "Read-only file system", str(folder))

        tempfile.mkstemp = refuse
        return cli("convert", generator_file, folder / "ro.safetensors")

    check_one_line(run_in_child(read_only), "ro.safetensors", "read-only")


def test_a_killed_save_leaves_nothing_a_user_could_pick_up(G, folder, generator_file, monkeypatch):
    import nodes.comfy as comfy
    from facespace.runtime import PlainRuntime
    from facespace.stylegan import load_generator

    models = folder / "models"
    (models / "facespace").mkdir(parents=True, exist_ok=True)
    G2 = load_generator(generator_file)

    def killed_save():
        import safetensors.torch

        real = safetensors.torch.save_file

        def write_then_die(tensors, name, metadata=None):
            real(tensors, name, metadata=metadata)
            os.kill(os.getpid(), signal.SIGKILL)

        safetensors.torch.save_file = write_then_die
        import facespace.space.file as file_module

        file_module.save_file = write_then_die
        hf.tiny_facespace(G2, models / "facespace" / "big.safetensors")
        return 0

    result = run_in_child(killed_save)
    assert result.signal == signal.SIGKILL
    left = [p.name for p in (models / "facespace").iterdir()]
    assert len(left) == 1 and left[0].startswith(".big.safetensors") and "big.safetensors" not in left
    monkeypatch.setattr(comfy, "_runtime", PlainRuntime(models_dir=models, show_progress=False))
    assert comfy.list_models("facespace") == []  # the temporary is not offered
    hf.tiny_facespace(G2, models / "facespace" / "other.safetensors")  # the next save there cleans up
    assert sorted(p.name for p in (models / "facespace").iterdir()) == ["other.safetensors"]
    assert comfy.list_models("facespace") == ["other.safetensors"]


# ---------------------------------------------------------------- training

def test_training_far_below_its_start_is_not_saved(G, folder, generator_file):
    """An optimiser that ends finite but far from the photos (as a far too high learning rate did) is refused
    where the result is returned, so nothing is saved; the message says what PSNR it reached and what to try."""
    from PIL import Image

    from facespace.stylegan import StyleGAN

    train_dir = folder / "faces"
    train_dir.mkdir(exist_ok=True)
    for i, face in enumerate(StyleGAN(G, psi=0.5).sample([1, 2])):
        Image.fromarray((face.numpy() * 255).astype(np.uint8)).save(train_dir / f"f{i}.png")
    out = folder / "diverged.safetensors"

    def diverging_train():
        import facespace.train.trainer as trainer

        real = trainer.SCHEDULE_RUNS["fast"]

        def run(job):
            encoder, table, recorder = real(job)
            with torch.no_grad():
                for p in encoder.parameters():
                    p.mul_(-40)
            return encoder, table * -40, recorder

        trainer.SCHEDULE_RUNS["fast"] = run
        return cli("train", "--model", generator_file, "--faces", train_dir, "--out", out, "--steps", "4")

    line = check_one_line(run_in_child(diverging_train), "dB", "learning rate", "average face")
    assert "nothing was saved" in line and not out.exists()
    result = run_in_child(cli, "train", "--model", generator_file, "--faces", train_dir, "--out", out, "--steps", "4")
    assert result.code == 0 and out.exists(), result.describe()  # a short run below its target is kept
