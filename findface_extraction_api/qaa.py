"""ISO-style face image quality assessment (3DiVi's QAA): one named, measured check per field.

Each check is a plain function on the face's canonical 256x256 normalized crop (normalize.py:
eyes, nose and mouth always at the same place, so fixed regions of it mean "cheeks", "eyes",
"forehead") or on the source image around the face box. Every threshold below was set by
eval/calibrate_qaa.py on synthetic degradations of scikit-image's public-domain astronaut
(blur, darkening, side light, highlight, noise, text overlay, closed eyes, mask, rotation),
never on the research benchmarks; each is placed between the worst clean variant and the
mildest degradation the check must catch. Scores run 0..100 in the direction of their boolean
(`noise_score` 100 = clean, `watermark_score` 100 = a watermark is certain), except the
physical ones: degrees, pixels and intensity levels.

Field: method -> acceptable when (constants below)

- sharpness: var(Laplacian) / var(grey) of the face region, log-scaled -> score >= SHARP_SCORE
- illumination: left/right cheek luminance ratio x exposure of the face's median -> >= EVEN_SCORE
- flare: share of face-region pixels clipped (every channel >= 250) -> share <= FLARE_SHARE
- eye openness: `eye_openness` (eyelid gap from a model when present, else dark-pupil share)
  -> score >= EYE_OPEN_SCORE
- rotation: max(|yaw|, |pitch|, |roll|) of the face's pose, degrees -> <= MAX_ROTATION
- eyes distance: between the eye centres, source pixels -> >= MIN_EYES_DISTANCE (ISO 19794-5)
- margins: ISO token framing (box grown by FRAME_MARGIN per side) vs the image, px -> outer 0,
  inner <= INNER_ALLOWANCE x box
- noise: Immerkaer's sigma on the face box (edges excluded) at FULL_RANGE contrast
  -> sigma <= MAX_NOISE_SIGMA
- watermark: share of thin high-contrast strokes on cheeks and forehead -> < WATERMARK_SHARE
- background: share of a ring around the head within BACKGROUND_TOLERANCE of its median tone
  -> score >= UNIFORM_SCORE
- dynamic range: 99th - 1st percentile of the face region's grey levels -> > MIN_DYNAMIC_RANGE
  (3DiVi: "must be greater than 127")
- neutral emotion: 100 x P(neutral) of the emotion model -> neutral is the most probable class
- not masked: Lab chroma distance of the mouth region from the forehead skin (no mask model
  ships) -> score >= NOT_MASKED_SCORE

`total_score` is the mean of the thirteen sub-scores (each 0..100, `sub_scores`), so each
failed check costs the total about as much as any other.
"""

import math
from collections.abc import Sequence

import cv2
import numpy as np

from . import normalize
from .face import Face

# Regions of the 256x256 normalized crop (left, top, right, bottom); eyes at y~121, mouth y~186.
FACE_REGION = (72, 96, 184, 214)  # brows to below the mouth, cheek to cheek
LEFT_CHEEK, RIGHT_CHEEK = (78, 134, 118, 196), (138, 134, 178, 196)  # image-left, image-right
FOREHEAD = (98, 70, 158, 98)
MOUTH = (100, 166, 156, 206)
EYE_PATCH = (30, 16)  # width, height around each template eye centre
SKIN_BELOW_EYE = 30  # px below the eye centre where the reference skin patch sits

SHARP_SCORE = 50.0
SHARPNESS_RANGE = (0.01, 0.1)  # Laplacian var / grey var mapped to 0..100 on a log scale
EVEN_SCORE = 75.0
EXPOSURE_RANGE = (40.0, 90.0, 200.0, 240.0)  # median face grey: 0 below/above the outer, 1 inside the inner
FLARE_SHARE = 0.01
EYE_OPEN_SCORE = 50.0
EYE_OPEN_RATIO = 0.18  # Iris eyelid gap / eye width at EYE_OPEN_SCORE (open ~0.4, shut ~0.13: calibrate_qaa.py)
MAX_ROTATION = 15.0
MIN_EYES_DISTANCE = 90.0  # ISO/IEC 19794-5 full frontal image: at least 90 px between the eye centres
FRAME_MARGIN = 0.5  # the token framing: half the face box width/height on each side
INNER_ALLOWANCE = 1.0  # extra margin beyond the framing, in face box sizes, before the face is "too small"
MAX_NOISE_SIGMA = 4.0  # grey levels, at FULL_RANGE face contrast
FULL_RANGE = 200.0  # a well-exposed face's 1..99 percentile spread (the clean astronaut: 207..214)
NOISE_FACE_WIDTH = 160  # px: larger faces are area-shrunk to this width before measuring noise
WATERMARK_SHARE = 0.025
UNIFORM_SCORE = 70.0
BACKGROUND_TOLERANCE = 12  # grey levels around the background's median that count as the same tone
MIN_DYNAMIC_RANGE = 127.0
NOT_MASKED_SCORE = 50.0
MASK_CHROMA_SCALE = 30.0  # Lab chroma distance (a*, b*) at which the not-masked score is 1/e


