"""The production FFHQ alignment against a literal implementation of the published recipe."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facespace.align.ffhq import align_ffhq, face_geometry, gaussian_blur, points_in_crop

DATA = Path(__file__).resolve().parent / "data"

# 68 landmarks of astronaut.png measured once with dlib's HOG detector + 68-point predictor (the
# detector tests re-measure them); kept here so the geometry tests need no detector.
ASTRONAUT_EYES = ((203.2, 101.5), (246.5, 104.2))


def reference_align(img: Image.Image, lm, output_size=1024, transform_size=4096, enable_padding=True) -> Image.Image:
    """FFHQ's alignment written out step by step from its published description (NVlabs/ffhq-dataset)."""
    import scipy.ndimage

    lm = np.array(lm, dtype=np.float64)
    eye_left = np.mean(lm[36:42], axis=0)
    eye_right = np.mean(lm[42:48], axis=0)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_left = lm[48]
    mouth_right = lm[54]
    mouth_avg = (mouth_left + mouth_right) * 0.5
    eye_to_mouth = mouth_avg - eye_avg

    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y])
    qsize = np.hypot(*x) * 2

    img = img.convert("RGB")
    shrink = int(np.floor(qsize / output_size * 0.5))
    if shrink > 1:
        rsize = (int(np.rint(float(img.size[0]) / shrink)), int(np.rint(float(img.size[1]) / shrink)))
        img = img.resize(rsize, Image.LANCZOS)
        quad /= shrink
        qsize /= shrink

    border = max(int(np.rint(qsize * 0.1)), 3)
    crop = (int(np.floor(min(quad[:, 0]))), int(np.floor(min(quad[:, 1]))),
            int(np.ceil(max(quad[:, 0]))), int(np.ceil(max(quad[:, 1]))))
    crop = (max(crop[0] - border, 0), max(crop[1] - border, 0),
            min(crop[2] + border, img.size[0]), min(crop[3] + border, img.size[1]))
    if crop[2] - crop[0] < img.size[0] or crop[3] - crop[1] < img.size[1]:
        img = img.crop(crop)
        quad -= crop[0:2]

    pad = (int(np.floor(min(quad[:, 0]))), int(np.floor(min(quad[:, 1]))),
           int(np.ceil(max(quad[:, 0]))), int(np.ceil(max(quad[:, 1]))))
    pad = (max(-pad[0] + border, 0), max(-pad[1] + border, 0),
           max(pad[2] - img.size[0] + border, 0), max(pad[3] - img.size[1] + border, 0))
    if enable_padding and max(pad) > border - 4:
        pad = np.maximum(pad, int(np.rint(qsize * 0.3)))
        img = np.pad(np.float32(img), ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0)), "reflect")
        h, w, _ = img.shape
        y, x, _ = np.ogrid[:h, :w, :1]
        mask = np.maximum(1.0 - np.minimum(np.float32(x) / pad[0], np.float32(w - 1 - x) / pad[2]),
                          1.0 - np.minimum(np.float32(y) / pad[1], np.float32(h - 1 - y) / pad[3]))
        blur = qsize * 0.02
        img += (scipy.ndimage.gaussian_filter(img, [blur, blur, 0]) - img) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
        img += (np.median(img, axis=(0, 1)) - img) * np.clip(mask, 0.0, 1.0)
        img = Image.fromarray(np.uint8(np.clip(np.rint(img), 0, 255)), "RGB")
        quad += pad[:2]

    img = img.transform((transform_size, transform_size), Image.QUAD, (quad + 0.5).flatten(), Image.BILINEAR)
    if output_size < transform_size:
        img = img.resize((output_size, output_size), Image.LANCZOS)
    return img


def reference_eyes_in_crop(lm, size: int) -> np.ndarray:
    """Where the recipe sends the eye centres: solve the quad -> square map written out by hand."""
    lm = np.asarray(lm, dtype=np.float64)
    eyes = np.stack([lm[36:42].mean(0), lm[42:48].mean(0)])
    eye_avg = eyes.mean(0)
    e2e = eyes[1] - eyes[0]
    e2m = (lm[48] + lm[54]) / 2 - eye_avg
    x = e2e - np.array([-e2m[1], e2m[0]])
    x = x / np.linalg.norm(x) * max(np.linalg.norm(e2e) * 2.0, np.linalg.norm(e2m) * 1.8)
    y = np.array([-x[1], x[0]])
    top_left = eye_avg + 0.1 * e2m - x - y
    rel = eyes - top_left
    # Continuous crop coordinate = fraction of the side * size; pixel index = that - 0.5.
    return np.stack([rel @ x / (2 * x @ x) * size, rel @ y / (2 * y @ y) * size], axis=1) - 0.5


def psnr(a: Image.Image, b: Image.Image) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def synthetic_landmarks(eye_left, eye_right, mouth_left, mouth_right) -> np.ndarray:
    """68 points whose eye rings average to the given eye centres, with the given mouth corners
    (the other points do not enter the recipe)."""
    lm = np.zeros((68, 2))
    ring = np.array([[-3, 0], [-1.5, -1], [1.5, -1], [3, 0], [1.5, 1], [-1.5, 1]], dtype=np.float64)
    lm[36:42] = np.asarray(eye_left) + ring
    lm[42:48] = np.asarray(eye_right) + ring
    lm[48:68] = (np.asarray(mouth_left, dtype=np.float64) + mouth_right) / 2
    lm[48], lm[54] = mouth_left, mouth_right
    lm[:36] = lm[36:48].mean(0)
    return lm


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.open(DATA / "astronaut.png").convert("RGB")


