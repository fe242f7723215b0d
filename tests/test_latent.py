"""The W+ latent value: random latents, per-layer mixes, SeFa / GANSpace directions, edits and latent files."""
import numpy as np
import pytest
import torch

from facespace.errors import FaceSpaceError, FingerprintMismatchError, ModelFormatError, WeightsError
from facespace.latent import (Latent, LayerMix, concat, edit_latent, ganspace_directions, group_mixes, load_latent,
                              mix_latents, parse_layer_mixes, parse_layers, random_latent, read_directions,
                              save_directions, save_latent, sefa_directions, sweep_latent, sweep_strengths)
from facespace.stylegan import StyleGAN, tiny_generator


@pytest.fixture(scope="module", params=["stylegan2", "stylegan1"])
def stylegan(request):
    return StyleGAN(tiny_generator(request.param, resolution=32, seed=1), psi=0.7, name="tiny")


@pytest.fixture(scope="module")
def sg2():
    return StyleGAN(tiny_generator("stylegan2", resolution=32, seed=1), psi=0.7, name="tiny")


def test_random_latent_renders_the_faces_sample_stylegan_draws(sg2):
    lat = random_latent(sg2, seed=5, count=3)
    assert lat.labels == ("seed 5", "seed 6", "seed 7") and lat.wplus.shape == (3, sg2.num_ws, sg2.w_dim)
    assert lat.generator_fingerprint == sg2.generator.fingerprint()
    assert torch.allclose(lat.render(sg2), sg2.sample([5, 6, 7]), atol=1e-6)
    untruncated = random_latent(sg2, seed=5, count=1, psi=1.0)
    assert not torch.allclose(untruncated.wplus, lat.wplus[:1])


def test_mix_with_weight_one_on_a_source_is_that_source_layer_by_layer(sg2):
    face, style = random_latent(sg2, 0, 2), random_latent(sg2, 100, 2)
    L = sg2.num_ws
    mixes = [LayerMix(range(0, 3), (1.0, 0.0)), LayerMix(range(5, L), (0.0, 1.0))]
    out = mix_latents([face, style], mixes)
    assert torch.equal(out.wplus[:, 0:3], face.wplus[:, 0:3])
    assert torch.equal(out.wplus[:, 5:], style.wplus[:, 5:])
    assert torch.equal(out.wplus[:, 3:5], face.wplus[:, 3:5])  # outside every range: the first latent
    half = mix_latents([face, style], [LayerMix(range(L), (2.0, 2.0))])  # weights are normalised
    assert torch.allclose(half.wplus, (face.wplus + style.wplus) / 2, atol=1e-6)
    assert out.labels == ("seed 0+seed 100", "seed 1+seed 101")


def test_mix_groups_ranges_text_and_batches_of_one(sg2):
    faces, painting = random_latent(sg2, 0, 3), random_latent(sg2, 9, 1)
    spans = {"coarse": parse_layers("coarse", sg2.num_ws), "fine": parse_layers("fine", sg2.num_ws)}
    out = mix_latents([faces, painting], group_mixes(sg2.num_ws, {"coarse": "1, 0", "fine": "0, 1"}, 2))
    assert len(out) == 3
    fine = slice(spans["fine"].start, spans["fine"].stop)
    assert torch.equal(out.wplus[:, fine], painting.wplus[:, fine].expand(3, -1, -1))
    assert torch.equal(out.wplus[:, :spans["fine"].start], faces.wplus[:, :spans["fine"].start])
    mixes = parse_layer_mixes("0-1: 1, 0\n6-7: 0.25, 0.75", sg2.num_ws, 2)
    assert [(m.layers, m.weights) for m in mixes] == [(range(0, 2), (1.0, 0.0)), (range(6, 8), (0.25, 0.75))]
    with pytest.raises(WeightsError, match="3 weights for 2 latents"):
        parse_layer_mixes("0-1: 1, 0, 0", sg2.num_ws, 2)
    with pytest.raises(FaceSpaceError, match="outside 0..7"):
        parse_layer_mixes("4-9: 1, 0", sg2.num_ws, 2)
    with pytest.raises(FaceSpaceError, match="batches of"):
        mix_latents([faces, random_latent(sg2, 0, 2)], mixes)
    with pytest.raises(WeightsError, match="all weights are zero"):
        mix_latents([faces, painting], [LayerMix(range(2), (0.0, 0.0))])


def test_latents_of_different_generators_are_not_mixed_or_rendered(sg2):
    other = StyleGAN(tiny_generator("stylegan2", resolution=32, seed=2), name="other")
    a, b = random_latent(sg2, 0, 1), random_latent(other, 0, 1)
    with pytest.raises(FaceSpaceError, match="different generators|made for generator"):
        mix_latents([a, b], [LayerMix(range(2), (1.0, 0.0))])
    with pytest.raises(FingerprintMismatchError, match="generator other is"):
        a.render(other)
    assert a.render(other, allow_mismatch=True).shape == (1, 32, 32, 3)
    small = StyleGAN(tiny_generator("stylegan2", resolution=16, seed=2))
    with pytest.raises(FingerprintMismatchError, match="cannot render"):
        a.render(small, allow_mismatch=True)


