"""Imaging helpers and the normalized-face geometry, checked against independent references."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from findface_extraction_api import imaging, normalize
from findface_extraction_api.models import age_gender, emotions, facen
from findface_extraction_api.testing import astronaut

pytestmark = pytest.mark.unit


def test_fit_similarity_recovers_a_known_transform():
    angle, scale, shift = np.deg2rad(17), 1.7, np.array([12.5, -40])
    truth = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * scale
    src = np.random.default_rng(1).uniform(0, 200, (5, 2))
    dst = src @ truth.T + shift
    matrix = imaging.fit_similarity(src, dst)
    assert np.allclose(matrix[:, :2], truth) and np.allclose(matrix[:, 2], shift)


def test_compose_applies_inner_first():
    inner = np.array([[2.0, 0, 1], [0, 2, 3]])
    outer = np.array([[0.0, -1, 5], [1, 0, -2]])
    points = np.array([[1.0, 2], [-3, 4]])
    assert np.allclose(
        imaging.apply_affine(imaging.compose(outer, inner), points),
        imaging.apply_affine(outer, imaging.apply_affine(inner, points)),
    )


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(orientation):
    image = astronaut()[:200, :300]  # not square, so a wrong rotation changes the shape
    pil = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    pil.save(buffer, "PNG", exif=exif.tobytes())
    expected = cv2.cvtColor(np.asarray(ImageOps.exif_transpose(Image.open(buffer))), cv2.COLOR_RGB2BGR)
    assert np.array_equal(imaging.apply_exif_orientation(image, orientation), expected)


def test_warp_anti_aliases_when_shrinking():
    """A fine checkerboard shrunk 8x must come out flat grey, not as moire."""
    board = (np.indices((800, 800)).sum(0) % 2 * 255).astype(np.uint8)
    board = cv2.merge([board] * 3)
    matrix = np.array([[0.125, 0, 0], [0, 0.125, 0]])
    small = imaging.warp(board, matrix, 100)
    assert abs(small.mean() - 127.5) < 2 and small.std() < 3


def test_every_attribute_crop_fits_inside_the_normalized_face():
    size = normalize.SIZE
    for matrix, out in (
        (facen.CHIP_MATRIX, 112),
        (age_gender.dlib_chip_matrix(64), 64),
        (age_gender.dlib_chip_matrix(32), 32),
        (emotions.CROP_MATRIX, 64),
    ):
        corners = imaging.apply_affine(cv2.invertAffineTransform(matrix), [[0, 0], [out, 0], [0, out], [out, out]])
        assert corners.min() >= 0 and corners.max() <= size, (matrix, corners)


def test_sface_chip_is_the_arcface_alignment():
    """Normalizing then taking the SFace chip equals aligning straight to the ArcFace template."""
    image = astronaut()
    landmarks = np.array([[207.5, 104.6], [248.3, 104.0], [228.6, 127.4], [210.3, 149.4], [244.0, 148.9]])
    direct = cv2.warpAffine(image, imaging.fit_similarity(landmarks, normalize.ARCFACE_112), (112, 112))
    via_normalized = facen.chip(normalize.normalize(image, landmarks))
    assert np.abs(direct.astype(int) - via_normalized.astype(int)).mean() < 4


def test_png_of_the_normalized_face_is_lossless_and_read_by_pillow():
    """The run-length PNG strategy changes the bytes, never the pixels a client decodes."""
    face = normalize.normalize(astronaut(), np.array([[200, 110], [270, 110], [235, 150], [205, 190], [265, 190]]))
    data = imaging.encode_png(face)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    decoded = cv2.cvtColor(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), cv2.COLOR_RGB2BGR)
    assert np.array_equal(decoded, face)