def assess(image: np.ndarray, face: Face) -> dict[str, float | bool]:
    """Every QAA field (snake_case, 3DiVi's order) for a face with landmarks, pose, emotions and
    its normalized crop set, in `image` (BGR) where the face was found."""
    crop = face.normalized if face.normalized is not None else normalize.normalize(image, face.landmarks)
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    sharpness = sharpness_score(grey)
    illumination = illumination_score(grey)
    flare = flare_share(crop)
    right_open, left_open = eye_openness(grey, face.eye_openness)  # the subject's right eye is image-left
    rotation = max_rotation_deviation(face.pose)
    eyes = eyes_distance(face.landmarks)
    outer, inner = margin_deviations(face.box, image.shape)
    dynamic_range = dynamic_range_levels(grey)
    sigma = noise_sigma(image, face.box) * FULL_RANGE / max(dynamic_range, 16.0)
    noise = 100 * clamp(1 - sigma / (2 * MAX_NOISE_SIGMA))
    watermark = watermark_share(grey)
    background = background_uniformity_score(image, face.box)
    neutral, is_neutral = neutral_emotion(face.emotions)
    not_masked = not_masked_score(crop)
    box_size = max(face.box[2] - face.box[0], face.box[3] - face.box[1], 1.0)
    margins_ok = outer == 0 and inner <= INNER_ALLOWANCE * box_size
    sub_scores = [
        sharpness,
        illumination,
        100 * clamp(1 - flare / (4 * FLARE_SHARE)),
        min(left_open, right_open),
        100 * clamp(1 - rotation / (3 * MAX_ROTATION)),
        100 * clamp(eyes / MIN_EYES_DISTANCE),
        100 * clamp(1 - outer / box_size) * clamp(INNER_ALLOWANCE * box_size / max(inner, 1e-6)),
        noise,
        100 * clamp(1 - watermark / (2 * WATERMARK_SHARE)),
        background,
        100 * clamp(dynamic_range / (1.5 * MIN_DYNAMIC_RANGE)),
        neutral,
        not_masked,
    ]
    return {
        "total_score": round(float(np.mean(sub_scores))),
        "is_sharp": sharpness >= SHARP_SCORE,
        "sharpness_score": round(sharpness),
        "is_evenly_illuminated": illumination >= EVEN_SCORE,
        "illumination_score": round(illumination),
        "no_flare": flare <= FLARE_SHARE,
        "is_left_eye_opened": left_open >= EYE_OPEN_SCORE,
        "left_eye_openness_score": round(left_open),
        "is_right_eye_opened": right_open >= EYE_OPEN_SCORE,
        "right_eye_openness_score": round(right_open),
        "is_rotation_acceptable": rotation <= MAX_ROTATION,
        "max_rotation_deviation": round(rotation),
        "not_masked": not_masked >= NOT_MASKED_SCORE,
        "not_masked_score": round(not_masked),
        "is_neutral_emotion": is_neutral,
        "neutral_emotion_score": round(neutral),
        "is_eyes_distance_acceptable": eyes >= MIN_EYES_DISTANCE,
        "eyes_distance": round(eyes),
        "is_margins_acceptable": bool(margins_ok),
        "margin_outer_deviation": round(outer),
        "margin_inner_deviation": round(inner),
        "is_not_noisy": sigma <= MAX_NOISE_SIGMA,
        "noise_score": round(noise),
        "watermark_score": round(100 * clamp(watermark / (2 * WATERMARK_SHARE))),
        "has_watermark": watermark >= WATERMARK_SHARE,
        "is_background_uniform": background >= UNIFORM_SCORE,
        "background_uniformity_score": round(background),
        "dynamic_range_score": round(dynamic_range),
        "is_dynamic_range_acceptable": dynamic_range > MIN_DYNAMIC_RANGE,
    }


def clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return float(min(high, max(low, value)))


def region(array: np.ndarray, box: Sequence[int]) -> np.ndarray:
    left, top, right, bottom = box
    return array[top:bottom, left:right]


def log_scaled(value: float, low: float, high: float) -> float:
    """0..100: `value` on a log scale from `low` (0) to `high` (100)."""
    return 100 * clamp(math.log(max(value, 1e-9) / low) / math.log(high / low))


# ---------------------------------------------------------------- the checks


