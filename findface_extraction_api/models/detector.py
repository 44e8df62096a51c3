"""YuNet (the `nnd` detector): faces with five landmarks, over a pyramid of scales.

Pre- and post-processing follow OpenCV's FaceDetectorYN exactly (raw BGR 0..255 NCHW,
bottom/right zero padding to multiples of 32, sqrt(cls*obj) scores, NMS at IoU 0.3), run at
the scales the configured face-size range needs.
"""

import cv2
import numpy as np

from .. import imaging
from ..face import Face
from .runtime import Runtime

STRIDES = (8, 16, 32)
SCORE_THRESHOLD = 0.6
NMS_IOU = 0.3
# Face heights (px, as YuNet boxes them) that YuNet finds reliably; outside this band it
# misses faces or returns fragments (model card: ~10-300 px). Scales are chosen so every
# face between min_face_size and max_face_size lands inside the band at some scale.
RELIABLE_FACE = (20.0, 240.0)
BAND_KEEP = (16.0, 300.0)
CONTAINED = 0.6  # a box this much inside a better one is a fragment of it


class Detector:
    def __init__(self, runtime: Runtime):
        self.model = runtime.load("detector", arena=False)  # input size follows the image: no arena

    def detect(self, image: np.ndarray, min_face_size: float, max_face_size: float) -> list[Face]:
        """All faces in a BGR image whose size lies (or may lie) in [min_face_size, max_face_size]."""
        largest = min(max_face_size, max(image.shape[:2]))
        scales = pyramid_scales(min_face_size, largest)
        kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for index, scale in enumerate(scales):
            b, s, k = self._detect_at(image, scale)
            # Keep each scale to the sizes it sees well: a face far over the band at a fine
            # scale comes back as fragments, and is found whole at a coarser one.
            height = (b[:, 3] - b[:, 1]) * scale
            keep = ((height >= BAND_KEEP[0]) | (index == 0)) & ((height <= BAND_KEEP[1]) | (index == len(scales) - 1))
            kept.append((b[keep], s[keep], k[keep]))
        boxes, scores, landmarks = (np.concatenate(parts) for parts in zip(*kept, strict=True))
        keep = suppress(boxes, scores)
        return [Face(box=boxes[i], confidence=float(scores[i]), landmarks=landmarks[i]) for i in keep]

    def centre_score(self, image: np.ndarray) -> float:
        """YuNet's best score for a face covering the centre of `image` (one pass, no resizing); 0 if none."""
        boxes, scores, _ = self._detect_at(image, 1.0)
        cx, cy = image.shape[1] / 2, image.shape[0] / 2
        covering = (boxes[:, 0] < cx) & (cx < boxes[:, 2]) & (boxes[:, 1] < cy) & (cy < boxes[:, 3])
        return float(scores[covering].max()) if covering.any() else 0.0

    def _detect_at(self, image: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One YuNet pass over `image` resized by `scale`; results in original pixels."""
        scale_xy = np.ones(2)
        if scale != 1.0:
            size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
            scale_xy = np.array(size) / (image.shape[1], image.shape[0])
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        height, width = image.shape[:2]
        pad_h, pad_w = -height % 32 + height, -width % 32 + width
        blob = np.zeros((1, 3, pad_h, pad_w), np.float32)
        blob[0, :, :height, :width] = image.transpose(2, 0, 1)
        outputs = dict(zip(self.model.output_names, self.model.run(blob), strict=True))
        boxes, scores, landmarks = decode_anchors(outputs, pad_w, pad_h)
        return boxes / np.tile(scale_xy, 2), scores, landmarks / scale_xy


def pyramid_scales(min_face_size: float, largest_face: float) -> list[float]:
    """Image scales at which faces of [min_face_size, largest_face] px fall in RELIABLE_FACE."""
    low, high = RELIABLE_FACE
    scale = min(1.0, low / min_face_size) if min_face_size > 0 else 1.0
    scales = [scale]
    while largest_face * scale > high:
        scale *= low / high * 1.5  # overlap the bands a little so no size falls between
        scales.append(scale)
    return scales


def decode_anchors(
    outputs: dict[str, np.ndarray], width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """YuNet's raw anchors -> (boxes x1,y1,x2,y2; scores; landmarks (N,5,2)) above threshold."""
    boxes, scores, landmarks = [], [], []
    for stride in STRIDES:
        cols = width // stride
        score = np.sqrt(
            np.clip(outputs[f"cls_{stride}"][0, :, 0], 0, 1) * np.clip(outputs[f"obj_{stride}"][0, :, 0], 0, 1)
        )
        keep = np.flatnonzero(score >= SCORE_THRESHOLD)
        if keep.size == 0:
            continue
        anchor_row, anchor_col = np.divmod(keep, cols)
        anchor = np.stack([anchor_col, anchor_row], 1).astype(np.float32)
        bbox = outputs[f"bbox_{stride}"][0, keep]
        centre = (anchor + bbox[:, :2]) * stride
        size = np.exp(bbox[:, 2:]) * stride
        boxes.append(np.hstack([centre - size / 2, centre + size / 2]))
        kps = outputs[f"kps_{stride}"][0, keep].reshape(-1, 5, 2)
        landmarks.append((kps + anchor[:, None, :]) * stride)
        scores.append(score[keep])
    if not boxes:
        return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
    return (
        np.concatenate(boxes).astype(np.float64),
        np.concatenate(scores).astype(np.float64),
        np.concatenate(landmarks).astype(np.float64),
    )


def suppress(boxes: np.ndarray, scores: np.ndarray) -> list[int]:
    """Greedy NMS (IoU > NMS_IOU) that also drops boxes mostly inside a better one; best first."""
    order = np.argsort(-scores)
    kept = []
    while len(order):
        best, order = order[0], order[1:]
        kept.append(int(best))
        others = boxes[order]
        inside = imaging.intersection(boxes[best], others) / np.maximum(imaging.area(others), 1e-12)
        order = order[(imaging.iou(boxes[best], others) <= NMS_IOU) & (inside <= CONTAINED)]
    return kept
