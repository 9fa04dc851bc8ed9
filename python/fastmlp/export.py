"""ONNX export: an MLP as an ONNX graph that serving stacks (onnxruntime, TensorRT, OpenVINO...) load.

The graph is built with the `onnx` package's helpers (the optional extra `fastmlp[onnx]`), at opset 17
(IR version 8), which onnxruntime has run since 1.13. It computes exactly what `MLP.predict` does:
standardize the inputs when the model carries statistics, then per layer a Gemm (x @ W + b) and the
activation, then scale the outputs back, then the head: a classifier's softmax or sigmoid, or the Exp
of a model fitted with a log-link loss (poisson). Every op is in the model's dtype (float or double).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from . import activations, persist, reference
from .losses import HEADS, MEAN_FUNCTIONS

if TYPE_CHECKING:
    import onnx

    from .model import MLP

__all__ = ["to_onnx", "OPSET", "IR_VERSION"]

#: The ONNX opset the graph is built at unless another is asked for.
#:
#: 17: onnxruntime has run it since 1.13.
OPSET = 17
#: The ONNX IR version written into the file (8).
IR_VERSION = 8


def _require_onnx() -> ModuleType:
    try:
        import onnx
    except ImportError:
        raise ImportError('ONNX export needs the onnx package: pip install "fastmlp[onnx]"') from None
    return onnx


def _head(model: MLP, head: str | None) -> str | None:
    """None, "softmax", "sigmoid" or "exp": what follows the network's outputs in the exported graph."""
    if head == "auto":
        loss: str | None = getattr(model, "classification_loss", None)
        link: str | None = getattr(model, "link_loss", None)
        return (None if loss is None else HEADS.get(loss)) or (None if link is None else MEAN_FUNCTIONS.get(link))
    if head in (None, "logits"):
        return None
    if head not in ("softmax", "sigmoid"):
        raise ValueError(f"head must be 'auto', 'softmax', 'sigmoid' or 'logits' (None), got {head!r}")
    return head


def _activation(
    act: str,
    z: str,
    a: str,
    negative_slope: float,
    dtype: np.dtype[Any],
    elem: int,
    node: Callable[..., str],
    const: Callable[[str, ArrayLike], str],
) -> str:
    """The nodes of activation `act` on tensor z, named after a; returns its output's name. Constants
    are in the model's dtype (an attribute such as LeakyRelu's alpha is a float32, which would round
    a float64 model's slope). Composed from elementwise ops where onnxruntime has no float64 kernel
    of the operator itself (Elu, Selu, Softplus, Gelu) or where torch's form differs (softplus'
    threshold). GELU's exact form needs Erf, which onnxruntime runs in float32 only (a float64 graph
    is valid ONNX and runs in onnx.reference)."""
    kind, given = activations.base(act), activations.params(act)
    p = {**activations.TABLE[kind]["params"], **given}
    if kind == "leaky_relu" and "negative_slope" not in given:
        p["negative_slope"] = negative_slope

    def c(name: str, value: float) -> str:
        return const(f"{a}_{name}", np.asarray(value, dtype))

    def mul(u: str, v: str, name: str) -> str:
        return node("Mul", [u, v], f"{a}_{name}")

    if kind == "identity":
        return z
    if kind == "step":  # [z >= 0] as 0/1 in the dtype
        return node("Cast", [node("GreaterOrEqual", [z, c("zero", 0.0)], f"{a}_mask")], a, to=elem)
    if kind == "leaky_relu":  # Where(z > 0, z, slope * z)
        return node(
            "Where",
            [node("Greater", [z, c("zero", 0.0)], f"{a}_mask"), z, mul(z, c("slope", p["negative_slope"]), "neg")],
            a,
        )
    if kind == "gelu":  # 0.5 z (1 + erf(z / sqrt 2))
        e = node("Erf", [mul(z, c("sqrt_half", 0.7071067811865476), "scaled")], f"{a}_erf")
        return node("Mul", [mul(z, c("half", 0.5), "half_z"), node("Add", [e, c("one", 1.0)], f"{a}_erf1")], a)
    if kind == "gelu_tanh":  # 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))
        cube = mul(mul(z, z, "z2"), z, "z3")
        inner = node("Add", [z, mul(cube, c("cubic", 0.044715), "cubic_term")], f"{a}_inner")
        t = node("Tanh", [mul(inner, c("sqrt_2_pi", 0.7978845608028654), "u")], f"{a}_tanh")
        return node("Mul", [mul(z, c("half", 0.5), "half_z"), node("Add", [t, c("one", 1.0)], f"{a}_t1")], a)
    if kind == "silu":  # z sigmoid(z)
        return node("Mul", [z, node("Sigmoid", [z], f"{a}_sigmoid")], a)
    if kind in ("elu", "selu"):  # Where(z > 0, z, alpha (e^z - 1)), SELU's times its scale
        alpha, scale = (p["alpha"], None) if kind == "elu" else (reference.SELU_ALPHA, reference.SELU_SCALE)
        neg = mul(node("Sub", [node("Exp", [z], f"{a}_exp"), c("one", 1.0)], f"{a}_expm1"), c("alpha", alpha), "neg")
        out = node(
            "Where", [node("Greater", [z, c("zero", 0.0)], f"{a}_mask"), z, neg], a if scale is None else f"{a}_elu"
        )
        return out if scale is None else node("Mul", [out, c("scale", scale)], a)
    if kind == "softplus":  # (max(u, 0) + log(1 + e^-|u|)) / beta, u = beta z; z itself where u > threshold
        u = mul(z, c("beta", p["beta"]), "u")
        soft = node(
            "Add",
            [
                node("Max", [u, c("zero", 0.0)], f"{a}_relu"),
                node(
                    "Log",
                    [
                        node(
                            "Add",
                            [
                                node("Exp", [node("Neg", [node("Abs", [u], f"{a}_abs")], f"{a}_negabs")], f"{a}_exp"),
                                c("one", 1.0),
                            ],
                            f"{a}_1p",
                        )
                    ],
                    f"{a}_log",
                ),
            ],
            f"{a}_sum",
        )
        soft = node("Div", [soft, c("beta_div", p["beta"])], f"{a}_soft")
        return node("Where", [node("Greater", [u, c("threshold", p["threshold"])], f"{a}_linear"), z, soft], a)
    onnx_op = activations.TABLE[kind]["onnx"]
    if not onnx_op:
        raise ValueError(f"activation {act!r} has no ONNX export")
    return node(onnx_op, [z], a)


