"""PRelu written as two per-channel scales and a Relu, which onnxruntime runs fused with the convs.

onnxruntime's PRelu kernel is slow on CPU (an onnxruntime profile of SFace puts it at about half
of the kernel time; models-prototype.md §3.1) and it breaks the NCHWc conv chain with layout
reorders. PRelu(x) = slope * x + (1 - slope) * Relu(x) for every slope, positive, negative or
above 1; onnxruntime turns both per-channel Muls into 1x1 NCHWc depthwise convs and fuses the
Add into the second one, so the chain stays in NCHWc. Measured on SFace, 1 thread, CPU time per
face: 27.1 ms as shipped, 20.0 ms as Relu(x) + Min(x, 0) * slope, 14.7 ms in this form.
MobileFaceNet's TFLite graph writes PReLU as relu(x) + a * (x - |x|): prelu_from_abs_form makes
those PRelu first (1 thread, one face: 7.8-8.6 ms as converted, 5.3 ms after both steps).
"""

import numpy as np
from onnx import helper, numpy_helper


def rewrite_prelu_linear(model) -> int:
    """Replace every PRelu(x, slope) with constant slope by slope*x + (1-slope)*Relu(x), in place;
    returns the count."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    nodes, count = [], 0
    for node in graph.node:
        if node.op_type != "PRelu" or node.input[1] not in inits:
            nodes.append(node)
            continue
        x, slope_name = node.input
        slope = numpy_helper.to_array(inits[slope_name]).astype(np.float32)
        y, base = node.output[0], f"prelu_linear_{count}"
        rest = f"{base}_one_minus_slope"
        graph.initializer.append(numpy_helper.from_array(np.float32(1) - slope, rest))
        nodes += [
            helper.make_node("Mul", [x, slope_name], [f"{base}_scaled"], name=f"{base}_scale"),
            helper.make_node("Relu", [x], [f"{base}_pos"], name=f"{base}_relu"),
            helper.make_node("Mul", [f"{base}_pos", rest], [f"{base}_pos_scaled"], name=f"{base}_pos_scale"),
            helper.make_node("Add", [f"{base}_scaled", f"{base}_pos_scaled"], [y], name=f"{base}_add"),
        ]
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return count


def prelu_from_abs_form(model) -> int:
    """Replace relu(x) + a * (x - |x|) (how TFLite converters write PReLU) by PRelu(x, 2a), in place;
    `a` must be a constant and every intermediate read only there. Returns the count."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    replaced: dict[int, object] = {}
    dropped: set[int] = set()
    for node in graph.node:
        if node.op_type != "Add":
            continue
        by_op = {getattr(producer.get(name), "op_type", None): producer.get(name) for name in node.input}
        if set(by_op) != {"Relu", "Mul"}:
            continue
        relu, mul = by_op["Relu"], by_op["Mul"]
        consts = [name for name in mul.input if name in inits]
        others = [producer.get(name) for name in mul.input if name not in inits]
        if len(consts) != 1 or len(others) != 1 or getattr(others[0], "op_type", None) != "Sub":
            continue
        sub, x = others[0], relu.input[0]
        absolute = producer.get(sub.input[1])
        if sub.input[0] != x or getattr(absolute, "op_type", None) != "Abs" or absolute.input[0] != x:
            continue
        if any(readers[n.output[0]] != 1 for n in (relu, mul, sub, absolute)):
            continue
        slope = f"{consts[0]}_prelu_slope"
        graph.initializer.append(numpy_helper.from_array(2 * numpy_helper.to_array(inits[consts[0]]), slope))
        replaced[id(node)] = helper.make_node("PRelu", [x, slope], [node.output[0]], name=f"{node.name}_prelu")
        dropped |= {id(relu), id(mul), id(sub), id(absolute)}
    nodes = [replaced.get(id(n), n) for n in graph.node if id(n) not in dropped]
    del graph.node[:]
    graph.node.extend(nodes)
    return len(replaced)
