"""The simple candidate (its scikit-learn pipeline) as one ONNX graph, by skl2onnx, in float64.

Each feature is an input of shape [N, 1] named as the column: categories as text (the empty
text for a missing one), numbers and dates (days since 1970-01-01) as float64 (NaN for a missing
one). skl2onnx converts the column transformer, the scaler and the linear model. Charter's
imputers and one-hot encoders it cannot (measured with skl2onnx 1.20): its SimpleImputer
converter has no missing-value indicator, imputes in float32 only and takes text missing values
only as text; its OneHotEncoder converter refuses infrequent categories after an imputer and
fails on unseen ones. Converters for these two are passed to skl2onnx for this conversion alone
(nothing is registered globally): missing values take the imputer's statistics (and its 0/1
indicators), rare and unseen categories the encoder's "infrequent" column. The graph's output
`score` [N] is the pipeline's prediction: the probability of the positive class, or the value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder

from charter.errors import UsageError
from charter.modeling._simple import SimpleCandidate

__all__ = ["OPSET", "SCORE", "linear_graph"]

OPSET = 21
SCORE = "score"
MISSING_TEXT = ""
"""How a missing category arrives in the graph: ONNX text tensors hold no nulls."""


def linear_graph(candidate: SimpleCandidate, feature_types: dict[str, str]) -> onnx.ModelProto:
    """The ONNX model of a fitted simple candidate (see the module docstring)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType

    pipeline = candidate.pipeline_
    if pipeline is None:
        raise UsageError(f"candidate {candidate.name!r} is not fitted; nothing to export.")
    inputs = [
        (
            feature,
            StringTensorType([None, 1])
            if feature_types.get(feature) == "category"
            else DoubleTensorType([None, 1]),
        )
        for feature in candidate.features_
    ]
    model = pipeline.named_steps["model"]
    classifier = isinstance(model, LogisticRegression)
    try:
        converted = convert_sklearn(
            pipeline,
            initial_types=inputs,
            target_opset={"": OPSET, "ai.onnx.ml": 3},
            options={id(model): {"zipmap": False}} if classifier else None,
            custom_shape_calculators={
                SimpleImputer: _imputer_shape,
                OneHotEncoder: _one_hot_shape,
            },
            custom_conversion_functions={
                SimpleImputer: _convert_imputer,
                OneHotEncoder: _convert_one_hot,
            },
        )
    except (RuntimeError, NotImplementedError, ValueError) as exc:
        raise UsageError(
            f"skl2onnx could not convert {candidate.name!r}'s pipeline: {exc}"
        ) from exc
    positive = list(model.classes_).index(1) if classifier else None
    return _scored(converted, positive)


def _scored(model: onnx.ModelProto, positive: int | None) -> onnx.ModelProto:
    """The converted model with one output, `score` [N]: the positive class's probability (from
    `probabilities` [N, 2]) or the prediction (from `variable` [N, 1])."""
    graph = model.graph
    if positive is not None:
        graph.initializer.append(numpy_helper.from_array(np.array(positive, np.int64), "positive"))
        graph.node.append(
            helper.make_node("Gather", ["probabilities", "positive"], [SCORE], axis=1, name=SCORE)
        )
    else:
        graph.initializer.append(numpy_helper.from_array(np.array([-1], np.int64), "flat"))
        graph.node.append(helper.make_node("Reshape", ["variable", "flat"], [SCORE], name=SCORE))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(SCORE, TensorProto.DOUBLE, [None]))
    return model


def _imputer_shape(operator: Any) -> None:
    """[N, C] in (text or float64) -> [N, C + indicators] of the same type."""
    imputer: SimpleImputer = operator.raw_operator
    width = sum(int(v.type.shape[1]) for v in operator.inputs)
    first = operator.inputs[0].type
    operator.outputs[0].type = type(first)([first.shape[0], width + _indicated(imputer).size])


