"""YuNet (OpenCV Zoo, int8 block-quantized): make it load, run fast, and take any input size.

As shipped the graph fails on its first run in onnxruntime 1.31 (stray
block_size on 1-element DequantizeLinear scales), dequantizes every weight on
every call, and hard-codes a 640x640 input. See models-prototype.md §2.1.
"""

import numpy as np
import onnx
from dq_fold import (
    check,
    count_ops,
    dims_of,
    fold_dequantize,
    remove_unused_initializers,
    set_dims,
    strip_stray_block_attrs,
)
from ort_check import max_abs_diff, run_both

TOLERANCE = 1e-3  # max abs difference, folded vs unfolded (prototype saw 1.2e-4)
CHECK_SIZES = [(320, 320), (480, 640)]  # (H, W): 320x320 and 640x480


def _dynamic_size(model) -> None:
    """Input [1,3,H,W]; anchor counts depend on H and W, so clear them and all value_info."""
    (inp,) = model.graph.input
    set_dims(inp, [1, 3, "H", "W"])
    for out in model.graph.output:
        stride = out.name.rsplit("_", 1)[-1]
        dims = dims_of(out)
        set_dims(out, [dims[0], f"A_{stride}", dims[2]])
    del model.graph.value_info[:]


def build(data: bytes) -> tuple[bytes, list[str], dict]:
    """Return (fixed ONNX bytes, transforms applied, verification figures)."""
    model = onnx.load_from_string(data)
    n_dq_total = count_ops(model, "DequantizeLinear")
    n_stripped = strip_stray_block_attrs(model)
    n_dead = remove_unused_initializers(model)  # shape constants no node reads
    _dynamic_size(model)
    reference = onnx.ModelProto()
    reference.CopyFrom(model)  # DQ-fixed but unfolded: what onnxruntime runs as shipped

    n_dq, n_reshape = fold_dequantize(model)
    if count_ops(model, "DequantizeLinear"):
        raise ValueError(f"yunet: {count_ops(model, 'DequantizeLinear')} DequantizeLinear left")
    check(model, "yunet.onnx")

    rng = np.random.default_rng(20240601)
    diffs = {}
    for h, w in CHECK_SIZES:
        x = rng.uniform(0, 255, size=(1, 3, h, w)).astype(np.float32)
        ref, got = run_both(reference, model, {"input": x})
        diffs[f"{w}x{h}"] = d = max_abs_diff(ref, got)
        if not d <= TOLERANCE:
            raise ValueError(f"yunet fold verification failed at {w}x{h}: max |diff| {d:.3g} > {TOLERANCE:g}")

    transforms = [
        f"removed {n_dead} initializers that no node reads",
        f"removed stray block_size/axis attributes from {n_stripped} DequantizeLinear nodes "
        "with a 1-element scale of rank <= 1 (onnxruntime rejects them; no numeric change)",
        f"folded {n_dq} of {n_dq_total} DequantizeLinear nodes and {n_reshape} following "
        "weight Reshape nodes into float32 initializers ((q - zp) * repeat(scale, block_size, axis))",
        "input dims set to [1,3,'H','W'] (H, W multiples of 32); output anchor dims made "
        "symbolic (A_s = (H/s)*(W/s)); value_info cleared",
    ]
    verification = {
        "check": "unfolded (DQ-fixed) vs folded graph, onnxruntime, seeded uniform 0..255 input",
        "max_abs_diff": diffs,
        "tolerance": TOLERANCE,
    }
    return model.SerializeToString(), transforms, verification
