"""ONNX export: an MLP as an ONNX graph that serving stacks (onnxruntime, TensorRT, OpenVINO...) load.

The graph is built with the `onnx` package's helpers (the optional extra `fastmlp[onnx]`), at opset 17
(IR version 8), which onnxruntime has run since 1.13. It computes exactly what `MLP.predict` does:
standardize the inputs when the model carries statistics, then per layer a Gemm (x @ W + b) and the
activation, then scale the outputs back. Every op is in the model's dtype (float or double).
"""

from __future__ import annotations

import json
import os

import numpy as np

__all__ = ["to_onnx", "OPSET", "IR_VERSION"]

OPSET = 17
IR_VERSION = 8


def _require_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError('ONNX export needs the onnx package: pip install "fastmlp[onnx]"') from None
    return onnx


def _head(model, head):
    """None, "softmax" or "sigmoid": what follows the network's outputs in the exported graph."""
    if head == "auto":
        return {"cross_entropy": "softmax", "bce": "sigmoid"}.get(getattr(model, "classification_loss", None))
    if head in (None, "logits"):
        return None
    if head not in ("softmax", "sigmoid"):
        raise ValueError(f"head must be 'auto', 'softmax', 'sigmoid' or 'logits' (None), got {head!r}")
    return head


def build_onnx(model, *, opset=OPSET, input_name="input", output_name="output", head="auto"):
    """The model as an onnx.ModelProto (see the module text); `to_onnx` writes it to a file."""
    onnx = _require_onnx()
    from onnx import TensorProto, helper, numpy_helper

    if isinstance(opset, bool) or not isinstance(opset, int) or not 13 <= opset <= onnx.defs.onnx_opset_version():
        raise ValueError(f"opset must be an int in [13, {onnx.defs.onnx_opset_version()}], got {opset!r}")
    for what, name in (("input_name", input_name), ("output_name", output_name)):
        if not isinstance(name, str) or not name:
            raise ValueError(f"{what} must be a non-empty str, got {name!r}")
    dtype = model.dtype
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    nodes, inits = [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=dtype), name))
        return name

    def node(op, inputs, out, **attrs):
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    x = input_name
    scaling = model.standardization
    if scaling is not None:  # (x - mean) / std, in the order and dtype predict uses
        x = node("Sub", [x, const("x_mean", scaling["x_mean"])], "x_centered")
        x = node("Div", [x, const("x_std", scaling["x_std"])], "x_standardized")
    zero = None
    for layer, (w, b, act) in enumerate(zip(model.weights, model.biases, model.activations)):
        z = node("Gemm", [x, const(f"W{layer}", w), const(f"b{layer}", b)], f"z{layer}")
        a = f"a{layer}"
        if act == "identity":
            x = z
            continue
        if act in ("step", "leaky_relu") and zero is None:
            zero = const("zero", np.zeros((), dtype))
        if act == "step":  # [z >= 0] as 0/1 in the dtype
            x = node("Cast", [node("GreaterOrEqual", [z, zero], f"{a}_mask")], a, to=elem)
        elif act == "leaky_relu":
            # Where(z > 0, z, slope * z) with the slope in the model's dtype: LeakyRelu's alpha attribute
            # is a float32, which would round a float64 model's slope (0.01 -> 0.0099999998).
            slope = const(f"slope{layer}", np.asarray(model.negative_slope, dtype))
            x = node("Where", [node("Greater", [z, zero], f"{a}_mask"), z,
                               node("Mul", [z, slope], f"{a}_neg")], a)
        else:
            x = node({"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}[act], [z], a)
    if scaling is not None and scaling.get("y_mean") is not None:  # y * std + mean
        x = node("Mul", [x, const("y_std", scaling["y_std"])], "y_scaled")
        x = node("Add", [x, const("y_mean", scaling["y_mean"])], "y_unstandardized")
    kind = _head(model, head)
    if kind == "softmax":  # a classifier's class probabilities, as predict_proba
        x = node("Softmax", [x], "probabilities", axis=1)
    elif kind == "sigmoid":  # binary or multi-label probabilities
        x = node("Sigmoid", [x], "probabilities")
    nodes.append(helper.make_node("Identity", [x], [output_name], name=output_name))
    graph = helper.make_graph(
        nodes, "fastmlp_mlp",
        [helper.make_tensor_value_info(input_name, elem, ["n", model.sizes[0]])],
        [helper.make_tensor_value_info(output_name, elem, ["n", model.sizes[-1]])],
        initializer=inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="fastmlp", doc_string=repr(model))
    proto.ir_version = IR_VERSION
    meta = {"sizes": json.dumps(model.sizes), "activations": json.dumps(model.activations),
            "output": "probabilities" if kind else "predictions"}
    if model.feature_names is not None:
        meta["feature_names"] = json.dumps(model.feature_names)
    if model.target_names is not None:
        meta["target_names"] = json.dumps(model.target_names)
    helper.set_model_props(proto, meta)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def to_onnx(model, path, *, opset=OPSET, input_name="input", output_name="output", head="auto"):
    """Write `model` to `path` as an ONNX file; returns the path. See MLP.to_onnx."""
    onnx = _require_onnx()
    proto = build_onnx(model, opset=opset, input_name=input_name, output_name=output_name, head=head)
    path = os.fspath(path)
    onnx.save_model(proto, path)
    return path
