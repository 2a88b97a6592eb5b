"""Export the fitted ranker as ONNX to ``core/data/reranker/ranker.onnx``.

``python -m models.reranker.export [--work-dir DIR]`` reads ``DIR/ranker.json`` and prints the
file's sha256 and size for ``core.registry.ANSWER_RANKER``. The graph is the whole model:
standardise, one weight per feature, sigmoid (float32; a dozen weights need no quantisation).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from core.answer._rank import FEATURES

SHIPPED = Path(__file__).resolve().parents[2] / "core" / "data" / "reranker"
OPSET = 17


def build(model: dict[str, Any]) -> onnx.ModelProto:
    """The ONNX graph of a fitted model."""
    n = len(FEATURES)
    if model["features"] != list(FEATURES):
        raise SystemExit("ranker.json was fitted on other features: train again")
    inits = [
        numpy_helper.from_array(np.asarray(model["mean"], np.float32).reshape(1, n), "mean"),
        numpy_helper.from_array(np.asarray(model["scale"], np.float32).reshape(1, n), "scale"),
        numpy_helper.from_array(np.asarray(model["weights"], np.float32).reshape(n, 1), "w"),
        numpy_helper.from_array(np.asarray(model["bias"], np.float32).reshape(1), "b"),
        numpy_helper.from_array(np.asarray([-1], np.int64), "flat"),
    ]
    nodes = [
        helper.make_node("Sub", ["features", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "scale"], ["z"]),
        helper.make_node("MatMul", ["z", "w"], ["logit2d"]),
        helper.make_node("Add", ["logit2d", "b"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["p2d"]),
        helper.make_node("Reshape", ["p2d", "flat"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes,
        "answer_evidence_ranker",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["n", n])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["n"])],
        inits,
    )
    out = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    out.ir_version = 8
    out.producer_name = "mediamind models.reranker"
    onnx.checker.check_model(out)
    return out


def main() -> None:
    """Write the ONNX file and its metrics; print sha256 and size."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work-dir", default="build/reranker")
    args = parser.parse_args()
    model = json.loads((Path(args.work_dir) / "ranker.json").read_text())
    SHIPPED.mkdir(parents=True, exist_ok=True)
    path = SHIPPED / "ranker.onnx"
    path.write_bytes(build(model).SerializeToString())
    (SHIPPED / "train.json").write_text(json.dumps(model, indent=2) + "\n")
    data = path.read_bytes()
    print(f"{path}: sha256 {hashlib.sha256(data).hexdigest()} size {len(data)}")


if __name__ == "__main__":
    main()
