"""Blend weights: text parsing and its errors, random weights, layer groups, blends vs the encoder."""
import pytest
import torch

from facespace.blend import (BlendPlan, blend_wplus, format_weights, layer_groups, normalize_rows, parse_weights,
                             plan_blends, random_weights, render_blends)
from facespace.errors import FaceSpaceError, UnknownFaceError, WeightsError
from facespace.stylegan import StyleGAN, tiny_generator
from facespace.train import FaceSpace, make_encoder

NAMES = ["anna", "bea", "carla", "dora"]


def make_facespace(kind: str, n: int = 4, num_ws: int = 8, w_dim: int = 16, seed: int = 0) -> FaceSpace:
    gen = torch.Generator().manual_seed(seed)
    table = torch.randn(n, num_ws, w_dim, generator=gen)
    enc = make_encoder(kind, n, num_ws, w_dim, w_avg=torch.randn(w_dim, generator=gen), seed=seed)
    if kind == "linear":
        enc.set_face_codes(table)
    names = NAMES[:n] if n <= len(NAMES) else [f"face{i}" for i in range(n)]
    return FaceSpace(names, enc, kind, table, resolution=32, generator_fingerprint="test")


def make_rendering_facespace(kind: str = "linear", n: int = 4, resolution: int = 32) -> FaceSpace:
    """A FaceSpace on a tiny random generator: the faces are the generator's own samples."""
    G = tiny_generator(resolution=resolution, seed=1)
    stylegan = StyleGAN(G, psi=0.7)
    table = stylegan.mapping(torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(2)))
    enc = make_encoder(kind, n, G.num_ws, G.w_dim, w_avg=G.w_avg, seed=0)
    if kind == "linear":
        enc.set_face_codes(table)
    names = NAMES[:n] if n <= len(NAMES) else [f"face{i}" for i in range(n)]
    return FaceSpace(names, enc, kind, table, resolution=resolution, generator_fingerprint=G.fingerprint(),
                     stylegan=stylegan)


# ---------------------------------------------------------------- parsing

def test_named_weights_fill_unnamed_faces_with_zero():
    assert parse_weights("anna=0.6, bea=0.4", NAMES) == [0.6, 0.4, 0.0, 0.0]
    assert parse_weights("dora: 2\ncarla=1; anna = 0.5", NAMES) == [0.5, 0.0, 1.0, 2.0]


def test_positional_weights_need_one_value_per_face():
    assert parse_weights("0.1, 0.2, 0.3, 0.4", NAMES) == [0.1, 0.2, 0.3, 0.4]
    with pytest.raises(WeightsError, match="2 values given for 4 faces"):
        parse_weights("0.6, 0.4", NAMES)
    with pytest.raises(WeightsError, match="5 values given"):
        parse_weights("1,1,1,1,1", NAMES)


def test_format_is_canonical_and_round_trips():
    text = "anna=0.6, bea=0.4, carla=0, dora=0"
    assert format_weights(NAMES, parse_weights(text, NAMES)) == text
    values = [0.123456, 1.0, 0.00001, 12.5]
    assert format_weights(NAMES, values) == "anna=0.123456, bea=1, carla=0.00001, dora=12.5"
    back = parse_weights(format_weights(NAMES, values), NAMES)
    assert back == pytest.approx(values, abs=1e-6)
    rows = random_weights(4, 3, seed=5)
    for row in rows:
        assert parse_weights(format_weights(NAMES, row), NAMES) == pytest.approx(row.tolist(), abs=5e-7)


def test_unknown_name_lists_known_names():
    with pytest.raises(UnknownFaceError) as err:
        parse_weights("anna=0.5, zoe=0.5", NAMES)
    assert "zoe" in str(err.value) and all(n in str(err.value) for n in NAMES)
    assert isinstance(err.value, FaceSpaceError)