def build_onnx(
    model: MLP,
    *,
    opset: int = OPSET,
    input_name: str = "input",
    output_name: str = "output",
    head: str | None = "auto",
    inputs: str = "columns",
) -> onnx.ModelProto:
    """The model as an onnx.ModelProto (see the module text); `to_onnx` writes it to a file.

    Takes the arguments of `to_onnx` but the path; the graph is checked by onnx.checker (full check)
    before it is returned.
    """
    onnx = _require_onnx()
    from onnx import TensorProto, helper, numpy_helper

    if isinstance(opset, bool) or not isinstance(opset, int) or not 13 <= opset <= onnx.defs.onnx_opset_version():
        raise ValueError(f"opset must be an int in [13, {onnx.defs.onnx_opset_version()}], got {opset!r}")
    if inputs not in ("columns", "encoded"):
        raise ValueError(f"inputs must be 'columns' or 'encoded', got {inputs!r}")
    for what, name in (("input_name", input_name), ("output_name", output_name)):
        if not isinstance(name, str) or not name:
            raise ValueError(f"{what} must be a non-empty str, got {name!r}")
    dtype = model.dtype
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    nodes: list[Any] = []  # onnx.NodeProto
    inits: list[Any] = []  # onnx.TensorProto

    def const(name: str, value: ArrayLike) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=dtype), name))
        return name

    def const_bool(name: str, value: ArrayLike) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=bool), name))
        return name

    def node(op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    x = input_name
    prep = getattr(model, "preprocessing", None)
    if prep is not None and inputs == "columns":
        categorical = [c["name"] for c in prep.columns if c["kind"] == "categorical"]
        if categorical:
            raise ValueError(
                f"the model one-hot encodes the column(s) {', '.join(map(repr, categorical))}, and "
                f"a graph of raw columns would have to take text, which ONNX's standard operators "
                f"cannot encode (that is the ai.onnx.ml domain, which not every runtime has); export "
                f"with inputs='encoded' "
                f"(fastmlp export --inputs encoded): the graph then takes the encoded matrix, which "
                f"model.preprocessing.transform(table) gives"
            )
        fills = [c["fill"] for c in prep.columns]
        if any(f is not None for f in fills):  # a missing cell (NaN) takes its column's fill value
            fill = np.array([np.nan if f is None else f for f in fills])
            missing = node("IsNaN", [x], "input_missing")
            if np.isnan(fill).any():  # columns without a fill keep their NaN (predict refuses it)
                fill = np.where(np.isnan(fill), 0.0, fill)
                keep = np.array([f is not None for f in fills])
                missing = node("And", [missing, const_bool("fill_columns", keep)], "input_filled")
            x = node("Where", [missing, const("fill_values", fill), x], "input_imputed")
    scaling = model.standardization or {}
    x_mean, x_std = scaling.get("x_mean"), scaling.get("x_std")
    y_mean, y_std = scaling.get("y_mean"), scaling.get("y_std")
    if x_mean is not None and x_std is not None:  # (x - mean) / std, in the order and dtype predict uses
        x = node("Sub", [x, const("x_mean", x_mean)], "x_centered")
        x = node("Div", [x, const("x_std", x_std)], "x_standardized")
    for layer, (w, b, act) in enumerate(zip(model.weights, model.biases, model.activations)):
        z = node("Gemm", [x, const(f"W{layer}", w), const(f"b{layer}", b)], f"z{layer}")
        x = _activation(act, z, f"a{layer}", model.negative_slope, dtype, elem, node, const)
    if y_mean is not None and y_std is not None:  # y * std + mean
        x = node("Mul", [x, const("y_std", y_std)], "y_scaled")
        x = node("Add", [x, const("y_mean", y_mean)], "y_unstandardized")
    kind = _head(model, head)
    if kind == "softmax":  # a classifier's class probabilities, as predict_proba
        x = node("Softmax", [x], "probabilities", axis=1)
    elif kind == "sigmoid":  # binary or multi-label probabilities
        x = node("Sigmoid", [x], "probabilities")
    elif kind == "exp":  # a log-link model's predictions (predict's float64 exp rounded to float may
        x = node("Exp", [x], "predictions")  # differ from a runtime's float Exp by an ulp)
    nodes.append(helper.make_node("Identity", [x], [output_name], name=output_name))
    graph = helper.make_graph(
        nodes,
        "fastmlp_mlp",
        [helper.make_tensor_value_info(input_name, elem, ["n", model.sizes[0]])],
        [helper.make_tensor_value_info(output_name, elem, ["n", model.sizes[-1]])],
        initializer=inits,
    )
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="fastmlp", doc_string=repr(model)
    )
    proto.ir_version = IR_VERSION
    link = getattr(model, "link_loss", None)
    # output: what the graph's values are; a log-link model exported with head="logits" gives the
    # log of its predictions (poisson's log-rates).
    output = (
        "probabilities" if kind in ("softmax", "sigmoid") else "log_predictions" if link and not kind else "predictions"
    )
    meta = {"sizes": json.dumps(model.sizes), "activations": json.dumps(model.activations), "output": output}
    if link:
        meta["link_loss"] = link
        meta["mean_function"] = MEAN_FUNCTIONS[link]
    if prep is not None:  # the table columns the input's columns are, in order
        meta["input_columns"] = json.dumps(prep.input_columns if inputs == "columns" else prep.feature_names)
    if model.feature_names is not None:
        meta["feature_names"] = json.dumps(model.feature_names)
    if model.target_names is not None:
        meta["target_names"] = json.dumps(model.target_names)
    helper.set_model_props(proto, meta)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def to_onnx(
    model: MLP,
    path: str | os.PathLike[str],
    *,
    opset: int = OPSET,
    input_name: str = "input",
    output_name: str = "output",
    head: str | None = "auto",
    inputs: str = "columns",
) -> str:
    """Write a model to a file as an ONNX graph that computes its predictions.

    The graph computes what MLP.predict computes (see the module text), with the head and inputs
    described under MLP.to_onnx. The file is written as save writes a model: a failure midway (a full
    disk) leaves the previous file whole.

    Parameters
    ----------
    model : MLP
        The model to export.
    path : str or os.PathLike
        The file to write.
    opset : int, default OPSET
        The ONNX opset, from 13 to the newest the installed onnx package knows.
    input_name : str, default "input"
        The name of the graph's input, (n, sizes[0]).
    output_name : str, default "output"
        The name of the graph's output, (n, sizes[-1]).
    head : {"auto", "softmax", "sigmoid", "logits"} or None, default "auto"
        What the graph outputs after the last layer (see MLP.to_onnx).
    inputs : {"columns", "encoded"}, default "columns"
        For a model with a preprocessing: whether the graph takes the table's columns or the encoded
        matrix (see MLP.to_onnx).

    Returns
    -------
    str
        The path.

    Raises
    ------
    ImportError
        If the onnx package is not installed (pip install "fastmlp[onnx]").
    ValueError
        If an argument is out of its range, an activation has no ONNX export, or the model one-hot
        encodes text columns and inputs="columns".
    OSError
        If the file cannot be written.

    See Also
    --------
    fastmlp.MLP.to_onnx : The same, as a method.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import onnx
    >>> import fastmlp
    >>> from fastmlp import export
    >>> model = fastmlp.MLP([1, 4, 1])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     graph = onnx.load(export.to_onnx(model, os.path.join(folder, "model.onnx")))
    >>> [node.op_type for node in graph.graph.node]
    ['Gemm', 'Relu', 'Gemm', 'Identity']
    >>> graph.opset_import[0].version == export.OPSET
    True
    """
    _require_onnx()
    proto = build_onnx(model, opset=opset, input_name=input_name, output_name=output_name, head=head, inputs=inputs)
    path = os.fspath(path)
    data = proto.SerializeToString()
    # As save writes a model: a failure midway (a full disk) leaves the previous file whole.
    persist.write_atomically(path, lambda f: f.write(data), "write the ONNX model to")
    return path
