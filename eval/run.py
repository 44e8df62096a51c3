"""Accuracy on public benchmarks, measured through the HTTP Extraction API.

    make eval                                  (full run, report in docs/accuracy/)
    make eval-quick                            (the CI subset, report in build/eval-quick/)
    .venv/bin/python eval/run.py [--url http://127.0.0.1:18666] [--quick] [--only lfw,fer,...]
                                 [--data ../shared/eval-data] [--out docs/accuracy]
                                 [--config SECTION.KEY=VALUE ...] [--baseline docs/accuracy/report.json]

Starts a daemon with the default configuration (or --config's settings) on build/models (the
tests' harness) unless --url names a running one; --baseline puts the default configuration's
figures beside an option's (make eval does this for the opt-in model settings). The lfw_fused and
lfw_mobilefacenet sections run the same LFW pairs on a second daemon with `[facen] model =
sface+dlib` or `mobilefacenet` (unless the daemon at --url already serves it), and the report puts
the facens side by side. Every image
goes through POST / as multipart, several requests per envelope, from several concurrent
clients. The data are the research-only subsets in ../shared/eval-data (see its README.md): they
are read from there and never copied; the report holds figures and plots only. What each
section feeds and how it matches is written in the report itself (eval/accuracy_report.py).
"""

import argparse
import base64
import csv
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import accuracy_metrics as m
import cv2
import numpy as np

from findface_extraction_api.testing import Client, Daemon

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

DATA = ROOT.parent / "shared" / "eval-data"
SECTIONS = ("lfw", "lfw_fused", "lfw_mobilefacenet", "detection", "utkface", "fer2013", "ckplus", "liveness")
OPTION_FACENS = {"lfw_fused": "sface+dlib", "lfw_mobilefacenet": "mobilefacenet"}  # [facen] model per section
QUICK = {"lfw_pairs_per_fold": 100, "fer2013": 100, "utkface": 100, "fddb": 50}
QUICK_SECTIONS = ("lfw", "detection", "utkface", "fer2013")
# Ways of feeding FER-style 48x48 face crops, first = recommended (see the report).
EMOTION_WAYS = ("square", "nnd", "whole")
FDDB_SIZE_EDGES = (30, 60, 120)
CKPLUS_TO_OURS = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "sadness": "sad",
    "surprise": "surprise",
    "contempt": None,
}


# ---------------------------------------------------------------- transport


class Progress:
    """One stderr line per section: done/total, images/s, ETA."""

    def __init__(self, label, total, enabled=True):
        self.label, self.total, self.done, self.enabled = label, total, 0, enabled
        self.start = self.last = time.perf_counter()

    def add(self, n):
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self.last > 0.5 or self.done == self.total):
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            eta = (self.total - self.done) / rate if rate else 0
            sys.stderr.write(
                f"\r  {self.label:28s} {self.done:5d}/{self.total:<5d} {rate:6.1f} img/s  ETA {eta:4.0f}s "
            )
            if self.done == self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def extract_all(client, items, label, clients=3, batch=8, progress=True):
    """items: [(key, image bytes, request params)] -> ({key: response element}, seconds).

    Envelopes of `batch` requests (multipart, one part per image) from `clients` threads; the
    daemon runs an envelope's requests in its worker pool, so both cores stay busy."""
    results = {}
    bar = Progress(label, len(items), progress)
    chunks = [items[i : i + batch] for i in range(0, len(items), batch)]

    def send(chunk):
        requests = [{"image": f"multipart:i{n}", **params} for n, (_, _, params) in enumerate(chunk)]
        files = {f"i{n}": data for n, (_, data, _) in enumerate(chunk)}
        status, body = client.post_multipart({"requests": requests}, files)
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {body}")
        return chunk, body["responses"]

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for chunk, responses in pool.map(send, chunks):
            for (key, _, _), response in zip(chunk, responses, strict=False):
                results[key] = response
            bar.add(len(chunk))
    return results, time.perf_counter() - start


def central_face(response, width, height):
    """The face whose box centre is nearest the image centre, or None (no face, or an error)."""
    faces = response.get("faces") or []
    if not faces:
        return None

    def distance(face):
        b = face["bbox"]
        return np.hypot((b["left"] + b["right"]) / 2 - width / 2, (b["top"] + b["bottom"]) / 2 - height / 2)

    return min(faces, key=distance)


