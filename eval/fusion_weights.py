"""Derive the sface+dlib fusion weights and its same-person threshold without identity labels.

    .venv/bin/python eval/fusion_weights.py [--url http://127.0.0.1:18666] [--data DIR]

Every face the daemon finds in the FDDB subset of ../shared/eval-data (news photos of many
people; its labels are face boxes, not identities, and none are read) is extracted with
`[facen] model = sface+dlib`; the two halves of each fused vector are the two models' own unit
vectors. Over all pairs of faces from different photos (nearly all of them two different people:
an unlabelled impostor sample) the script measures, for each model, the mean and standard
deviation of the cosine, and prints:

- the weights that z-normalise the two cosines (w = 1 / standard deviation, SFace's set to 1):
  the fused cosine sum(w_i * cos_i) / sum(w) then gives each model the same say, in units of its
  own impostor spread;
- the fused threshold that accepts the same share of these pairs as SFace's shipped
  SAME_PERSON_THRESHOLD does (the same false-accept rate on unlabelled impostors).

The LFW pairs and their labels are not read: eval/run.py and eval/verify_lfw.py evaluate the result.
"""

import argparse
import base64
import contextlib
import json
import tempfile
from pathlib import Path

import numpy as np

from findface_extraction_api.models.facen import SAME_PERSON_THRESHOLD
from findface_extraction_api.testing import ROOT, Client, Daemon

DATA = Path(ROOT).parent / "shared" / "eval-data" / "detection" / "fddb"


@contextlib.contextmanager
def fused_client(url):
    """A client of `url`, or of a daemon on build/models with [facen] model = sface+dlib."""
    if url:
        yield Client(url.rstrip("/"))
        return
    with tempfile.TemporaryDirectory() as tmp:
        daemon = Daemon(Path(tmp), facen={"model": "sface+dlib"})
        try:
            yield daemon.client
        finally:
            daemon.stop()


def halves(facen_b64):
    """The SFace and dlib unit vectors inside one fused facen."""
    vector = np.frombuffer(base64.b64decode(facen_b64), "<f4").astype(np.float64)
    sface, dlib = vector[:128], vector[128:]
    return sface / np.linalg.norm(sface), dlib / np.linalg.norm(dlib)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running daemon with [facen] model = sface+dlib")
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--save", help="also write the faces' vectors to this .npz (for a sensitivity study)")
    args = parser.parse_args()
    data = Path(args.data)
    images = sorted({line.split(",")[0] for line in (data / "boxes_subset.csv").read_text().splitlines()[1:]})
    sface, dlib, photo = [], [], []
    with fused_client(args.url) as client:
        status, _, body = client.request("GET")
        facen = json.loads(body)["facen"]
        assert facen["model"] == "sface+dlib", f"the daemon serves facen {facen['model']}, not sface+dlib"
        for index, name in enumerate(images):
            for face in client.extract((data / name).read_bytes(), need_facen=True).get("faces", []):
                s, d = halves(face["facen"])
                sface.append(s)
                dlib.append(d)
                photo.append(index)
    sface, dlib, photo = np.array(sface), np.array(dlib), np.array(photo)
    upper = np.triu(np.ones((len(photo), len(photo)), bool), 1) & (photo[:, None] != photo[None, :])
    cos_s, cos_d = (sface @ sface.T)[upper], (dlib @ dlib.T)[upper]
    mean = {"sface": cos_s.mean(), "dlib": cos_d.mean()}
    std = {"sface": cos_s.std(), "dlib": cos_d.std()}
    weight_dlib = std["sface"] / std["dlib"]
    fused = (cos_s + weight_dlib * cos_d) / (1 + weight_dlib)
    accepted = int(np.sum(cos_s >= SAME_PERSON_THRESHOLD))
    far = accepted / len(cos_s)
    threshold = float(np.quantile(fused, 1 - far))
    print(f"{len(images)} photos, {len(photo)} faces, {len(cos_s)} pairs of faces from different photos")
    for model in ("sface", "dlib"):
        print(f"  {model:6s} cosine over those pairs: mean {mean[model]:.4f}, standard deviation {std[model]:.4f}")
    print(f"z-normalising weights: sface 1, facen_dlib {weight_dlib:.4f}")
    print(
        f"SFace at {SAME_PERSON_THRESHOLD} accepts {far:.5f} of those pairs ({accepted});"
        f" the fused cosine accepts as many at {threshold:.4f}"
    )
    print(json.dumps({"weights": {"facen": 1.0, "facen_dlib": round(weight_dlib, 4)}, "threshold": threshold}))
    if args.save:
        np.savez(args.save, sface=sface, dlib=dlib, photo=photo)


if __name__ == "__main__":
    main()