def test_names_match_case_insensitively_when_unambiguous():
    assert parse_weights("ANNA=1", NAMES) == [1.0, 0, 0, 0]


@pytest.mark.parametrize("text, message", [
    ("anna=-0.5, bea=1", "negative"),
    ("anna=abc", "not a number"),
    ("anna=nan", "not a finite"),
    ("anna=inf", "not a finite"),
    ("anna=0.5, anna=0.5", "given twice"),
    ("anna=0.5, 0.5", "no face name"),
    ("  ,\n ", "empty"),
])
def test_bad_weights_are_refused_with_the_reason(text, message):
    with pytest.raises(WeightsError, match=message):
        parse_weights(text, NAMES)


def test_all_zero_weights_are_refused_normalised_or_raw():
    rows = torch.tensor([parse_weights("anna=0, bea=0", NAMES)])
    for normalize in (True, False):
        with pytest.raises(WeightsError, match="all weights are zero"):
            normalize_rows(rows, normalize)


def test_names_that_break_the_text_form_are_refused():
    with pytest.raises(WeightsError, match="cannot be written"):
        format_weights(["a,b", "c"], [1, 0])


def test_normalisation_makes_rows_sum_to_one_and_raw_keeps_them():
    rows = torch.tensor([[2.0, 1.0, 1.0, 0.0]])
    assert normalize_rows(rows, True).tolist() == [[0.5, 0.25, 0.25, 0.0]]
    assert normalize_rows(rows, False).tolist() == rows.tolist()


def test_random_weights_are_reproducible_positive_and_seed_dependent():
    a, b, c = random_weights(6, 5, 7), random_weights(6, 5, 7), random_weights(6, 5, 8)
    assert a.shape == (5, 6) and torch.equal(a, b) and not torch.equal(a, c)
    assert (a > 0).all()
    plan = plan_blends(NAMES, mode="random", count=5, seed=7)
    assert torch.allclose(plan.weights.sum(1), torch.ones(5, dtype=torch.float64))
    assert len({tuple(r) for r in plan.weights.tolist()}) == 5, "a batch of random blends are all different"


def test_plan_modes_and_defaults():
    plan = plan_blends(NAMES, "", mode="weights")
    assert plan.weights.tolist() == [[0.25] * 4], "empty weights text = every face equally"
    plan = plan_blends(NAMES, "", mode="weights", normalize=False)
    assert plan.weights.tolist() == [[0.25] * 4], "equal shares also when the weights are used as given"
    plan = plan_blends(NAMES, "anna=3, bea=1", normalize=False, count=2)
    assert plan.weights.tolist() == [[3, 1, 0, 0]], "count makes no identical copies in weights mode"
    plan = plan_blends(NAMES, "anna=3, bea=1", count=3, group_weights={"fine": "Random"}, num_ws=18)
    assert plan.weights.shape[0] == 3 and len({tuple(r) for r in plan.groups["fine"].tolist()}) == 3
    with pytest.raises(WeightsError, match="mode"):
        plan_blends(NAMES, "anna=1", mode="sometimes")
    with pytest.raises(WeightsError, match="count"):
        plan_blends(NAMES, "anna=1", count=0)


# ---------------------------------------------------------------- layer groups

def test_layer_groups_follow_the_paper_for_18_layers_and_scale_otherwise():
    g = layer_groups(18)
    assert (g["coarse"], g["middle"], g["fine"]) == (range(0, 4), range(4, 8), range(8, 18))
    for n in range(3, 33):
        g = layer_groups(n)
        covered = [i for r in g.values() for i in r]
        assert covered == list(range(n)) and all(len(r) >= 1 for r in g.values()), n
    assert layer_groups(14)["coarse"] == range(0, 3) and layer_groups(8)["fine"] == range(4, 8)
    with pytest.raises(WeightsError):
        layer_groups(2)


# ---------------------------------------------------------------- blends = encoder output

