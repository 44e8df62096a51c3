"""Pixel helpers shared by the models: similarity fits, anti-aliased warps, orientation, PNG.

Images are numpy uint8 arrays in OpenCV's BGR order unless a name says otherwise.
"""

import cv2
import numpy as np


def fit_similarity(src, dst):
    """Least-squares similarity (Umeyama, no reflection) mapping points `src` onto `dst`.

    Returns a 2x3 float64 matrix for cv2.warpAffine. Five landmarks are few enough that a
    closed form is both exact and faster than any robust estimator.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1
    rotation = u @ np.diag(d) @ vt
    scale = (s * d).sum() / src_c.var(0).sum()
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


def apply_affine(matrix, points):
    """Map an (N, 2) array of points through a 2x3 affine matrix."""
    points = np.asarray(points, np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def compose(outer, inner):
    """The 2x3 affine that applies `inner` first, then `outer`."""
    linear = outer[:, :2] @ inner[:, :2]
    return np.hstack([linear, outer[:, :2] @ inner[:, 2:] + outer[:, 2:]])


def warp(image, matrix, size):
    """cv2.warpAffine to a `size` x `size` output, shrinking with INTER_AREA first.

    A plain bilinear warp aliases when it shrinks (a 600 px face into a 256 px crop), which
    moves the embedding and the age estimate; so the part of the source the output needs is
    area-resized to about the output's scale first and the remaining warp scales by ~1.
    """
    scale = np.sqrt(abs(np.linalg.det(matrix[:, :2])))
    if scale < 0.75:
        inverse = cv2.invertAffineTransform(matrix)
        corners = apply_affine(inverse, [[0, 0], [size, 0], [0, size], [size, size]])
        x0, y0 = np.maximum(np.floor(corners.min(0)) - 2, 0).astype(int)
        x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
        x1, y1 = min(x1, image.shape[1]), min(y1, image.shape[0])
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            crop = image[y0:y1, x0:x1]
            width = max(1, round((x1 - x0) * scale))
            height = max(1, round((y1 - y0) * scale))
            image = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
            to_small = np.array([[width / (x1 - x0), 0, 0], [0, height / (y1 - y0), 0]])
            to_small[:, 2] = -to_small[:, :2] @ [x0, y0]
            matrix = compose(matrix, cv2.invertAffineTransform(to_small))
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def to_blob(images, dtype=np.float32):
    """Stack HxWxC (or HxW) images into an NCHW array."""
    batch = np.stack(images).astype(dtype, copy=False)
    if batch.ndim == 3:
        return batch[:, None]
    return batch.transpose(0, 3, 1, 2)


# EXIF orientation tag value -> the cv2 operations that display the image upright.
_ORIENTATION_STEPS = {
    2: [lambda im: cv2.flip(im, 1)],
    3: [lambda im: cv2.rotate(im, cv2.ROTATE_180)],
    4: [lambda im: cv2.flip(im, 0)],
    5: [lambda im: cv2.transpose(im)],
    6: [lambda im: cv2.rotate(im, cv2.ROTATE_90_CLOCKWISE)],
    7: [lambda im: cv2.rotate(im, cv2.ROTATE_90_COUNTERCLOCKWISE), lambda im: cv2.flip(im, 1)],
    8: [lambda im: cv2.rotate(im, cv2.ROTATE_90_COUNTERCLOCKWISE)],
}


def apply_exif_orientation(image, orientation):
    """Turn a decoded image upright according to its EXIF Orientation tag (1..8)."""
    for step in _ORIENTATION_STEPS.get(orientation, []):
        image = step(image)
    return image


def encode_png(image):
    """PNG bytes of a BGR image (lossless, so a posted-back crop decodes to the same pixels)."""
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return data.tobytes()
