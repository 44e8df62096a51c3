"""Image API figures through HTTP: fitter pose consistency, eye-openness separation, body detection.

- Pose consistency (no ground-truth pose is at hand): the first image of each LFW pair in
  ../shared/eval-data/verification/lfw (research data, never copied), the face nearest the
  centre, through /face-detector-face-fitter/v2/process/image: as it is, mirrored, and turned
  15 degrees in plane. Reported: yaw vs -yaw of the mirror (correlation, median |sum|), roll vs
  -roll, and the median change of roll / yaw / pitch under the turn.
- Eye openness: the same faces through the fitter -> quality-assessment-estimator chain, as
  they are and with both eyes inpainted shut (`testing.degraded(..., "eyes_closed")` at the
  fitter's own points). Reported: AUC of min(left, right) openness score, open vs shut, and
  the share of each flagged as not open at the shipped threshold.
- notMasked (a colour heuristic; no mask model ships): the same faces with a synthetic
  light-blue surgical mask drawn over nose and mouth (`testing.degraded(..., "mask")`): AUC of
  notMaskedScore, clean vs masked, and the share of each flagged as masked.
- Body detector: COCO val2017 images of lightly-ai/coco128_yolo (GitHub, commit 6d6f7a0;
  `images/val2017` + `object_detection/labels/val2017`, YOLO boxes, class 0 = person; COCO
  annotations CC BY 4.0, images under their Flickr terms; not in NanoDet's training split),
  extracted to build/coco128-val (never committed). Recall and precision at IoU 0.5 (greedy
  one-to-one matching, best score first) over all persons and over persons >= 64 px tall (a
  detection under 64 px tall is then ignored), at the service's threshold and above it.

    .venv/bin/python eval/imageapi_eval.py [--url URL] [--faces 300] [--coco DIR] [--out docs/accuracy]

Writes OUT/imageapi.json and prints the figures.
"""

import argparse
import base64
import csv
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np
from daemon import SHARED, multipart, served

from findface_extraction_api import imaging
from findface_extraction_api.testing import ROOT, degraded

FITTER = "/face-detector-face-fitter/v2/process/image"
QUALITY = "/quality-assessment-estimator/v2/process/sample"
BODIES = "/body-detector/v2/process/image"
COCO = os.path.join(ROOT, "build", "coco128-val")
# v2 names of the five points testing.degraded takes, in its order (image-left first)
FIVE = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left")


def auc(positives, negatives):
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def png(image):
    return cv2.imencode(".png", image)[1].tobytes()


def central(objects):
    return min(objects, key=lambda o: abs(sum(o["bbox"][::2]) / 2 - 0.5) + abs(sum(o["bbox"][1::2]) / 2 - 0.5))


def fitted(post, image):
    status, answer = post(FITTER, *multipart("image", png(image)))
    if status != 200 or not answer["objects"]:
        return None
    return central(answer["objects"])


def quality(post, image, obj):
    blob = base64.b64encode(png(image)).decode()
    status, answer = post(
        QUALITY, json.dumps({"_image": {"blob": blob}, "objects": [obj]}).encode(), "application/json"
    )
    return answer["objects"][0]["quality"] if status == 200 else None


def lfw_faces(count):
    root = Path(SHARED) / "verification" / "lfw"
    with open(root / "pairs_fold1-2.csv") as f:
        names = sorted({row["image1"] for row in csv.DictReader(f)})
    return [cv2.imread(str(root / name)) for name in names[:count]]


