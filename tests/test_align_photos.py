"""Reading photos (EXIF rotation, alpha, greyscale, 16-bit, formats, folders), face names, selection."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from facespace.align import AlignResult, align_faces, select_faces
from facespace.align.landmarks import Face, LandmarkBackend, load_given_landmarks
from facespace.align.overlay import draw_overlay
from facespace.align.photos import batch_photos, gather_photos, list_photos, load_photo
from facespace.blend import format_weights
from facespace.errors import FaceSpaceError
from facespace.names import clean_name, split_list, unique_names


def gradient(w=40, h=30) -> Image.Image:
    """A picture whose orientation can be read back: red grows to the right, green downward."""
    ys, xs = np.mgrid[:h, :w]
    arr = np.stack([xs * 255 // (w - 1), ys * 255 // (h - 1), np.full_like(xs, 60)], -1).astype(np.uint8)
    return Image.fromarray(arr)


def test_exif_rotation_is_applied(tmp_path):
    pic = gradient()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display it turned 90 degrees clockwise
    pic.save(tmp_path / "turned.jpg", exif=exif.tobytes(), quality=95)
    loaded = load_photo(tmp_path / "turned.jpg")
    assert loaded.size == (30, 40) and loaded.mode == "RGB"
    arr = np.asarray(loaded, dtype=np.float64)
    # After a clockwise turn the old top row is the right column: green (old y) now grows leftward.
    assert arr[20, 0, 1] > arr[20, -1, 1] + 100
    assert arr[-1, 15, 0] > arr[0, 15, 0] + 100


def test_alpha_greyscale_and_16_bit(tmp_path):
    rgba = Image.new("RGBA", (8, 8), (10, 20, 30, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    rgba.save(tmp_path / "a.png")
    arr = np.asarray(load_photo(tmp_path / "a.png"))
    assert tuple(arr[0, 0]) == (255, 255, 255) and tuple(arr[1, 1]) == (10, 20, 30)

    Image.new("L", (8, 8), 77).save(tmp_path / "g.png")
    assert tuple(np.asarray(load_photo(tmp_path / "g.png"))[3, 3]) == (77, 77, 77)

    deep = Image.fromarray(np.full((8, 8), 65535 // 2, np.uint16))
    deep.save(tmp_path / "d.png")
    assert abs(int(np.asarray(load_photo(tmp_path / "d.png"))[0, 0, 0]) - 127) <= 1

    p = Image.new("P", (8, 8), 0)
    p.putpalette([200, 100, 50] * 256)
    p.save(tmp_path / "p.gif")
    assert tuple(np.asarray(load_photo(tmp_path / "p.gif"))[0, 0]) == (200, 100, 50)

    (tmp_path / "broken.jpg").write_bytes(b"not a picture")
    with pytest.raises(FaceSpaceError, match="broken.jpg"):
        load_photo(tmp_path / "broken.jpg")


def test_folder_of_mixed_formats_and_sizes(tmp_path):
    gradient(40, 30).save(tmp_path / "b.JPG", quality=95)
    gradient(64, 64).save(tmp_path / "a.webp", quality=95)
    gradient(20, 50).save(tmp_path / "c.png")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden.png").write_bytes(b"")
    assert [p.name for p in list_photos(tmp_path)] == ["a.webp", "b.JPG", "c.png"]
    photos = gather_photos(folder=tmp_path)
    assert [p.name for p in photos] == ["a", "b", "c"]
    assert [p.image.size for p in photos] == [(64, 64), (40, 30), (20, 50)]
    with pytest.raises(FaceSpaceError, match="does not exist"):
        list_photos(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FaceSpaceError, match="holds no photos"):
        list_photos(tmp_path / "empty")


def test_image_batch_channels():
    rgba = torch.zeros(2, 4, 4, 4)
    rgba[..., 0] = 1.0
    rgba[0, ..., 3] = 1.0      # opaque red
    rgba[1, ..., 3] = 0.0      # fully transparent: white
    pics = batch_photos(rgba)
    assert np.asarray(pics[0])[0, 0].tolist() == [255, 0, 0]
    assert np.asarray(pics[1])[0, 0].tolist() == [255, 255, 255]
    grey = batch_photos(torch.full((1, 4, 4, 1), 0.5))
    assert np.asarray(grey[0])[0, 0].tolist() == [128, 128, 128]
    with pytest.raises(FaceSpaceError, match="IMAGE"):
        batch_photos(torch.zeros(1, 4, 4, 2))


def test_names(tmp_path):
    assert split_list("anna, bo\nchris,,\n;dan; ") == ["anna", "bo", "chris", "dan"]
    assert clean_name(" a/b:c,d;e ") == "a_b_c_d_e" and clean_name("...") == "face"
    assert unique_names(["x", "x", "X", "y"], set()) == ["x", "x_2", "X_3", "y"]
    taken = set()
    assert unique_names(["Zoë"], taken) + unique_names(["zoë"], taken) == ["Zoë", "zoë_2"]
    batch = torch.zeros(2, 8, 8, 3)
    photos = gather_photos(images=batch)
    assert [p.name for p in photos] == ["face_01", "face_02"]
    assert [p.name for p in gather_photos(images=batch, names="Ada Lovelace\nGrace")] == ["Ada Lovelace", "Grace"]
    assert [p.name for p in gather_photos(images=batch, names="Ada; Grace")] == ["Ada", "Grace"]
    with pytest.raises(FaceSpaceError, match="3 name.*2 photo"):
        gather_photos(images=batch, names="a,b,c")
    with pytest.raises(FaceSpaceError, match="no photos"):
        gather_photos()
    with pytest.raises(FaceSpaceError, match="does not exist"):
        gather_photos(files=[tmp_path / "nope.jpg"])


def test_file_names_become_face_names_usable_in_weights_text(tmp_path):
    gradient().save(tmp_path / "anna;bea.png")
    gradient().save(tmp_path / "Émile, jr.png")
    names = [p.name for p in gather_photos(folder=tmp_path)]
    assert names == ["anna_bea", "Émile_ jr"]
    assert format_weights(names, [0.5, 0.5]) == "anna_bea=0.5, Émile_ jr=0.5"


def face_at(x, size, score=1.0):
    lm = np.zeros((68, 2))
    lm[:, 0] = x + np.linspace(0, size, 68)
    lm[:, 1] = np.linspace(0, size, 68)
    return Face(lm, score)


def test_select_faces():
    faces = [face_at(300, 50), face_at(10, 80), face_at(150, 60, score=0.2)]
    assert select_faces(faces, "largest")[0].box[0] == 10
    assert [f.box[0] for f in select_faces(faces, "all")] == [10, 300]
    assert [f.box[0] for f in select_faces(faces, "all", score_threshold=0.0)] == [10, 150, 300]
    assert select_faces(faces, "index", 1)[0].box[0] == 300
    assert select_faces(faces, "index", 2) == []
    with pytest.raises(FaceSpaceError, match="largest"):
        select_faces(faces, "biggest")


class FixedFaces(LandmarkBackend):
    """A detector that reports the same faces in every photo."""

    name = "fixed"

    def __init__(self, faces):
        self.faces = faces

    def detect(self, image, source=""):
        return list(self.faces)


def test_records_give_each_face_its_position_from_the_left():
    small_left = Face(astronaut_like_landmarks(40, scale=0.5))
    large_right = Face(astronaut_like_landmarks(200))
    detector = FixedFaces([large_right, small_left])
    photo = torch.full((1, 300, 400, 3), 0.5)
    largest = align_faces(images=photo, size=32, backend=detector, preview=False)
    assert [f.face_index for f in largest.faces] == [1]
    everyone = align_faces(images=photo, size=32, backend=detector, faces="all", preview=False)
    assert [f.face_index for f in everyone.faces] == [0, 1] and everyone.names == ["face_01_01", "face_01_02"]
    assert [r["face_index"] for r in everyone.records] == [0, 1]


def astronaut_like_landmarks(x0: float, scale: float = 1.0) -> np.ndarray:
    """68 points with eyes and mouth corners placed like a frontal face whose left eye is at x0."""
    lm = np.zeros((68, 2))
    lm[36:42] = (x0, 100)
    lm[42:48] = (x0 + 43 * scale, 100)
    lm[48], lm[54] = (x0, 100 + 38 * scale), (x0 + 43 * scale, 100 + 38 * scale)
    lm[:36] = (x0 + 21 * scale, 100 + 20 * scale)
    lm[49:54] = lm[55:68] = (x0 + 21 * scale, 100 + 38 * scale)
    lm[0], lm[16] = (x0 - 20 * scale, 90), (x0 + 63 * scale, 90)   # the face's width decides its box
    return lm


def test_given_landmarks_formats(tmp_path):
    one = np.arange(136, dtype=float).reshape(68, 2)
    backend = load_given_landmarks({"photo.jpg": one.tolist(), "two": [one.tolist(), (one + 1).tolist()]})
    assert len(backend.detect(None, "/some/where/photo.jpg")) == 1
    assert len(backend.detect(None, "two.png")) == 2
    assert backend.detect(None, "other.png") == []
    in_order = load_given_landmarks(f"[{one.tolist()}]")
    assert len(in_order.detect(None, "images[0]")) == 1
    # The align command's own landmarks.json reads back.
    (tmp_path / "lm.json").write_text('{"a_01.png": {"source": "x/a.jpg", "landmarks": %s}}' % one.tolist())
    assert len(load_given_landmarks(tmp_path / "lm.json").detect(None, "a.jpg")) == 1
    with pytest.raises(FaceSpaceError, match="not found"):
        load_given_landmarks(tmp_path / "none.json")
    with pytest.raises(FaceSpaceError, match="68"):
        load_given_landmarks({"p": [[1, 2]]}).detect(None, "p")


def test_overlay_and_empty_result():
    pic = gradient(200, 100)
    lm = face_at(20, 50).landmarks
    quad = np.array([[10, 10], [10, 90], [90, 90], [90, 10]], dtype=float)
    out = draw_overlay(pic, [(lm, quad)], size=256)
    assert out.size == (256, 256)
    assert np.abs(np.asarray(out, dtype=int) - np.asarray(draw_overlay(pic, [], size=256), dtype=int)).sum() > 0
    assert AlignResult().names == []
