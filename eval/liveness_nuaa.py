"""Liveness on NUAA print attacks, measured through the Image API (face-detector-liveness-estimator).

Every frame of ../shared/eval-data/liveness/nuaa (research data: never copied into the repo) is
posted as a raw image to POST /face-detector-liveness-estimator/v2/process/image; the face with
the highest detection confidence is scored. "Real" is the positive class: APCER = attacks called
REAL, BPCER = real faces called FAKE, ACER = their mean; a frame with no face counts as FAKE.
Figures are printed overall (at the daemon's threshold and at --thresholds) and per subject.

    .venv/bin/python eval/liveness_nuaa.py [--url http://127.0.0.1:18666] [--data DIR]

Without --url it starts a daemon on build/models (which must include the liveness pack).
"""

import argparse
import csv
import os
import statistics
import sys
import time
from collections import defaultdict

from daemon import SHARED, multipart, served

PATH = "/face-detector-liveness-estimator/v2/process/image"


def auc(positives, negatives):
    """P(score of a random real frame > that of a random attack), ties counting half."""
    if not positives or not negatives:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def rates(rows, threshold=None):
    """(APCER, BPCER, accuracy) at `threshold` on P(real), or by the daemon's REAL/FAKE if None."""

    def says_real(row):
        return row["real"] if threshold is None else row["score"] is not None and row["score"] >= threshold

    spoof = [r for r in rows if r["label"] == "spoof"]
    real = [r for r in rows if r["label"] == "real"]
    apcer = sum(says_real(r) for r in spoof) / len(spoof) if spoof else float("nan")
    bpcer = sum(not says_real(r) for r in real) / len(real) if real else float("nan")
    correct = sum(says_real(r) == (r["label"] == "real") for r in rows)
    return apcer, bpcer, correct / len(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running daemon (default: start one on build/models)")
    parser.add_argument("--data", default=os.path.join(SHARED, "liveness", "nuaa"))
    parser.add_argument("--thresholds", default="0.3,0.5,0.7,0.9", help="extra thresholds to report")
    args = parser.parse_args()
    with open(os.path.join(args.data, "labels.csv")) as f:
        labels = list(csv.DictReader(f))
    rows, latencies = [], []
    with served(args.url) as post:
        for item in labels:
            with open(os.path.join(args.data, item["file"]), "rb") as f:
                body, content_type = multipart("image", f.read())
            start = time.perf_counter()
            status, answer = post(PATH, body, content_type)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                sys.exit(f"{item['file']}: HTTP {status}: {answer}")
            faces = sorted(answer["objects"], key=lambda o: -o["confidence"])
            best = faces[0]["liveness"] if faces else None
            rows.append(
                {
                    "label": item["label"],
                    "subject": item["subject"],
                    "score": best["confidence"] if best else None,
                    "real": bool(best) and best["value"] == "REAL",
                }
            )
    real = [r["score"] for r in rows if r["label"] == "real" and r["score"] is not None]
    spoof = [r["score"] for r in rows if r["label"] == "spoof" and r["score"] is not None]
    print(
        f"frames: {len(rows)} ({sum(r['label'] == 'real' for r in rows)} real, "
        f"{sum(r['label'] == 'spoof' for r in rows)} print attacks); no face found: "
        f"{sum(r['score'] is None for r in rows)}"
    )
    print(f"request latency (640x480, detection + liveness, HTTP): median {statistics.median(latencies) * 1000:.1f} ms")
    print(
        f"AUC {auc(real, spoof):.5f}; "
        f"mean P(real): real {statistics.mean(real):.3f}, attacks {statistics.mean(spoof):.3f}"
    )
    apcer, bpcer, accuracy = rates(rows)
    print(
        f"daemon's verdict: accuracy {accuracy:.4f}  APCER {apcer:.4f}  BPCER {bpcer:.4f}  "
        f"ACER {(apcer + bpcer) / 2:.4f}"
    )
    for threshold in (float(t) for t in args.thresholds.split(",") if t):
        apcer, bpcer, accuracy = rates(rows, threshold)
        print(
            f"threshold {threshold:.2f}:   accuracy {accuracy:.4f}  APCER {apcer:.4f}  BPCER {bpcer:.4f}  "
            f"ACER {(apcer + bpcer) / 2:.4f}"
        )
    print("\nper subject (daemon's verdict):")
    print("| subject | real frames | attack frames | BPCER | APCER | mean P(real) real / attack |")
    print("|---|---|---|---|---|---|")
    by_subject = defaultdict(list)
    for row in rows:
        by_subject[row["subject"]].append(row)
    for subject, group in sorted(by_subject.items()):
        apcer, bpcer, _ = rates(group)
        real = [r["score"] or 0.0 for r in group if r["label"] == "real"]
        spoof = [r["score"] or 0.0 for r in group if r["label"] == "spoof"]
        fmt = lambda v: "–" if v != v else f"{v:.3f}"  # noqa: E731 (NaN -> dash)
        means = " / ".join("–" if not s else f"{statistics.mean(s):.3f}" for s in (real, spoof))
        print(f"| {subject} | {len(real)} | {len(spoof)} | {fmt(bpcer)} | {fmt(apcer)} | {means} |")


if __name__ == "__main__":
    main()