def faces_section(post, count):
    poses, mirrored, turned, open_scores, shut_scores = [], [], [], [], []
    open_flags, shut_flags = [], []
    mask_scores: dict[str, list[float]] = {"clean": [], "masked": []}
    mask_flags: dict[str, list[bool]] = {"clean": [], "masked": []}
    for image in lfw_faces(count):
        face = fitted(post, image)
        if face is None:
            continue
        height, width = image.shape[:2]
        mirror = fitted(post, cv2.flip(image, 1))
        centre = (width / 2, height / 2)
        rotation = cv2.getRotationMatrix2D(centre, -15, 1.0)  # clockwise: roll goes up by 15
        turn = fitted(post, cv2.warpAffine(image, rotation, (width, height), borderMode=cv2.BORDER_REFLECT))
        if mirror is None or turn is None:
            continue
        poses.append([face["pose"][k] for k in ("yaw", "pitch", "roll")])
        mirrored.append([mirror["pose"][k] for k in ("yaw", "pitch", "roll")])
        turned.append([turn["pose"][k] for k in ("yaw", "pitch", "roll")])
        points = np.array([face["keypoints"][name]["proj"] for name in FIVE]) * [width, height]
        shut = degraded(image, "eyes_closed", points=points)
        for img, scores, flags in ((image, open_scores, open_flags), (shut, shut_scores, shut_flags)):
            q = quality(post, img, face)
            if q is not None:
                scores.append(min(q["left_eye_openness_score"], q["right_eye_openness_score"]))
                flags.append(not (q["is_left_eye_opened"] and q["is_right_eye_opened"]))
                if img is image:
                    mask_scores["clean"].append(q["not_masked_score"])
                    mask_flags["clean"].append(not q["not_masked"])
        q = quality(post, degraded(image, "mask", points=points), face)
        if q is not None:
            mask_scores["masked"].append(q["not_masked_score"])
            mask_flags["masked"].append(not q["not_masked"])
    pose, mirror, turn = np.array(poses), np.array(mirrored), np.array(turned)
    return {
        "faces": len(pose),
        "pose_spread_deg": {k: float(np.std(pose[:, i])) for i, k in enumerate(("yaw", "pitch", "roll"))},
        "mirror": {
            "yaw_corr_with_minus_mirrored": float(np.corrcoef(pose[:, 0], -mirror[:, 0])[0, 1]),
            "yaw_median_abs_sum": float(np.median(np.abs(pose[:, 0] + mirror[:, 0]))),
            "roll_corr_with_minus_mirrored": float(np.corrcoef(pose[:, 2], -mirror[:, 2])[0, 1]),
            "pitch_median_abs_diff": float(np.median(np.abs(pose[:, 1] - mirror[:, 1]))),
        },
        "turned_15_deg": {k: float(np.median(turn[:, i] - pose[:, i])) for i, k in enumerate(("yaw", "pitch", "roll"))},
        "eye_openness": {
            "pairs": len(shut_scores),
            "auc_open_vs_shut": auc(open_scores, shut_scores),
            "median_score_open": float(np.median(open_scores)),
            "median_score_shut": float(np.median(shut_scores)),
            "flagged_not_open_among_open": float(np.mean(open_flags)),
            "flagged_not_open_among_shut": float(np.mean(shut_flags)),
        },
        "not_masked_heuristic": {
            "auc_clean_vs_synthetic_mask": auc(mask_scores["clean"], mask_scores["masked"]),
            "flagged_masked_among_clean": float(np.mean(mask_flags["clean"])),
            "flagged_masked_among_masked": float(np.mean(mask_flags["masked"])),
        },
    }


def coco_truth(root):
    items = []
    for path in sorted((root / "images" / "val2017").glob("*.jpg")):
        image = cv2.imread(str(path))
        height, width = image.shape[:2]
        boxes = []
        with open(root / "object_detection" / "labels" / "val2017" / (path.stem + ".txt")) as f:
            for line in f:
                cls, cx, cy, w, h = (float(v) for v in line.split())
                if int(cls) == 0:
                    boxes.append(
                        [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height]
                    )
        items.append((path, image, np.array(boxes).reshape(-1, 4)))
    return items


def match(truth, found, threshold, min_height=0.0):
    tp = fp = fn = 0
    for boxes, detections in zip(truth, found, strict=True):
        tall = (boxes[:, 3] - boxes[:, 1]) >= min_height
        used: set[int] = set()
        for box, score in detections:
            if score < threshold or box[3] - box[1] < min_height:
                continue
            ious = imaging.iou(box, boxes) if len(boxes) else np.zeros(0)
            ious = np.where(tall, ious, 0.0) if len(boxes) else ious
            best = int(np.argmax(ious)) if len(ious) else -1
            if best >= 0 and ious[best] >= 0.5 and best not in used:
                used.add(best)
                tp += 1
            else:
                fp += 1
        fn += int(tall.sum()) - len(used)
    return {"recall": tp / max(tp + fn, 1), "precision": tp / max(tp + fp, 1), "tp": tp, "fp": fp, "fn": fn}


def bodies_section(post, root):
    truth, found = [], []
    for _, image, boxes in coco_truth(root):
        status, answer = post(BODIES, *multipart("image", png(image)))
        if status != 200:
            raise SystemExit(f"body-detector answered {status}: {answer}")
        height, width = image.shape[:2]
        scale = np.array([width, height, width, height])
        found.append([(np.array(o["bbox"]) * scale, o["confidence"]) for o in answer["objects"]])
        truth.append(boxes)
    out = {"images": len(truth), "persons": int(sum(len(b) for b in truth))}
    out["persons_64px_or_taller"] = int(sum(((b[:, 3] - b[:, 1]) >= 64).sum() for b in truth))
    for threshold in (0.35, 0.5, 0.6):
        out[f"score>={threshold}"] = {
            "all": match(truth, found, threshold),
            ">=64px": match(truth, found, threshold, 64),
        }
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url")
    parser.add_argument("--faces", type=int, default=300)
    parser.add_argument("--coco", default=COCO)
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "accuracy"))
    args = parser.parse_args()
    report = {}
    with served(args.url) as post:
        if os.path.isdir(os.path.join(SHARED, "verification", "lfw")):
            report["fitter_and_eyes_lfw"] = faces_section(post, args.faces)
        else:
            print("no ../shared/eval-data/verification/lfw: pose and eye figures skipped", file=sys.stderr)
        if os.path.isdir(os.path.join(args.coco, "images", "val2017")):
            report["body_detector_coco_val2017"] = bodies_section(post, Path(args.coco))
        else:
            print(f"no {args.coco}: body-detector figures skipped (see this script's docstring)", file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "imageapi.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