@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_blend_equals_encoder_output(kind):
    fs = make_facespace(kind)
    plan = plan_blends(fs.names, mode="random", count=4, seed=3, num_ws=fs.num_ws)
    ws = blend_wplus(fs, plan)
    assert ws.shape == (4, fs.num_ws, fs.w_dim)
    assert torch.equal(ws, fs.encode(plan.weights.float()))
    one = blend_wplus(fs, plan_blends(fs.names, "bea=1", num_ws=fs.num_ws))
    assert torch.allclose(one[0], fs.face_wplus(["bea"])[0], atol=1e-6)


def test_linear_blend_is_the_convex_combination_of_face_codes():
    fs = make_facespace("linear")
    ws = blend_wplus(fs, plan_blends(fs.names, "anna=0.6, bea=0.4", num_ws=fs.num_ws))
    expected = 0.6 * fs.wplus_table[0] + 0.4 * fs.wplus_table[1]
    assert (ws[0] - expected).abs().max() < 1e-5


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_group_blends_take_each_layer_range_from_its_weights(kind):
    fs = make_facespace(kind, num_ws=18, w_dim=8)
    groups = {"coarse": "anna=1", "fine": "dora=0.3, carla=0.7"}
    plan = plan_blends(fs.names, "bea=1", group_weights=groups, num_ws=fs.num_ws)
    ws = blend_wplus(fs, plan)[0]
    coarse = fs.encode(torch.tensor([[1.0, 0, 0, 0]]))[0]
    middle = fs.encode(torch.tensor([[0, 1.0, 0, 0]]))[0]
    fine = fs.encode(torch.tensor([[0, 0, 0.7, 0.3]]))[0]
    assert torch.equal(ws[0:4], coarse[0:4])
    assert torch.equal(ws[4:8], middle[4:8])
    assert torch.allclose(ws[8:18], fine[8:18], atol=1e-6)
    info = plan.info()
    assert info["groups"]["fine"]["layers"] == [8, 18] and info["groups"]["middle"]["weights"] == [[0, 1, 0, 0]]


def test_random_group_gives_each_blend_its_own_coarse_layers():
    fs = make_facespace("linear", num_ws=18, w_dim=8)
    plan = plan_blends(fs.names, "anna=1", count=3, seed=1, group_weights={"coarse": "random"}, num_ws=18)
    ws = blend_wplus(fs, plan)
    assert not torch.allclose(ws[0, :4], ws[1, :4]) and torch.equal(ws[0, 4:], ws[1, 4:])


def test_plan_for_other_faces_is_refused():
    fs = make_facespace("linear")
    plan = BlendPlan(names=["x", "y", "z", "w"], weights=torch.ones(1, 4) / 4)
    with pytest.raises(WeightsError, match="faces"):
        blend_wplus(fs, plan)


def test_rendered_blends_are_the_generator_images_of_the_encoded_weights():
    fs = make_rendering_facespace("linear")
    plan = plan_blends(fs.names, mode="random", count=3, seed=4, num_ws=fs.num_ws)
    images = render_blends(fs, plan)
    assert images.shape == (3, 32, 32, 3) and images.dtype == torch.float32 and images.device.type == "cpu"
    expected = fs.stylegan.render(fs.encode(plan.weights.float()))
    assert torch.allclose(images, expected, atol=1e-5)
    one_face = render_blends(fs, plan_blends(fs.names, "carla=1", num_ws=fs.num_ws))
    assert torch.allclose(one_face[0], fs.stylegan.render(fs.face_wplus(["carla"]))[0], atol=1e-4)


def test_names_holding_separator_characters_round_trip():
    names = ["jo=1", "ann:b", "c d"]
    text = format_weights(names, [0.5, 0.25, 0.25])
    assert text == "jo=1=0.5, ann:b=0.25, c d=0.25"
    assert parse_weights(text, names) == [0.5, 0.25, 0.25]
    assert parse_weights("c d: 1", names) == [0, 0, 1.0]