def facen(face):
    return np.frombuffer(base64.b64decode(face["facen"]), "<f4")


def top_emotion(face):
    return max(face["emotions"], key=lambda e: e["score"])["emotion"] if face else None


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def png(image):
    return cv2.imencode(".png", image)[1].tobytes()


def throughput(n, seconds):
    return {"images": n, "seconds": round(seconds, 2), "images_per_s": round(n / seconds, 1) if seconds else None}


# ---------------------------------------------------------------- verification (LFW)


def lfw_pairs(data, quick):
    rows = read_csv(data / "verification/lfw/pairs_fold1-2.csv")
    if quick:  # the first N/2 same and N/2 different pairs of each fold
        n = QUICK["lfw_pairs_per_fold"] // 2
        picked = []
        for fold in ("1", "2"):
            for same in ("1", "0"):
                picked += [r for r in rows if r["fold"] == fold and r["same"] == same][:n]
        rows = picked
    return rows


def facen_identity(client):
    """GET /'s `facen`: the model, version, dimension and same-person threshold the daemon serves."""
    status, _, body = client.request("GET")
    return json.loads(body).get("facen") or {"model": "sface", "same_person_threshold": 0.30}


def verification(client, data, quick=False, **kw):
    root = data / "verification/lfw"
    pairs = lfw_pairs(data, quick)
    files = sorted({r["image1"] for r in pairs} | {r["image2"] for r in pairs})
    items = [(f, (root / f).read_bytes(), {"need_facen": True}) for f in files]
    facen_used = facen_identity(client)
    responses, seconds = extract_all(client, items, f"LFW (nnd, facen {facen_used['model']})", **kw)
    vectors, errors = {}, Counter()
    for f in files:
        image = cv2.imread(str(root / f))
        face = central_face(responses[f], image.shape[1], image.shape[0])
        if "error" in responses[f]:
            errors[responses[f]["error"]["code"]] += 1
        if face is not None:
            vectors[f] = facen(face)
    scores = np.array(
        [
            float(vectors[r["image1"]] @ vectors[r["image2"]])
            if r["image1"] in vectors and r["image2"] in vectors
            else -1.0
            for r in pairs
        ]
    )
    same = np.array([r["same"] == "1" for r in pairs])
    folds = np.array([r["fold"] for r in pairs])
    per_fold = {}
    for train, test in (("1", "2"), ("2", "1")):
        t = m.best_threshold(scores[folds == train], same[folds == train])
        per_fold[f"threshold from fold {train}, tested on fold {test}"] = {
            "threshold": round(t, 4),
            "accuracy": m.accuracy_at(scores[folds == test], same[folds == test], t),
        }
    accuracy = float(np.mean([v["accuracy"] for v in per_fold.values()]))
    tar3, thr3, far3 = m.tar_at_far(scores, same, 1e-3)
    tar2, thr2, far2 = m.tar_at_far(scores, same, 1e-2)
    far, tar = m.roc_curve(scores, same)
    shipped = facen_used["same_person_threshold"]
    return {
        "facen": facen_used,
        "pairs": len(pairs),
        "images": len(files),
        "no_face_images": len(files) - len(vectors),
        "pairs_without_facen": int(np.sum(scores == -1.0)),
        "errors": dict(errors),
        "accuracy": accuracy,
        "per_fold": per_fold,
        "at_shipped_threshold": {
            "threshold": shipped,
            "accuracy": m.accuracy_at(scores, same, shipped),
            "false_accepts": int(np.sum((scores > shipped) & ~same)),
            "false_rejects": int(np.sum((scores <= shipped) & same)),
        },
        "tar_at_far_1e-3": {
            "tar": tar3,
            "threshold": round(thr3, 4),
            "far": far3,
            "impostor_pairs": int((~same).sum()),
        },
        "tar_at_far_1e-2": {"tar": tar2, "threshold": round(thr2, 4), "far": far2},
        "roc_auc": m.roc_auc(scores, same),
        "errors_at_cross_fold_threshold": int(round((1 - accuracy) * len(pairs))),
        "throughput": throughput(len(files), seconds),
        "_plot": {"far": far.tolist(), "tar": tar.tolist()},
    }