def independent_sefa(G, count):
    """AᵀA from the style affines' stored weights and their run-time scale, eigenvectors by numpy."""
    blocks = []
    for name, module in G.synthesis_network.named_modules():
        if name.endswith(("affine", "style")):
            w = module.weight.detach().numpy().astype(np.float64)
            blocks.append(w / np.sqrt(w.shape[1]))  # equalised learning rate: gain 1 / sqrt(fan_in)
    A = np.concatenate(blocks)
    values, vectors = np.linalg.eigh(A.T @ A)
    order = np.argsort(values)[::-1][:count]
    return vectors[:, order].T, values[order]


def test_sefa_rows_are_the_eigenvectors_of_AtA(stylegan):
    G = stylegan.generator
    rows, values = sefa_directions(G, 6)
    expected, expected_values = independent_sefa(G, 6)
    assert rows.shape == (6, G.w_dim)
    assert np.allclose(values.numpy(), expected_values, rtol=1e-5)
    for got, want in zip(rows.double().numpy(), expected):
        assert abs(abs(got @ want) - 1) < 1e-5  # the same vector up to sign
    assert np.all(np.diff(values.numpy()) <= 0)


# The W+ layer each style affine reads, written out from the architectures.
SG2_LAYER_OF = {"b4.conv1": 0, "b4.torgb": 1, "b8.conv0": 1, "b8.conv1": 2, "b8.torgb": 3, "b16.conv0": 3,
                "b16.conv1": 4, "b16.torgb": 5, "b32.conv0": 5, "b32.conv1": 6, "b32.torgb": 7}


def test_sefa_in_chosen_layers_factorises_only_their_style_weights(stylegan):
    G = stylegan.generator
    if G.family == "stylegan2":
        layer_of = {f"{name}.affine": i for name, i in SG2_LAYER_OF.items()}
    else:  # StyleGAN1: two epilogues per resolution, one W+ layer each
        layer_of = {f"b{4 * 2 ** (i // 2)}.epi{i % 2}.style": i for i in range(G.num_ws)}
    for layers in (range(1, 2), range(2, 4)):
        blocks = [m.weight.detach().numpy().astype(np.float64) / np.sqrt(G.w_dim)
                  for name, m in G.synthesis_network.named_modules() if layer_of.get(name, -1) in layers]
        A = np.concatenate(blocks)
        values, vectors = np.linalg.eigh(A.T @ A)
        want = vectors[:, np.argsort(values)[::-1][:3]].T
        rows, _ = sefa_directions(G, 3, layers)
        assert np.allclose(np.abs((rows.double().numpy() * want).sum(1)), 1, atol=1e-5), (G.family, layers)
    assert not torch.allclose(sefa_directions(G, 1, range(0, 1))[0], sefa_directions(G, 1)[0])


def test_ganspace_rows_are_orthonormal_and_sorted_by_explained_variance(stylegan):
    G = stylegan.generator
    rows, ratio = ganspace_directions(G, 8, samples=3000, seed=1)
    gram = rows.double() @ rows.double().T
    assert torch.allclose(gram, torch.eye(8, dtype=torch.float64), atol=1e-5)
    assert torch.all(ratio[:-1] >= ratio[1:]) and 0 < float(ratio.sum()) <= 1
    # On fresh samples the variance along each row follows the same order.
    W = G.mapping_network(torch.randn(4000, G.z_dim, generator=torch.Generator().manual_seed(7))).double()
    var = ((W - W.mean(0)) @ rows.double().T).var(dim=0)
    assert float(var[0]) > float(var[-1])
    assert torch.equal(rows, ganspace_directions(G, 8, samples=3000, seed=1)[0])  # deterministic for a seed


def test_strength_zero_is_the_identity_and_s_moves_exactly_s_in_the_chosen_layers(sg2):
    lat = random_latent(sg2, 3, 2)
    d = sefa_directions(sg2.generator, 3)[0][1]
    assert torch.equal(edit_latent(lat, d, 0.0).wplus, lat.wplus)
    layers = parse_layers("2-4", sg2.num_ws)
    out = edit_latent(lat, d, 2.5, layers)
    delta = (out.wplus - lat.wplus).double()
    assert torch.equal(out.wplus[:, :2], lat.wplus[:, :2]) and torch.equal(out.wplus[:, 5:], lat.wplus[:, 5:])
    assert torch.allclose(delta[:, 2:5], 2.5 * d.double().expand(2, 3, -1), atol=1e-5)
    assert torch.allclose(delta[:, 2:5].norm(dim=-1), torch.full((2, 3), 2.5, dtype=torch.float64), atol=1e-5)