def sharpness_score(grey: np.ndarray) -> float:
    """Fine detail relative to contrast: var(Laplacian) / var(grey) over the face region, so a dark
    or low-contrast face is not called blurred for that alone; log-mapped SHARPNESS_RANGE -> 0..100."""
    face = region(grey, FACE_REGION).astype(np.float64)
    ratio = float(cv2.Laplacian(face, cv2.CV_64F).var() / max(face.var(), 1.0))
    return log_scaled(ratio, *SHARPNESS_RANGE)


def illumination_score(grey: np.ndarray) -> float:
    """100 x (darker cheek / lighter cheek mean) x exposure, exposure 1 when the face's median grey
    is inside EXPOSURE_RANGE's inner pair, falling linearly to 0 at its outer pair."""
    left, right = (float(region(grey, box).mean()) for box in (LEFT_CHEEK, RIGHT_CHEEK))
    balance = min(left, right) / max(left, right, 1.0)
    level = float(np.median(region(grey, FACE_REGION)))
    dark_zero, dark_full, bright_full, bright_zero = EXPOSURE_RANGE
    exposure = min(
        clamp((level - dark_zero) / (dark_full - dark_zero)), clamp((bright_zero - level) / (bright_zero - bright_full))
    )
    return 100 * balance * exposure


def flare_share(crop: np.ndarray) -> float:
    """Share of the face region's pixels blown out by a flash or a highlight (every channel >= 250)."""
    return float(np.mean(region(crop, FACE_REGION).min(axis=2) >= 250))