def option_verification(facen):
    """`verification` with [facen] model = `facen`: on the client if it serves that facen, else on a
    daemon started here on build/models (the default daemon keeps serving the other sections)."""
    return lambda client, data, quick=False, **kw: _verification_with(facen, client, data, quick, **kw)


def _verification_with(facen, client, data, quick, **kw):
    if facen_identity(client)["model"] == facen:
        return verification(client, data, quick, **kw)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"starting a daemon with [facen] model = {facen} ...", file=sys.stderr)
        daemon = Daemon(Path(tmp), facen={"model": facen})
        try:
            return verification(daemon.client, data, quick, **kw)
        finally:
            daemon.stop()


# ---------------------------------------------------------------- detection (FDDB, dlib)


def detection_sets(data, quick):
    fddb = defaultdict(list)
    for r in read_csv(data / "detection/fddb/boxes_subset.csv"):
        x, y, w, h = (float(r[k]) for k in "xywh")
        ellipse = tuple(float(r[k]) for k in ("major_radius", "minor_radius", "angle_rad", "center_x", "center_y"))
        fddb[r["image"]].append({"box": (x, y, x + w, y + h), "ellipse": ellipse})
    names = sorted(fddb)
    if quick:
        names = names[:: max(1, len(names) // QUICK["fddb"])][: QUICK["fddb"]]
    sets = {"fddb": (data / "detection/fddb", {n: fddb[n] for n in names})}
    if not quick:
        dlib = defaultdict(list)
        for r in read_csv(data / "detection/dlib_faces/boxes.csv"):
            if r["ignore"] == "1":
                continue
            x, y, w, h = (float(r[k]) for k in "xywh")
            dlib[r["image"]].append({"box": (x, y, x + w, y + h), "ellipse": None})
        sets["dlib_faces"] = (data / "detection/dlib_faces", dict(dlib))
    return sets


def score_detection(truth_by_image, faces_by_image, shapes, rule):
    """Recall, precision, FP/image overall and by size for one matching rule."""
    labels = m.size_labels(FDDB_SIZE_EDGES)
    found, total, fp_by = Counter(), Counter(), Counter()
    tp = fp = 0
    for name, truth in truth_by_image.items():
        faces = faces_by_image[name]
        boxes = [[f["bbox"][k] for k in ("left", "top", "right", "bottom")] for f in faces]
        if rule == "ellipse":
            shape = shapes[name]
            truth_masks = [m.ellipse_mask(shape, t["ellipse"]) for t in truth]
            overlap = [[m.region_iou(m.box_mask(shape, b), tm) for tm in truth_masks] for b in boxes]
        else:
            overlap = [[m.box_iou(b, t["box"]) for t in truth] for b in boxes]
        match = m.greedy_match(np.array(overlap).reshape(len(boxes), len(truth)), [f["detection_score"] for f in faces])
        for t_index, t in enumerate(truth):
            size = m.size_bin(t["box"][2] - t["box"][0], FDDB_SIZE_EDGES)
            total[size] += 1
            found[size] += int(t_index in match)
        for b, t_index in zip(boxes, match, strict=False):
            if t_index >= 0:
                tp += 1
            else:
                fp += 1
                fp_by[m.size_bin(b[2] - b[0], FDDB_SIZE_EDGES)] += 1
    n_truth, n_images = sum(total.values()), len(truth_by_image)
    return {
        "recall": tp / n_truth,
        "precision": tp / (tp + fp) if tp + fp else None,
        "true_positives": tp,
        "false_positives": fp,
        "fp_per_image": fp / n_images,
        "recall_by_size": {k: {"recall": found[k] / total[k] if total[k] else None, "faces": total[k]} for k in labels},
        "fp_by_detection_size": {k: fp_by[k] for k in labels},
    }


def detection(client, data, quick=False, detectors=("nnd", "legacy"), **kw):
    out = {}
    for set_name, (root, truth) in detection_sets(data, quick).items():
        shapes = {n: cv2.imread(str(root / n)).shape[:2] for n in truth}
        out[set_name] = {"images": len(truth), "faces": sum(len(v) for v in truth.values())}
        for detector in detectors:
            items = [(n, (root / n).read_bytes(), {"detector": detector}) for n in truth]
            responses, seconds = extract_all(client, items, f"{set_name} ({detector})", **kw)
            errors = Counter(r["error"]["code"] for r in responses.values() if "error" in r)
            faces = {n: responses[n].get("faces", []) for n in truth}
            rules = ("box", "ellipse") if set_name == "fddb" else ("box",)
            result = {rule: score_detection(truth, faces, shapes, rule) for rule in rules}
            result["detections"] = sum(len(v) for v in faces.values())
            result["errors"] = dict(errors)
            result["throughput"] = throughput(len(items), seconds)
            out[set_name][detector] = result
    return out


# ---------------------------------------------------------------- age and gender (UTKFace)

UTK_WAYS = ("nnd", "prenormalized", "dlib-chip")


def utkface(client, data, quick=False, ways=UTK_WAYS, **kw):
    root = data / "age_gender/utkface"
    rows = read_csv(root / "labels.csv")
    if quick:
        rows = rows[:: len(rows) // QUICK["utkface"]][: QUICK["utkface"]]
    params = {"need_age": True, "need_gender": True}
    runs = {}
    for way in ways:
        items = []
        for r in rows:
            image, extra = utk_input(root / r["file"], way)
            items.append((r["file"], image, {**params, **extra}))
        responses, seconds = extract_all(client, items, f"UTKFace ({way})", **kw)
        runs[way] = ({r["file"]: central_face(responses[r["file"]], 200, 200) for r in rows}, seconds)
    if "nnd" in runs and "dlib-chip" in runs:
        nnd, chip = runs["nnd"][0], runs["dlib-chip"][0]
        runs["nnd+fallback"] = ({f: nnd[f] or chip[f] for f in nnd}, None)
    out = {"images": len(rows)}
    for way, (faces, seconds) in runs.items():
        out[way] = age_gender_figures(rows, faces)
        if seconds:
            out[way]["throughput"] = throughput(len(rows), seconds)
    return out


UTK_CHIP_PADDING = 0.25  # UTKFace's chips taken as dlib face chips with this padding (see the report)


def utk_input(path, way):
    """(bytes, params) for one 200x200 UTKFace chip.

    nnd:           the chip as it is, whole-image detection, the face nearest the centre.
    prenormalized: the chip as it is, as if it were our normalized face (it is not: wrong geometry).
    dlib-chip:     the chip is a dlib face chip (padding UTK_CHIP_PADDING), so it is warped into our
                   normalized face such that the daemon's fixed age/gender chips (age_gender.dlib_chip_matrix)
                   are exactly its central part: no detection, no landmarks."""
    if way == "nnd":
        return path.read_bytes(), {}
    if way == "prenormalized":
        return path.read_bytes(), {"detector": "prenormalized"}
    from findface_extraction_api.models import age_gender

    image = cv2.imread(str(path))
    side = image.shape[1] * (1 + 2 * age_gender.DLIB_CHIP_PADDING) / (1 + 2 * UTK_CHIP_PADDING)
    offset = (image.shape[1] - side) / 2
    scale = 64 / side  # UTK pixels -> the daemon's 64 px age chip
    to_chip = np.array([[scale, 0, -offset * scale], [0, scale, -offset * scale], [0, 0, 1]])
    chip_from_normalized = np.vstack([age_gender.dlib_chip_matrix(age_gender.AGE_SIZE), [0, 0, 1]])
    matrix = (np.linalg.inv(chip_from_normalized) @ to_chip)[:2]
    canvas = cv2.warpAffine(image, matrix, (256, 256), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    return png(canvas), {"detector": "prenormalized"}


def age_gender_figures(rows, faces):
    err, correct = [], []
    by_band, by_race = defaultdict(lambda: ([], [])), defaultdict(list)
    missing = 0
    for r in rows:
        face = faces[r["file"]]
        if face is None:
            missing += 1
            continue
        age = int(r["age"])
        e = abs(face["age"] - age)
        c = face["gender"]["gender"].lower() == r["gender"]
        err.append(e)
        correct.append(c)
        band = m.age_band(age)
        by_band[band][0].append(e)
        by_band[band][1].append(c)
        by_race[r["race"]].append(c)
    signed = [faces[r["file"]]["age"] - int(r["age"]) for r in rows if faces[r["file"]]]
    return {
        "faces": len(err),
        "no_face": missing,
        "age_mae": float(np.mean(err)),
        "age_bias": float(np.mean(signed)),
        "gender_accuracy": float(np.mean(correct)),
        "gender_accuracy_age_20_plus": float(
            np.mean(
                [c for c, r in zip(correct, [r for r in rows if faces[r["file"]]], strict=False) if int(r["age"]) >= 20]
            )
        ),
        "by_band": {
            b: {
                "n": len(by_band[b][0]),
                "age_mae": float(np.mean(by_band[b][0])),
                "gender_accuracy": float(np.mean(by_band[b][1])),
            }
            for b in m.AGE_BANDS
            if by_band[b][0]
        },
        "gender_by_race": {k: {"n": len(v), "accuracy": float(np.mean(v))} for k, v in sorted(by_race.items())},
    }


# ---------------------------------------------------------------- emotions (FER2013, CK+)


def emotion_input(image, way):
    """A 48x48 grey face crop made into one request: (bytes, params).

    square: a 256x256 'normalized face' whose fixed emotion square (models/emotions.py
            EMOTION_SQUARE) is exactly the crop, so the emotion model sees the whole crop as
            fer would (its face box made square, to 64 px grey); detector prenormalized.
    nnd:    the crop upscaled 4x (bicubic, 192 px) and padded by 64 px of edge replication, then
            whole-image detection; the face nearest the centre.
    whole:  the crop as it is, detector prenormalized (the daemon resizes it to 256 and takes its
            emotion square from it, cutting off the crop's margins)."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if way == "square":
        from findface_extraction_api.models.emotions import EMOTION_SQUARE

        left, top, side = EMOTION_SQUARE
        scale = side / grey.shape[1]
        matrix = np.array([[scale, 0, left + 0.5 * scale - 0.5], [0, scale, top + 0.5 * scale - 0.5]])
        canvas = cv2.warpAffine(grey, matrix, (256, 256), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        return png(canvas), {"detector": "prenormalized", "need_emotions": True}
    if way == "nnd":
        big = cv2.resize(grey, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
        big = cv2.copyMakeBorder(big, 64, 64, 64, 64, cv2.BORDER_REPLICATE)
        return png(big), {"detector": "nnd", "need_emotions": True}
    if way == "whole":
        return png(grey), {"detector": "prenormalized", "need_emotions": True}
    raise ValueError(way)


def emotion_run(client, root, files, ways, label, **kw):
    """{way: ({file: predicted label or None}, seconds)}"""
    images = {f: cv2.imread(str(root / f), cv2.IMREAD_GRAYSCALE) for f in files}
    out = {}
    for way in ways:
        items = []
        for f in files:
            data, params = emotion_input(images[f], way)
            items.append((f, data, params))
        responses, seconds = extract_all(client, items, f"{label} ({way})", **kw)
        size = {"square": (256, 256), "nnd": (320, 320), "whole": (48, 48)}[way]
        out[way] = ({f: top_emotion(central_face(responses[f], *size)) for f in files}, seconds)
    return out


def emotion_figures(truth, predicted, labels=m.EMOTIONS):
    n = len(truth)
    no_face = sum(p is None for p in predicted)
    correct = sum(t == p for t, p in zip(truth, predicted, strict=False))
    detected = n - no_face
    return {
        "n": n,
        "no_face": no_face,
        "accuracy": correct / n,
        "accuracy_on_detected": correct / detected if detected else None,
        "per_class_recall": m.per_class_recall(truth, predicted, labels),
        "confusion": m.confusion(truth, predicted, labels).tolist(),
        "labels": list(labels),
    }


def fer2013(client, data, quick=False, ways=EMOTION_WAYS, **kw):
    root = data / "emotion/fer2013"
    rows = read_csv(root / "labels.csv")
    if quick:
        rows = rows[:: len(rows) // QUICK["fer2013"]][: QUICK["fer2013"]]
    files = [r["file"] for r in rows]
    runs = emotion_run(client, root, files, ways, "FER2013", **kw)
    out = {"images": len(rows)}
    for way, (pred, seconds) in runs.items():
        out[way] = emotion_figures([r["emotion"] for r in rows], [pred[f] for f in files])
        out[way]["throughput"] = throughput(len(files), seconds)
    return out


def ckplus(client, data, quick=False, ways=EMOTION_WAYS, **kw):
    root = data / "emotion/ckplus48"
    rows = read_csv(root / "labels.csv")
    files = [r["file"] for r in rows]
    runs = emotion_run(client, root, files, ways, "CK+48", **kw)
    sequences = defaultdict(list)
    for r in rows:
        sequences[(r["subject"], r["sequence"])].append(r)
    for frames in sequences.values():
        frames.sort(key=lambda r: r["file"])  # frame number last in the name: S010_004_00000019
    out = {"frames": len(rows), "sequences": len(sequences), "subjects": len({r["subject"] for r in rows})}
    for way, (pred, seconds) in runs.items():
        majority, last, truth, contempt = [], [], [], Counter()
        for frames in sequences.values():
            label = CKPLUS_TO_OURS[frames[0]["emotion"]]
            votes = [pred[r["file"]] for r in frames]
            counts = Counter(v for v in votes if v is not None)
            top = max(counts.values()) if counts else 0
            tied = [v for v in counts if counts[v] == top]
            # majority of the 3 frames; a tie goes to the latest frame among the tied labels
            vote = next((v for v in reversed(votes) if v in tied), None) if counts else None
            if label is None:
                contempt[vote] += 1
                continue
            truth.append(label)
            majority.append(vote)
            last.append(votes[-1])
        labels = list(m.EMOTIONS)
        frame_truth = [CKPLUS_TO_OURS[r["emotion"]] for r in rows if CKPLUS_TO_OURS[r["emotion"]]]
        frame_pred = [pred[r["file"]] for r in rows if CKPLUS_TO_OURS[r["emotion"]]]
        out[way] = {
            "per_sequence_majority": emotion_figures(truth, majority, labels),
            "per_sequence_last_frame": emotion_figures(truth, last, labels),
            "per_frame": {
                k: v
                for k, v in emotion_figures(frame_truth, frame_pred, labels).items()
                if k in ("n", "accuracy", "no_face")
            },
            "contempt_sequences_predicted_as": {str(k): v for k, v in contempt.most_common()},
            "throughput": throughput(len(files), seconds),
        }
    return out


# ---------------------------------------------------------------- liveness (NUAA)


def liveness(client, data, quick=False, **kw):
    root = data / "liveness/nuaa"
    rows = read_csv(root / "labels.csv")
    probe = client.extract((root / rows[0]["file"]).read_bytes(), need_liveness=True)
    if "error" in probe:
        return {"installed": False, "probe_error": probe["error"]}
    if probe.get("faces") and "liveness" not in probe["faces"][0]:
        return {"installed": False, "probe_error": {"desc": "need_liveness ignored: no liveness key in the answer"}}
    items = [(r["file"], (root / r["file"]).read_bytes(), {"need_liveness": True}) for r in rows]
    responses, seconds = extract_all(client, items, "NUAA (nnd, liveness)", **kw)
    per_subject = defaultdict(lambda: [0, 0])
    accepted = {}  # file -> judged real; no face = not accepted (a spoof is rejected, a real is too)
    scores = {}
    for r in rows:
        image = cv2.imread(str(root / r["file"]))
        face = central_face(responses[r["file"]], image.shape[1], image.shape[0])
        accepted[r["file"]] = bool(face and face["liveness"]["value"] == "REAL")
        scores[r["file"]] = face["liveness"]["score"] if face else None
    real = [r for r in rows if r["label"] == "real"]
    spoof = [r for r in rows if r["label"] == "spoof"]
    apcer = float(np.mean([accepted[r["file"]] for r in spoof]))
    bpcer = float(np.mean([not accepted[r["file"]] for r in real]))
    for r in rows:
        ok = accepted[r["file"]] == (r["label"] == "real")
        key = f"{r['label']} {r['subject']}"
        per_subject[key][0] += ok
        per_subject[key][1] += 1
    return {
        "installed": True,
        "images": len(rows),
        "real": len(real),
        "spoof": len(spoof),
        "no_face": sum(s is None for s in scores.values()),
        "accuracy": float(np.mean([accepted[r["file"]] == (r["label"] == "real") for r in rows])),
        "apcer": apcer,
        "bpcer": bpcer,
        "acer": (apcer + bpcer) / 2,
        "roc_auc": m.roc_auc(
            [scores[r["file"]] if scores[r["file"]] is not None else -1.0 for r in rows],
            [r["label"] == "real" for r in rows],
        ),
        "per_subject": {k: {"n": v[1], "accuracy": v[0] / v[1]} for k, v in sorted(per_subject.items())},
        "subjects_worse_than_50pct": sum(v[0] / v[1] < 0.5 for v in per_subject.values()),
        "throughput": throughput(len(rows), seconds),
    }


# ---------------------------------------------------------------- driver

RUNNERS = {
    "lfw": verification,
    **{section: option_verification(facen) for section, facen in OPTION_FACENS.items()},
    "detection": detection,
    "utkface": utkface,
    "fer2013": fer2013,
    "ckplus": ckplus,
    "liveness": liveness,
}


def evaluate(client, data=DATA, quick=False, sections=SECTIONS, progress=True, clients=3, batch=8, **options):
    """Run the sections on a daemon; returns the report dict (figures only)."""
    data = Path(data)
    status, _, body = client.request("GET")
    report = {
        "quick": quick,
        "data": str(data),
        "daemon": json.loads(body) if status == 200 else None,
        "transport": {"clients": clients, "requests_per_envelope": batch, "cpus": len(os.sched_getaffinity(0))},
        "sections": {},
    }
    started = time.perf_counter()
    for name in sections:
        t0 = time.perf_counter()
        kw = dict(quick=quick, progress=progress, clients=clients, batch=batch)
        kw.update(options.get(name, {}))
        report["sections"][name] = RUNNERS[name](client, data, **kw)
        report["sections"][name]["section_seconds"] = round(time.perf_counter() - t0, 1)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="use this running daemon instead of starting one")
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--out", help="report folder (default docs/accuracy, or build/eval-quick with --quick)")
    parser.add_argument("--quick", action="store_true", help="the CI subset: " + json.dumps(QUICK))
    parser.add_argument("--only", help="comma-separated sections of " + ",".join(SECTIONS))
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a non-default setting for the daemon this starts, e.g. age.model=cydral+faceres (repeatable)",
    )
    parser.add_argument(
        "--baseline",
        metavar="REPORT_JSON",
        help="the default configuration's report.json: its figures are shown beside this run's",
    )
    args = parser.parse_args()
    config = {}
    for item in args.config:
        place, _, value = item.partition("=")
        section, _, key = place.rpartition(".")
        if not key or not value:
            sys.exit(f"--config {item!r}: expected SECTION.KEY=VALUE")
        config.setdefault(section or "top", {})[key] = value
    data = Path(args.data)
    if not (data / "README.md").exists():
        sys.exit(f"no evaluation data at {data} (expected ../shared/eval-data, see its README.md)")
    sections = args.only.split(",") if args.only else (QUICK_SECTIONS if args.quick else SECTIONS)
    baseline = json.loads(Path(args.baseline).read_text()) if args.baseline else None  # read before the run
    out = Path(args.out or (ROOT / ("build/eval-quick" if args.quick else "docs/accuracy")))
    import accuracy_report  # matplotlib: imported only here, an eval-only dependency

    def go(client):
        report = evaluate(client, data, quick=args.quick, sections=sections, clients=args.clients, batch=args.batch)
        report["configuration"] = args.config
        return report

    if args.url:
        report = go(Client(args.url.rstrip("/")))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            print(
                f"starting a daemon ({', '.join(args.config) or 'default configuration'}, build/models) ...",
                file=sys.stderr,
            )
            daemon = Daemon(Path(tmp), **config)
            try:
                report = go(daemon.client)
            finally:
                daemon.stop()
    accuracy_report.write(report, out, baseline, args.baseline)
    print(f"report: {out / 'report.md'} ({report['total_seconds']:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