def measured_astronaut_landmarks() -> np.ndarray:
    """Points with astronaut.png's measured eye centres and mouth corners (all the recipe reads)."""
    return synthetic_landmarks(ASTRONAUT_EYES[0], ASTRONAUT_EYES[1], (201, 139), (246, 141))


@pytest.fixture(scope="module")
def astronaut_landmarks() -> np.ndarray:
    return measured_astronaut_landmarks()


@pytest.mark.parametrize("size", [256, 1024])
def test_matches_reference_psnr(astronaut, astronaut_landmarks, size):
    ours = align_ffhq(astronaut, astronaut_landmarks, size)
    ref = reference_align(astronaut, astronaut_landmarks, size)
    assert ours.size == ref.size == (size, size)
    assert psnr(ours, ref) >= 40.0


def test_matches_reference_on_textured_large_photo(astronaut, astronaut_landmarks):
    # A large, noisy photo: the face spans ~1.4 source pixels per output pixel, so the adaptive
    # supersampling (3x here, the recipe's 8x at this size) must still resolve fine texture.
    rng = np.random.default_rng(0)
    big = astronaut.resize((2048, 2048), Image.LANCZOS)
    arr = np.asarray(big, dtype=np.float32) + rng.normal(0, 25, (2048, 2048, 3))
    big = Image.fromarray(np.uint8(np.clip(arr, 0, 255)))
    lm = astronaut_landmarks * 4 + 1.5
    ours = align_ffhq(big, lm, 512)
    ref = reference_align(big, lm, 512)
    assert psnr(ours, ref) >= 40.0


def test_shrink_path_matches_reference(astronaut, astronaut_landmarks):
    # qsize is ~4x the output: the recipe first shrinks the photo by an integer factor.
    lm = astronaut_landmarks
    assert face_geometry(lm).qsize / 32 * 0.5 >= 2
    assert psnr(align_ffhq(astronaut, lm, 32), reference_align(astronaut, lm, 32)) >= 40.0


def test_padding_path_on_tiny_photo(astronaut, astronaut_landmarks):
    # A 60x60 cut around the face: the crop square leaves the photo on every side (reflect, blur, fade).
    cut = astronaut.crop((195, 80, 255, 140))
    lm = astronaut_landmarks - (195, 80)
    ours = align_ffhq(cut, lm, 128)
    ref = reference_align(cut, lm, 128)
    assert ours.size == (128, 128)
    assert psnr(ours, ref) >= 40.0
    # The corners are far outside the photo: faded toward its median colour, i.e. flat.
    corner = np.asarray(ours, dtype=np.float64)[:8, :8]
    assert corner.std(axis=(0, 1)).max() < 3.0


def test_eye_markers_land_where_the_recipe_puts_them(astronaut_landmarks):
    # Gaussian dots centred on the eye centres of a flat grey photo; after alignment their centroids
    # show where the warp really sends those points.
    size = 1024
    ys, xs = np.mgrid[:512, :512].astype(np.float64)
    photo = np.full((512, 512), 128.0)
    for x, y in ASTRONAUT_EYES:
        photo += 100 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 1.5 ** 2))
    photo = Image.fromarray(np.uint8(np.rint(photo))).convert("RGB")
    out = np.asarray(align_ffhq(photo, astronaut_landmarks, size), dtype=np.float64)[..., 0] - 128
    expected = reference_eyes_in_crop(astronaut_landmarks, size)
    ys, xs = np.mgrid[:size, :size].astype(np.float64)
    for ex, ey in expected:
        w = np.clip(out, 0, None) * ((np.abs(xs - ex) < 40) & (np.abs(ys - ey) < 40))
        found = np.array([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])
        # (2 px would satisfy FFHQ's tolerance; the warp is exact to a small fraction of a pixel.)
        assert np.hypot(*(found - (ex, ey))) < 0.25, (found, (ex, ey))
    # The published figures for this photo: eyes at about (384,489) and (640,492) in a 1024 crop.
    assert np.abs(expected - [[384, 489], [640, 492]]).max() < 2.0
    np.testing.assert_allclose(points_in_crop(np.array(ASTRONAUT_EYES), face_geometry(astronaut_landmarks).quad, size),
                               expected, atol=1e-6)


def test_gaussian_blur_matches_scipy():
    scipy_ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(1)
    arr = rng.uniform(0, 255, (37, 23, 3)).astype(np.float32)
    for sigma in (0.7, 3.4, 12.0):  # 12 sigma: the kernel is wider than the picture (folded mirror)
        ours = gaussian_blur(arr, sigma)
        ref = scipy_ndimage.gaussian_filter(arr, [sigma, sigma, 0])
        np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_bad_landmarks_are_rejected(astronaut):
    with pytest.raises(ValueError, match="68"):
        align_ffhq(astronaut, np.zeros((5, 2)), 64)
    with pytest.raises(ValueError, match="degenerate"):
        align_ffhq(astronaut, np.zeros((68, 2)), 64)