def test_a_sweep_is_a_filmstrip_item_by_item(sg2):
    lat = random_latent(sg2, 3, 2)
    d = sefa_directions(sg2.generator, 1)[0][0]
    strengths = sweep_strengths(2, 5)
    assert strengths == pytest.approx([-2, -1, 0, 1, 2])
    strip = sweep_latent(lat, d, strengths, name="sefa0")
    assert len(strip) == 10 and strip.labels[:2] == ("seed 3 sefa0 -2", "seed 3 sefa0 -1")
    assert torch.allclose(strip.wplus[2], lat.wplus[0], atol=1e-6) and torch.allclose(strip.wplus[7], lat.wplus[1], atol=1e-6)


def test_direction_files_in_every_published_shape(sg2, tmp_path):
    L, D = sg2.num_ws, sg2.w_dim
    rows = sefa_directions(sg2.generator, 3)[0]
    path = save_directions(rows, tmp_path / "dirs.npy")
    with pytest.raises(FaceSpaceError, match="already exists"):
        save_directions(rows, path)
    read = read_directions(path, L, D)
    assert read.shape == (3, L, D) and torch.equal(read[1, 4], rows[1])
    np.save(tmp_path / "one.npy", rows[0].numpy())
    assert torch.equal(read_directions(tmp_path / "one.npy", L, D)[0, 0], rows[0])
    per_layer = np.random.RandomState(0).randn(L, D).astype(np.float32)
    np.save(tmp_path / "wplus.npy", per_layer)
    assert read_directions(tmp_path / "wplus.npy", L, D).shape == (L, L, D)  # rows unless told otherwise
    assert np.array_equal(read_directions(tmp_path / "wplus.npy", L, D, per_layer=True)[0].numpy(), per_layer)
    np.save(tmp_path / "bad.npy", np.zeros((2, D + 1), np.float32))
    with pytest.raises(FaceSpaceError, match=r"shape \(2, 33\); expected \[32\]"):
        read_directions(tmp_path / "bad.npy", L, D)


def test_latent_files_round_trip_and_refuse_other_generators(sg2, tmp_path):
    lat = concat([random_latent(sg2, 0, 2), Latent(torch.zeros(1, sg2.num_ws, sg2.w_dim),
                                                    sg2.generator.fingerprint(), ("zero",),
                                                    ({"names": ["a", "b"], "weights": [0.5, 0.5]},))])
    path = save_latent(lat, tmp_path / "faces.safetensors")
    back = load_latent(path)
    assert torch.equal(back.wplus, lat.wplus) and back.labels == lat.labels and back.weights == lat.weights
    assert back.generator_fingerprint == lat.generator_fingerprint
    assert load_latent(path, sg2).generator_fingerprint == lat.generator_fingerprint
    before = path.read_bytes()
    with pytest.raises(FaceSpaceError, match="already exists"):
        save_latent(random_latent(sg2, 5, 1), path)
    assert path.read_bytes() == before
    save_latent(random_latent(sg2, 5, 1), path, overwrite=True)
    assert load_latent(path).labels == ("seed 5",)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.safetensors"]  # no temporary files left
    other = StyleGAN(tiny_generator("stylegan2", resolution=32, seed=2), name="other")
    with pytest.raises(FingerprintMismatchError, match=r"faces\.safetensors was made for generator"):
        load_latent(path, other)
    adopted = load_latent(path, other, allow_mismatch=True)
    assert adopted.generator_fingerprint == other.generator.fingerprint()


def test_npy_latents_are_shape_checked_and_take_the_generator(sg2, tmp_path):
    ws = random_latent(sg2, 0, 2).wplus.numpy()
    np.save(tmp_path / "w.npy", ws)
    with pytest.raises(FaceSpaceError, match="no generator fingerprint"):
        load_latent(tmp_path / "w.npy")
    lat = load_latent(tmp_path / "w.npy", sg2)
    assert lat.labels == ("w_0", "w_1") and np.array_equal(lat.wplus.numpy(), ws)
    np.save(tmp_path / "one.npy", ws[0])
    assert load_latent(tmp_path / "one.npy", sg2).labels == ("one",)
    np.save(tmp_path / "flat.npy", ws[:, 0])
    with pytest.raises(FaceSpaceError, match=r"shape \(2, 32\); expected W\+ codes \[N,8,32\]"):
        load_latent(tmp_path / "flat.npy", sg2)
    bad = ws.copy()
    bad[0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(FaceSpaceError, match="finite"):
        load_latent(tmp_path / "nan.npy", sg2)


def test_damaged_or_foreign_latent_files_are_refused(sg2, tmp_path):
    from facespace.stylegan import save_generator

    gen_file = save_generator(sg2.generator, tmp_path / "g.safetensors")
    with pytest.raises(ModelFormatError, match="not a latent file"):
        load_latent(gen_file)
    (tmp_path / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(ModelFormatError, match="damaged latent file"):
        load_latent(tmp_path / "junk.safetensors")
    with pytest.raises(FaceSpaceError, match="must end in .safetensors"):
        save_latent(random_latent(sg2, 0, 1), tmp_path / "x.npy")
    with pytest.raises(FaceSpaceError, match="finite"):
        Latent(torch.full((1, 8, 32), float("inf")), "f", ("a",))
    with pytest.raises(FaceSpaceError, match="2 labels"):
        Latent(torch.zeros(1, 8, 32), "f", ("a", "b"))
