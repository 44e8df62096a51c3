"""Run two graphs on the same input with onnxruntime (default session settings)."""

import numpy as np
import onnxruntime as ort


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def run_both(reference, candidate, feeds: dict) -> tuple[dict, dict]:
    """Outputs of both graphs as {name: array}; output names must agree."""
    outs = []
    for model in (reference, candidate):
        sess = session(model)
        names = [o.name for o in sess.get_outputs()]
        outs.append(dict(zip(names, sess.run(None, feeds), strict=False)))
    if list(outs[0]) != list(outs[1]):
        raise ValueError(f"output names differ: {list(outs[0])} vs {list(outs[1])}")
    return outs[0], outs[1]


def max_abs_diff(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) for k in a)