def _convert_imputer(scope: Any, operator: Any, container: Any) -> None:
    """A fitted SimpleImputer: missing values (NaN, or the empty text) replaced by its statistics,
    then its missing-value indicators as 0/1 columns."""
    from skl2onnx.common.data_types import StringTensorType

    imputer: SimpleImputer = operator.raw_operator
    names = [v.full_name for v in operator.inputs]
    joined = scope.get_unique_variable_name("imputer_in")
    container.add_node(
        "Concat", names, [joined], axis=1, name=scope.get_unique_operator_name("Concat")
    )
    missing = scope.get_unique_variable_name("missing")
    statistics = scope.get_unique_variable_name("statistics")
    filled = scope.get_unique_variable_name("filled")
    if isinstance(operator.inputs[0].type, StringTensorType):
        keys = [MISSING_TEXT]
        if isinstance(imputer.missing_values, str) and imputer.missing_values != MISSING_TEXT:
            keys.append(imputer.missing_values)
        flags = scope.get_unique_variable_name("missing_codes")
        container.add_node(
            "LabelEncoder",
            [joined],
            [flags],
            op_domain="ai.onnx.ml",
            op_version=2,
            keys_strings=keys,
            values_int64s=[1] * len(keys),
            default_int64=0,
            name=scope.get_unique_operator_name("LabelEncoder"),
        )
        container.add_node("Cast", [flags], [missing], to=TensorProto.BOOL)
        values = [str(v) for v in imputer.statistics_]
        container.add_initializer(statistics, TensorProto.STRING, [len(values)], values)
    else:
        if not (isinstance(imputer.missing_values, float) and np.isnan(imputer.missing_values)):
            raise RuntimeError(
                f"charter exports imputers of NaN only, not of {imputer.missing_values!r}."
            )
        container.add_node("IsNaN", [joined], [missing])
        # keep_empty_features: a column empty in training is imputed with 0
        numbers = np.nan_to_num(np.asarray(imputer.statistics_, dtype=np.float64), nan=0.0)
        container.add_initializer(statistics, TensorProto.DOUBLE, [numbers.size], numbers.tolist())
    indicated = _indicated(imputer)
    target = operator.outputs[0].full_name if indicated.size == 0 else filled
    container.add_node("Where", [missing, statistics, joined], [target])
    if indicated.size:
        columns = scope.get_unique_variable_name("indicated_columns")
        picked = scope.get_unique_variable_name("indicated")
        as_numbers = scope.get_unique_variable_name("indicators")
        container.add_initializer(columns, TensorProto.INT64, [indicated.size], indicated.tolist())
        container.add_node("Gather", [missing, columns], [picked], axis=1)
        container.add_node("Cast", [picked], [as_numbers], to=TensorProto.DOUBLE)
        container.add_node("Concat", [filled, as_numbers], [operator.outputs[0].full_name], axis=1)


def _indicated(imputer: SimpleImputer) -> np.ndarray:
    """The columns the imputer adds a missing-value indicator for (none without add_indicator)."""
    indicator = getattr(imputer, "indicator_", None)
    if not imputer.add_indicator or indicator is None:
        return np.array([], dtype=np.int64)
    return np.asarray(indicator.features_, dtype=np.int64)


def _one_hot_shape(operator: Any) -> None:
    """[N, C] text -> [N, one column per category kept] float64."""
    from skl2onnx.common.data_types import DoubleTensorType

    encoder: OneHotEncoder = operator.raw_operator
    width = sum(len(_kept(encoder, i)) for i in range(len(encoder.categories_)))
    operator.outputs[0].type = DoubleTensorType([operator.inputs[0].type.shape[0], width])


def _convert_one_hot(scope: Any, operator: Any, container: Any) -> None:
    """A fitted OneHotEncoder of text: per column, a code per category kept (rare ones share the
    "infrequent" column, which unseen ones join under handle_unknown="infrequent_if_exist"; with
    no such column they give all zeros), compared with every code."""
    encoder: OneHotEncoder = operator.raw_operator
    if encoder.drop is not None:
        raise RuntimeError("charter exports one-hot encoders without drop only.")
    names = [v.full_name for v in operator.inputs]
    joined = scope.get_unique_variable_name("one_hot_in")
    container.add_node(
        "Concat", names, [joined], axis=1, name=scope.get_unique_operator_name("Concat")
    )
    blocks = []
    for i in range(len(encoder.categories_)):
        kept = _kept(encoder, i)
        frequent = [c for c in kept if c != _INFREQUENT]
        codes = {str(c): k for k, c in enumerate(frequent)}
        infrequent = len(kept) > len(frequent)
        if infrequent:
            codes.update({str(c): len(frequent) for c in encoder.infrequent_categories_[i]})
        unseen = (
            len(frequent) if infrequent and encoder.handle_unknown == "infrequent_if_exist" else -1
        )
        position = scope.get_unique_variable_name(f"one_hot_position_{i}")
        column = scope.get_unique_variable_name(f"one_hot_column_{i}")
        coded = scope.get_unique_variable_name(f"one_hot_code_{i}")
        every = scope.get_unique_variable_name(f"one_hot_codes_{i}")
        equal = scope.get_unique_variable_name(f"one_hot_equal_{i}")
        block = scope.get_unique_variable_name(f"one_hot_{i}")
        container.add_initializer(position, TensorProto.INT64, [1], [i])
        container.add_node("Gather", [joined, position], [column], axis=1)
        container.add_node(
            "LabelEncoder",
            [column],
            [coded],
            op_domain="ai.onnx.ml",
            op_version=2,
            keys_strings=list(codes),
            values_int64s=list(codes.values()),
            default_int64=unseen,
            name=scope.get_unique_operator_name("LabelEncoder"),
        )
        container.add_initializer(every, TensorProto.INT64, [len(kept)], list(range(len(kept))))
        container.add_node("Equal", [coded, every], [equal])
        container.add_node("Cast", [equal], [block], to=TensorProto.DOUBLE)
        blocks.append(block)
    container.add_node("Concat", blocks, [operator.outputs[0].full_name], axis=1)


_INFREQUENT = "infrequent_sklearn"


def _kept(encoder: OneHotEncoder, index: int) -> list[Any]:
    """The output columns of one input column: frequent categories, then "infrequent_sklearn"."""
    return list(encoder._compute_transformed_categories(index))
