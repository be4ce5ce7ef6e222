"""Convert an fp32 ONNX graph to float16 inside, keeping the float32 physical-unit inputs and outputs.

Float initializers and constants become float16 where only float16 nodes read them; every node runs in
float16 except the few whose float inputs the ONNX standard pins to float32 (``Resize`` scales/roi, ``Range``
...), and the cheap elementwise edges of the graph: the normalisation of the physical-unit inputs (with the
slicing and comparisons that read it, e.g. a liquidus test on a temperature in kelvin, whose 1 K float16
steps near 1700 K would flip cells) and the de-normalisation in front of the outputs. A ``Cast`` is inserted
wherever a tensor crosses between the two precisions, so callers still feed and read float32 in physical
units.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["KEEP_FP32_OPS", "to_float16"]

# Ops that keep float32: their float inputs include parameters the standard types as float only, or they
# compute shapes. Running them in float32 costs a cast on a small tensor.
KEEP_FP32_OPS = frozenset(
    {"Resize", "Upsample", "Range", "ConstantOfShape", "RandomNormalLike", "RandomUniformLike"}
)

# Cheap ops that stay float32 at the graph's edges (reading the inputs, or feeding only the outputs).
EDGE_OPS = frozenset(
    {"Sub", "Div", "Mul", "Add", "Slice", "Gather", "Concat", "Split", "Unsqueeze", "Squeeze", "Reshape",
     "Identity", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Equal"}
)  # fmt: skip
_AFFINE = frozenset({"Sub", "Div", "Mul", "Add"})

_F32, _F16 = TensorProto.FLOAT, TensorProto.FLOAT16


def _float_tensors(model: onnx.ModelProto) -> set[str]:
    """Names of every float32 tensor in the graph (via shape inference for intermediates)."""
    g = onnx.shape_inference.infer_shapes(model).graph
    names = {v.name for v in (*g.input, *g.output, *g.value_info) if v.type.tensor_type.elem_type == _F32}
    names |= {t.name for t in g.initializer if t.data_type == _F32}
    for node in g.node:
        if node.op_type == "Constant":
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            if value is not None and value.data_type == _F32:
                names.add(node.output[0])
        elif node.op_type == "Cast":
            to = next(a.i for a in node.attribute if a.name == "to")
            if to == _F32:
                names.add(node.output[0])
    return names


def _to_half(tensor: TensorProto) -> TensorProto:
    arr = numpy_helper.to_array(tensor).astype("float16")
    return numpy_helper.from_array(arr, tensor.name)


def to_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """A float16 copy of ``model`` with float32 graph inputs and outputs; ``model`` is left unchanged.

    Raises ValueError for graphs with control flow (subgraphs), which this conversion does not handle.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    if any(
        a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in g.node for a in n.attribute
    ):
        raise ValueError("fp16 conversion does not support control-flow subgraphs")
    floats = _float_tensors(model)
    outputs = {o.name for o in g.output if o.name in floats}
    # Graph outputs are produced under a new name in float16 and cast back under their own name at the end.
    renamed = {name: f"{name}__fp16" for name in outputs}
    for node in g.node:
        node.input[:] = [renamed.get(i, i) for i in node.input]
        node.output[:] = [renamed.get(o, o) for o in node.output]
    floats |= set(renamed.values())
    # Protobuf hands out fresh wrapper objects on each access, so nodes are identified by position.
    edges = _input_edge(g) | _output_edge(g, set(renamed.values()))
    half_nodes = {k for k, n in enumerate(g.node) if n.op_type not in KEEP_FP32_OPS and k not in edges}
    readers: dict[str, list[int]] = {}
    for k, node in enumerate(g.node):
        for name in node.input:
            readers.setdefault(name, []).append(k)

    def all_half(name: str) -> bool:
        return all(r in half_nodes for r in readers.get(name, [])) and name not in outputs

    precision: dict[str, int] = {name: _F32 for name in floats}
    for i, init in enumerate(g.initializer):
        if init.data_type == _F32 and all_half(init.name):
            g.initializer[i].CopyFrom(_to_half(init))
            precision[init.name] = _F16
    for k, node in enumerate(g.node):
        if k not in half_nodes:
            continue
        if node.op_type == "Constant":
            attr = next((a for a in node.attribute if a.name == "value"), None)
            if attr is None or attr.t.data_type != _F32:
                continue
            if not all_half(node.output[0]):
                continue  # read by a float32-only input (e.g. Resize scales): keep it exact
            attr.t.CopyFrom(_to_half(attr.t))
        if node.op_type == "Cast":
            for a in node.attribute:
                if a.name == "to" and a.i == _F32:
                    a.i = _F16
        for out in node.output:
            if out in floats:
                precision[out] = _F16
    new_nodes = _with_casts(g, half_nodes, precision)
    for name, produced in renamed.items():
        new_nodes.append(helper.make_node("Cast", [produced], [name], to=_F32))
    del g.node[:]
    g.node.extend(new_nodes)
    del g.value_info[:]  # intermediate types changed; ONNX Runtime re-infers them
    return model


def _input_edge(g: onnx.GraphProto) -> set[int]:
    """Positions of the :data:`EDGE_OPS` nodes computed from the graph inputs and constants alone."""
    exact = {i.name for i in g.input} | {t.name for t in g.initializer}
    edge: set[int] = set()
    for k, node in enumerate(g.node):  # nodes are in topological order
        if node.op_type == "Constant":
            exact.update(node.output)
        elif node.op_type in EDGE_OPS and all(not i or i in exact for i in node.input):
            edge.add(k)
            exact.update(node.output)
    return edge


def _output_edge(g: onnx.GraphProto, outputs: set[str]) -> set[int]:
    """Positions of the affine nodes (de-normalisation) whose results only feed ``outputs``."""
    readers: dict[str, list[int]] = {}
    for k, node in enumerate(g.node):
        for name in node.input:
            readers.setdefault(name, []).append(k)
    edge: set[int] = set()
    for k in range(len(g.node) - 1, -1, -1):
        node = g.node[k]
        if node.op_type not in _AFFINE:
            continue
        if all(o in outputs or (readers.get(o) and all(r in edge for r in readers[o])) for o in node.output):
            edge.add(k)
    return edge


def _with_casts(g: onnx.GraphProto, half_nodes: set[int], precision: dict[str, int]) -> list:
    """The graph's nodes (detached copies) with a Cast wherever a tensor meets a node of other precision."""
    new_nodes, casts = [], {}
    for pos, node in enumerate(g.node):
        want = _F16 if pos in half_nodes else _F32
        for k, name in enumerate(node.input):
            if name in precision and precision[name] != want:
                key = (name, want)
                if key not in casts:
                    casts[key] = f"{name}__to{'16' if want == _F16 else '32'}"
                    new_nodes.append(helper.make_node("Cast", [name], [casts[key]], to=want))
                node.input[k] = casts[key]
        new_nodes.append(onnx.NodeProto.FromString(node.SerializeToString()))  # detached from g.node
    return new_nodes
