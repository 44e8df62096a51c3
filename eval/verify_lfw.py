"""Judge verify-matcher's same-person thresholds on LFW, through the Image API (they are not chosen here).

Each image of ../shared/eval-data/verification/lfw/pairs_fold1-2.csv (LFW View 2 folds 1-2,
1,200 pairs; research data, never copied into the repo) goes to
POST /face-detector-template-extractor/v2/process/image; the face nearest the image centre (LFW
convention) gives the template. Each pair is then compared by POST /verify-matcher/v2/process/sample.
The script prints, for the cosine score: the accuracy-maximising threshold of each fold tested on
the other fold, the threshold best on both folds together, and accuracy / false accepts / false
rejects at the shipped threshold (pipeline.SAME_PERSON) - for each facen ([facen] model: sface,
sface+dlib, mobilefacenet), then all side by side (cross-fold accuracy, TAR at FAR 1e-3 and 1e-2,
ROC AUC).

    .venv/bin/python eval/verify_lfw.py [--facen sface|sface+dlib|mobilefacenet|all] [--url URL] [--data DIR]

With --url, the daemon there is evaluated as it is configured (GET / says which facen).
"""

import argparse
import csv
import json
import os

import numpy as np
from accuracy_metrics import best_threshold, roc_auc, tar_at_far
from daemon import SHARED, multipart, served

from findface_extraction_api.pipeline import FACENS, SAME_PERSON


def off_centre(obj):
    """Squared distance of a 3DiVi object's box centre from the image centre (normalized units)."""
    x1, y1, x2, y2 = obj["bbox"]
    return ((x1 + x2) / 2 - 0.5) ** 2 + ((y1 + y2) / 2 - 0.5) ** 2


def report(name, scores, same, threshold):
    accept = scores >= threshold
    print(
        f"{name}: threshold {threshold:.4f}  accuracy {np.mean(accept == same):.4f}  "
        f"false accepts {int(np.sum(accept & ~same))}/{int(np.sum(~same))}  "
        f"false rejects {int(np.sum(~accept & same))}/{int(np.sum(same))}"
    )


def templates_and_scores(post, pairs, data):
    """(per-pair fold, cosine score, same) arrays through the Image API, and images without a face."""
    templates, missing = {}, 0
    for path in sorted({p[k] for p in pairs for k in ("image1", "image2")}):
        with open(os.path.join(data, path), "rb") as f:
            status, answer = post("/face-detector-template-extractor/v2/process/image", *multipart("image", f.read()))
        assert status == 200, answer
        if not answer["objects"]:
            missing += 1
            continue
        face = min(answer["objects"], key=off_centre)
        templates[path] = {"template": face["template"]}
    folds, scores, same = [], [], []
    for pair in pairs:
        a, b = templates.get(pair["image1"]), templates.get(pair["image2"])
        if a is None or b is None:
            score = -1.0  # no face: counted as "different"
        else:
            body = json.dumps({"objects": [a, b]}).encode()
            status, answer = post("/verify-matcher/v2/process/sample", body, "application/json")
            assert status == 200, answer
            score = answer["verification"]["score"]
        folds.append(int(pair["fold"]))
        scores.append(score)
        same.append(pair["same"] == "1")
    return np.array(folds), np.array(scores), np.array(same), missing


def evaluate(facen, folds, scores, same, missing):
    """Print one facen's calibration lines; return its side-by-side figures."""
    print(f"== facen {facen}")
    print(
        f"pairs: {len(scores)} ({int(same.sum())} same, {int((~same).sum())} different); "
        f"images without a face: {missing}"
    )
    print(
        f"cosine, same pairs: median {np.median(scores[same]):.3f}, "
        f"1st percentile {np.percentile(scores[same], 1):.3f}; "
        f"different pairs: median {np.median(scores[~same]):.3f}, "
        f"99th percentile {np.percentile(scores[~same], 99):.3f}"
    )
    accuracies = []
    for train, test in ((1, 2), (2, 1)):
        threshold = best_threshold(scores[folds == train], same[folds == train])
        report(f"fold {train} threshold on fold {test}", scores[folds == test], same[folds == test], threshold)
        accuracies.append(np.mean((scores[folds == test] > threshold) == same[folds == test]))
    report("best on folds 1-2", scores, same, best_threshold(scores, same))
    report(f"shipped threshold ({facen}) on folds 1-2", scores, same, SAME_PERSON[facen])
    return {
        "cross-fold accuracy": f"{100 * np.mean(accuracies):.2f}%",
        "TAR at FAR 1e-3": f"{100 * tar_at_far(scores, same, 1e-3)[0]:.2f}%",
        "TAR at FAR 1e-2": f"{100 * tar_at_far(scores, same, 1e-2)[0]:.2f}%",
        "ROC AUC": f"{roc_auc(scores, same):.5f}",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running daemon (default: start one per facen on build/models)")
    parser.add_argument("--data", default=os.path.join(SHARED, "verification", "lfw"))
    parser.add_argument("--facen", choices=(*FACENS, "all"), default="all")
    args = parser.parse_args()
    with open(os.path.join(args.data, "pairs_fold1-2.csv")) as f:
        pairs = list(csv.DictReader(f))
    figures = {}
    for facen in FACENS if args.facen == "all" and not args.url else [args.facen]:
        with served(args.url, facen={"model": facen}) as post:
            if args.url:
                facen = post.facen
            figures[facen] = evaluate(facen, *templates_and_scores(post, pairs, args.data))
    print("== side by side")
    print(f"{'':22s}" + "".join(f"{facen:>14s}" for facen in figures))
    for row in next(iter(figures.values())):
        print(f"{row:22s}" + "".join(f"{v[row]:>14s}" for v in figures.values()))


if __name__ == "__main__":
    main()
