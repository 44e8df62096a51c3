"""face_recognition (dlib HOG + ResNet) on the same photos, one process per core: the peer.

    build/bench-peer-venv/bin/python bench/peer.py PROCESSES FILE...

Each process loads the models and warms up before the clock starts; then the photos are shared
out and each goes through face_recognition's own detect + encode path (load_image_file,
face_locations with its default HOG model and one upsample, face_encodings). Prints
{"images", "faces", "seconds"} as JSON. Runs in its own virtualenv (bench/run.py makes it).
"""

import json
import sys
import time
from multiprocessing import Pool


def warm(_):
    import face_recognition
    import numpy as np

    face_recognition.face_encodings(np.zeros((64, 64, 3), np.uint8), [(8, 56, 56, 8)])
    time.sleep(0.5)  # let every process finish loading before the first photo is handed out


def describe(path):
    import face_recognition

    image = face_recognition.load_image_file(path)
    return len(face_recognition.face_encodings(image, face_recognition.face_locations(image)))


def main():
    processes, files = int(sys.argv[1]), sys.argv[2:]
    with Pool(processes) as pool:
        pool.map(warm, range(processes), chunksize=1)
        start = time.perf_counter()
        faces = pool.map(describe, files, chunksize=4)
        seconds = time.perf_counter() - start
    print(json.dumps({"images": len(files), "faces": sum(faces), "seconds": seconds}))


if __name__ == "__main__":
    main()
