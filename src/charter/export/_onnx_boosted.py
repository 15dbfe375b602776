"""The boosted candidate as one ONNX graph: its inputs by feature name, category codes inside.

Each feature is an input of shape [N, 1] named as the column: categories as text, numbers and
dates (days since 1970-01-01) as float64. A category becomes the code LightGBM learned with a
LabelEncoder holding the training categories, as text and as the service matches them (true and
false in any spelling); anything else, the empty text included, becomes missing, as charter
reads unseen categories; the columns are joined in the booster's order and
go through the trees (`_onnx_trees`), then the sigmoid for a classifier. The graph's output
`score` [N] is the booster's prediction: the probability of the positive class, or the value.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from charter.errors import UsageError
from charter.export._onnx_trees import ML_OPSET, tree_ensemble
from charter.modeling._boosted import BoostedCandidate
from charter.serving._scorer import _key

__all__ = ["OPSET", "SCORE", "boosted_graph"]

OPSET = 21
SCORE = "score"
_SIGMOID = re.compile(r"sigmoid:([0-9.eE+-]+)")


def boosted_graph(candidate: BoostedCandidate) -> onnx.ModelProto:
    """The ONNX model of a fitted boosted candidate (see the module docstring)."""
    if candidate.booster_ is None:
        raise UsageError(f"candidate {candidate.name!r} is not fitted; nothing to export.")
    dump = candidate.booster_.dump_model()
    objective = str(dump.get("objective", ""))
    if not objective.startswith(("binary", "regression")):
        raise UsageError(
            f"the booster's objective is {objective!r}; charter exports binary and regression "
            "boosters only."
        )
    inputs: list[onnx.ValueInfoProto] = []
    nodes: list[onnx.NodeProto] = []
    columns: list[str] = []
    for position, feature in enumerate(candidate.features_):
        categories = candidate.categories_.get(feature)
        if categories is None:
            inputs.append(helper.make_tensor_value_info(feature, TensorProto.DOUBLE, [None, 1]))
            columns.append(feature)
            continue
        inputs.append(helper.make_tensor_value_info(feature, TensorProto.STRING, [None, 1]))
        codes = _codes(categories)
        coded, as_double = f"code_{position}", f"code_{position}_double"
        nodes.append(
            helper.make_node(
                "LabelEncoder",
                [feature],
                [coded],
                domain="ai.onnx.ml",
                name=f"categories_{position}",
                keys_strings=list(codes),
                values_floats=list(codes.values()),
                default_float=math.nan,
            )
        )
        nodes.append(helper.make_node("Cast", [coded], [as_double], to=TensorProto.DOUBLE))
        columns.append(as_double)
    nodes.append(helper.make_node("Concat", columns, ["features"], axis=1, name="features"))
    nodes.append(tree_ensemble(dump, inputs="features", output="raw"))
    initializers = [numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat")]
    raw = "raw"
    if objective.startswith("binary"):
        found = _SIGMOID.search(objective)
        slope = float(found.group(1)) if found else 1.0
        if slope != 1.0:
            initializers.append(numpy_helper.from_array(np.array(slope), "slope"))
            nodes.append(helper.make_node("Mul", ["raw", "slope"], ["raw_scaled"]))
            raw = "raw_scaled"
        nodes.append(helper.make_node("Sigmoid", [raw], ["probability"]))
        raw = "probability"
    nodes.append(helper.make_node("Reshape", [raw, "flat"], [SCORE], name="score"))
    graph = helper.make_graph(
        nodes,
        f"charter_{candidate.name}",
        inputs,
        [helper.make_tensor_value_info(SCORE, TensorProto.DOUBLE, [None])],
        initializer=initializers,
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="charter",
    )


def _codes(categories: list[Any]) -> dict[str, float]:
    """Text -> LightGBM's code for a column's training categories: each as charter reads it
    (`str`) and as the service matches it (`_key`), the first spelling winning."""
    codes: dict[str, float] = {}
    for code, value in enumerate(categories):
        for text in (str(value), _key(value)):
            codes.setdefault(text, float(code))
    return codes
