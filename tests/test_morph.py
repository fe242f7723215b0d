"""Morph paths: frame count and order, endpoints, even motion, easing, errors (no rendering here)."""
import pytest
import torch

from facespace.errors import FaceSpaceError, UnknownFaceError, WeightsError
from facespace.morph import EASINGS, MorphPlan, ease, morph_wplus, parse_order
from test_blend import NAMES, make_facespace


def step_sizes(ws: torch.Tensor) -> torch.Tensor:
    return (ws[1:] - ws[:-1]).double().flatten(1).norm(dim=1)


def test_order_parsing():
    assert parse_order("", NAMES) == [0, 1, 2, 3]
    assert parse_order("dora, anna\nbea", NAMES) == [3, 0, 1]
    assert parse_order("carla -> anna -> carla", NAMES) == [2, 0, 2]
    with pytest.raises(UnknownFaceError, match="anna, bea, carla, dora"):
        parse_order("anna, zoe", NAMES)
    with pytest.raises(WeightsError, match="follows itself"):
        parse_order("anna, anna, bea", NAMES)


@pytest.mark.parametrize("frames, hold, loop", [(1, 0, False), (4, 0, False), (5, 2, False), (4, 0, True),
                                                (3, 1, True)])
def test_frame_count_matches_the_documented_formula(frames, hold, loop):
    order = [0, 2, 1]
    plan = MorphPlan(order, frames=frames, hold=hold, loop=loop)
    expected = len(order) * (frames + hold) if loop else (len(order) - 1) * frames + 1 + len(order) * hold
    assert len(plan.schedule()) == plan.frame_count() == expected


@pytest.mark.parametrize("space", ["code", "wplus"])
@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_faces_appear_in_order_as_their_own_reconstructions(kind, space):
    fs = make_facespace(kind)
    order = [2, 0, 3]
    F, H = 5, 2
    ws = morph_wplus(fs, MorphPlan(order, frames=F, hold=H, space=space))
    faces = fs.face_wplus()
    assert ws.shape == ((len(order) - 1) * F + 1 + len(order) * H, fs.num_ws, fs.w_dim)
    starts = [k * (F + H) for k in range(len(order))]
    for k, face in enumerate(order):
        for j in range(H + 1):
            assert torch.equal(ws[starts[k] + j], faces[face]), (k, j)
    # Nothing else on the path equals a face: no duplicated frame at a joint without hold frames.
    plain = morph_wplus(fs, MorphPlan(order, frames=F, space=space))
    assert (step_sizes(plain) > 0).all()
    assert torch.equal(plain[0], faces[2]) and torch.equal(plain[-1], faces[3])


def test_loop_walks_back_without_repeating_the_first_face():
    fs = make_facespace("linear")
    plan = MorphPlan([0, 1, 2], frames=4, loop=True, space="wplus")
    ws = morph_wplus(fs, plan)
    faces = fs.face_wplus()
    assert len(ws) == 12 and torch.equal(ws[0], faces[0]) and torch.equal(ws[8], faces[2])
    wrapped = torch.cat([ws, ws[:1]])  # playing it again: the last frame steps onto the first
    steps = step_sizes(wrapped)
    back = (faces[0] - faces[2]).double().norm() / 4
    assert torch.allclose(steps[-4:], back.expand(4), rtol=1e-4)


@pytest.mark.parametrize("easing", list(EASINGS))
@pytest.mark.parametrize("kind, space", [("linear", "wplus"), ("linear", "code"), ("mlp", "wplus")])
def test_step_sizes_follow_the_easing_curve(kind, space, easing):
    fs = make_facespace(kind)
    F = 8
    ws = morph_wplus(fs, MorphPlan([0, 1, 2], frames=F, easing=easing, space=space))
    faces = fs.face_wplus()
    t = torch.arange(F + 1, dtype=torch.float64) / F
    expected_fraction = ease(easing, t).diff()
    for k, (a, b) in enumerate([(0, 1), (1, 2)]):
        steps = step_sizes(ws[k * F:(k + 1) * F + 1])
        length = (faces[b] - faces[a]).double().norm()
        assert torch.allclose(steps / length, expected_fraction, atol=1e-4), (k, steps / length)


@pytest.mark.parametrize("easing", ["linear", "smoothstep"])
def test_code_space_through_an_mlp_is_retimed_to_even_motion(easing):
    fs = make_facespace("mlp", seed=3)
    F = 10
    ws = morph_wplus(fs, MorphPlan([0, 1], frames=F, easing=easing, space="code"))
    expected = ease(easing, torch.arange(F + 1, dtype=torch.float64) / F).diff()
    steps = step_sizes(ws)
    assert (steps / steps.sum() / expected - 1).abs().max() < 1e-3, steps / steps.sum() / expected
    # Without re-timing a plain lerp of the codes moves unevenly through this encoder.
    naive = fs.encode(torch.stack([1 - torch.arange(F + 1) / F, torch.arange(F + 1) / F,
                                   torch.zeros(F + 1), torch.zeros(F + 1)], 1))
    naive_steps = step_sizes(naive)
    if easing == "linear":
        assert naive_steps.max() / naive_steps.min() > steps.max() / steps.min()


def test_bad_plans_are_refused():
    with pytest.raises(WeightsError, match="at least two"):
        MorphPlan([0])
    with pytest.raises(FaceSpaceError, match="frames"):
        MorphPlan([0, 1], frames=0)
    with pytest.raises(FaceSpaceError, match="hold"):
        MorphPlan([0, 1], hold=-1)
    with pytest.raises(FaceSpaceError, match="easing"):
        MorphPlan([0, 1], easing="bounce")
    with pytest.raises(FaceSpaceError, match="space"):
        MorphPlan([0, 1], space="z")
    with pytest.raises(WeightsError, match="loop"):
        MorphPlan([0, 1, 0], loop=True)