def eye_openness(grey: np.ndarray, model_openness: tuple[float, float] | None) -> tuple[float, float]:
    """(image-left eye, image-right eye) openness scores 0..100.

    With the Iris model's eyelid gap (`Face.eye_openness`, gap / eye width) the score is that
    ratio on a 0..2 x EYE_OPEN_RATIO scale. Without it (where FaceMesh sees no face), the share of the eye patch darker
    than 60% of the skin just below the eye: an open eye shows its iris and pupil, a shut lid is
    skin with one lash line. Both are about eyelid aperture, not gaze.
    """
    if model_openness is not None:
        left, right = model_openness
        return 100 * clamp(left / (2 * EYE_OPEN_RATIO)), 100 * clamp(right / (2 * EYE_OPEN_RATIO))
    scores = []
    width, height = EYE_PATCH
    for x, y in normalize.TEMPLATE[:2]:
        x, y = int(round(x)), int(round(y))
        patch = grey[y - height // 2 : y + height // 2, x - width // 2 : x + width // 2].astype(np.float64)
        skin = grey[y + SKIN_BELOW_EYE - 6 : y + SKIN_BELOW_EYE + 6, x - width // 2 : x + width // 2]
        reference = float(np.median(skin))
        dark = float(np.mean(patch < 0.6 * reference))
        scores.append(100 * clamp(dark / 0.3))
    return scores[0], scores[1]


def max_rotation_deviation(pose: tuple[float, float, float] | None) -> float:
    """The largest of |yaw|, |pitch|, |roll| in degrees (0 when no pose was estimated)."""
    return max((abs(v) for v in pose), default=0.0) if pose else 0.0


def eyes_distance(landmarks: np.ndarray) -> float:
    """Distance between the two eye centres in source pixels."""
    return float(np.linalg.norm(landmarks[1] - landmarks[0]))


def margin_deviations(box: np.ndarray, shape: tuple[int, ...]) -> tuple[float, float]:
    """(outer, inner) in px: how far the ISO token framing (the face box grown by FRAME_MARGIN of
    its size on every side) reaches past the image edge (the face is cut or too close to an edge),
    and the largest gap left between that framing and the image edge (the face is small in the frame)."""
    height, width = shape[:2]
    left, top, right, bottom = box
    dx, dy = FRAME_MARGIN * (right - left), FRAME_MARGIN * (bottom - top)
    frame = np.array([left - dx, top - dy, right + dx, bottom + dy])
    outside = np.array([-frame[0], -frame[1], frame[2] - width, frame[3] - height])
    return float(max(0.0, outside.max())), float(max(0.0, (-outside).max()))


def noise_sigma(image: np.ndarray, box: np.ndarray) -> float:
    """Immerkaer's fast noise estimate (CVIU 1996) over the face box, grey levels: the mean absolute
    response of a Laplacian-difference mask that cancels smooth gradients, over the pixels whose
    Sobel gradient is below its median (so edges and texture are not counted as noise). Faces
    wider than NOISE_FACE_WIDTH are area-shrunk first: the check is on noise visible at face scale."""
    height, width = image.shape[:2]
    left, top, right, bottom = (int(round(v)) for v in box)
    left, top, right, bottom = max(0, left), max(0, top), min(width, right), min(height, bottom)
    if right - left < 8 or bottom - top < 8:
        return 0.0
    grey = cv2.cvtColor(image[top:bottom, left:right], cv2.COLOR_BGR2GRAY)
    if grey.shape[1] > NOISE_FACE_WIDTH:
        scale = NOISE_FACE_WIDTH / grey.shape[1]
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    grey = grey.astype(np.float64)
    mask = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)
    response = np.abs(cv2.filter2D(grey, -1, mask))[1:-1, 1:-1]
    gradient = np.hypot(cv2.Sobel(grey, cv2.CV_64F, 1, 0), cv2.Sobel(grey, cv2.CV_64F, 0, 1))[1:-1, 1:-1]
    flat = gradient <= np.median(gradient)
    return float(math.sqrt(math.pi / 2) / 6 * response[flat].mean()) if flat.any() else 0.0


def watermark_share(grey: np.ndarray) -> float:
    """Share of cheek and forehead pixels on thin high-contrast strokes: a white or black top-hat
    (5x5) response over 40 grey levels. Skin has none; overlaid text, logos and stamps do."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    shares = []
    for box in (LEFT_CHEEK, RIGHT_CHEEK, FOREHEAD):
        patch = region(grey, box)
        strokes = np.maximum(
            cv2.morphologyEx(patch, cv2.MORPH_TOPHAT, kernel), cv2.morphologyEx(patch, cv2.MORPH_BLACKHAT, kernel)
        )
        shares.append(float(np.mean(strokes > 40)))
    return float(np.mean(shares))


def background_uniformity_score(image: np.ndarray, box: np.ndarray) -> float:
    """100 x the share of the ring between the face box grown 1.3x and 2.2x (above the chin: below
    it is the body; inside the image) whose smoothed grey level is within BACKGROUND_TOLERANCE of
    the ring's median: a plain backdrop is one tone, and hair reaching into the ring is a minority."""
    height, width = image.shape[:2]
    left, top, right, bottom = box
    cx, cy, w, h = (left + right) / 2, (top + bottom) / 2, right - left, bottom - top

    def grown(factor: float) -> tuple[int, int, int, int]:
        return (
            int(max(0, cx - factor * w / 2)),
            int(max(0, cy - factor * h / 2)),
            int(min(width, cx + factor * w / 2)),
            int(min(height, cy + factor * h / 2)),
        )

    ox0, oy0, ox1, oy1 = grown(2.2)
    ix0, iy0, ix1, iy1 = grown(1.3)
    oy1 = min(oy1, int(bottom))
    if ox1 - ox0 < 4 or oy1 - oy0 < 4:
        return 0.0
    grey = cv2.GaussianBlur(cv2.cvtColor(image[oy0:oy1, ox0:ox1], cv2.COLOR_BGR2GRAY), (5, 5), 0)
    ring = np.ones(grey.shape, bool)
    ring[max(0, iy0 - oy0) : max(0, iy1 - oy0), max(0, ix0 - ox0) : max(0, ix1 - ox0)] = False
    if ring.sum() < 16:
        return 0.0
    tones = grey[ring].astype(np.int16)
    return 100 * float(np.mean(np.abs(tones - np.median(tones)) <= BACKGROUND_TOLERANCE))


def dynamic_range_levels(grey: np.ndarray) -> float:
    """Spread of the face region's grey levels, 99th minus 1st percentile (0..255)."""
    low, high = np.percentile(region(grey, FACE_REGION), [1, 99])
    return float(high - low)


def neutral_emotion(emotions: dict[str, float] | None) -> tuple[float, bool]:
    """(100 x P(neutral), whether neutral is the most probable expression)."""
    if not emotions:
        return 0.0, False
    neutral = emotions.get("neutral", 0.0)
    return 100 * neutral, neutral >= max(emotions.values())


def not_masked_score(crop: np.ndarray) -> float:
    """100 x exp(-d / MASK_CHROMA_SCALE), d the Lab (a*, b*) distance between the median colour of
    the mouth region and of the forehead skin: a mask replaces the lower face by cloth or paper of
    another colour. A heuristic (no redistributable mask model was found): a beard, a hand or a
    scarf lowers it as well, and a skin-coloured mask passes."""
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB).astype(np.float64)
    mouth = np.median(region(lab, MOUTH).reshape(-1, 3), axis=0)
    forehead = np.median(region(lab, FOREHEAD).reshape(-1, 3), axis=0)
    distance = float(np.linalg.norm(mouth[1:] - forehead[1:]))
    return 100 * math.exp(-distance / MASK_CHROMA_SCALE)
