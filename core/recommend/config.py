"""The JSON config of an exported next-item recommender.

``models/recsys/export.py`` writes it with :class:`RecommenderConfig` and
:mod:`core.recommend.scorer` reads it with the same class, so the two sides cannot drift apart.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from core.errors import ModelError

CONFIG_FILENAME = "config.json"
FORMAT_VERSION = 1

IntentKind = Literal["multilabel", "binary"]


@dataclass(frozen=True)
class IntentSpec:
    """One intent head of the model.

    Attributes:
        name: Output suffix; the encoder output is ``intent_<name>``.
        kind: ``multilabel`` (independent sigmoid per value) or ``binary`` (one sigmoid, the
            probability of ``values[1]``).
        values: Names of the values (genre names, or the negative and positive class).
        definition: How the label of the next event is derived; the ground truth that training
            and evaluation both use.
    """

    name: str
    kind: IntentKind
    values: tuple[str, ...]
    definition: str

    @property
    def width(self) -> int:
        """Number of probabilities the encoder outputs for this intent."""
        return len(self.values) if self.kind == "multilabel" else 1


@dataclass(frozen=True)
class RecommenderConfig:
    """Everything the runtime needs to feed, run and interpret the two exported graphs.

    Attributes:
        name: Model name, e.g. ``fm-intent-ml100k``.
        encoder_file: ONNX user-state encoder (event sequence -> state, intents, intent embedding).
        scorer_file: ONNX scorer (state, intent embedding, item representations -> scores).
        items_file: ``.npz`` with ``ids`` (str, row order of the item table), ``id_row`` (int64
            row of each item in the trained id embedding, 0 = unknown), ``table`` (float32
            [n_items, d_model] item representations used for ranking and as encoder input),
            ``content`` (float32 [n_items, content_dim]), and the content projection
            ``content_weight`` [content_dim, d_model], ``content_bias`` [d_model], ``unknown_row``
            [d_model] that turns a content vector of an item without a trained id into a
            representation (``unknown_row + content @ content_weight + content_bias``).
        d_model: Width of states and item representations.
        content_dim: Width of an item content vector (128 for the ML-100K featurisation, 384 for
            MiniLM text embeddings in the app).
        max_len: Longest history the encoder was trained on; older events are dropped.
        n_id_rows: Rows of the trained id embedding (row 0 is the "unknown id" row).
        n_hours: Vocabulary of the hour-of-day input (24).
        n_weekdays: Vocabulary of the day-of-week input (7, Monday = 0).
        n_gap_buckets: Vocabulary of the log2-bucketed gap since the previous event.
        n_engagement_buckets: Vocabulary of the engagement input (0 = unknown).
        engagement_definition: How an engagement bucket is derived from an event.
        time_zone: Time zone used for hour and weekday (UTC for the shipped model).
        encoder_inputs: Input names of the encoder, in order.
        encoder_outputs: Output names of the encoder, in order.
        scorer_inputs: Input names of the scorer, in order.
        scorer_outputs: Output names of the scorer, in order.
        intents: The intent heads, in output order.
        quantization: How the shipped graphs were quantized.
        seed: Seed of the training run and of the cold-item draw.
        cold_items: External ids withheld from training (known to the model by content only).
        cold_offset: Added to the score of every item without a trained id row (``id_row`` 0,
            and items scored by content): the prior that puts content-only items on the scale
            of items whose id rows also carry their popularity, chosen on validation.
        metrics: Metrics measured on the exported graphs, name -> value.
        format_version: Bumped when a field changes meaning.
    """

    name: str
    encoder_file: str
    scorer_file: str
    items_file: str
    d_model: int
    content_dim: int
    max_len: int
    n_id_rows: int
    n_hours: int
    n_weekdays: int
    n_gap_buckets: int
    n_engagement_buckets: int
    engagement_definition: str
    time_zone: str
    encoder_inputs: tuple[str, ...]
    encoder_outputs: tuple[str, ...]
    scorer_inputs: tuple[str, ...]
    scorer_outputs: tuple[str, ...]
    intents: tuple[IntentSpec, ...]
    quantization: str
    seed: int
    cold_items: tuple[str, ...] = ()
    cold_offset: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (tuples become lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> RecommenderConfig:
        """Build a config from its JSON form.

        Args:
            data: Parsed JSON object.
            source: Where it came from, named in error messages.

        Returns:
            The config.

        Raises:
            ModelError: A field is missing or unknown, or the format version is newer.
        """
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ModelError(
                f"{source}: unknown recommender config fields {unknown}.",
                fix="Re-export the model with the MediaMind version that loads it.",
            )
        version = data.get("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise ModelError(
                f"{source}: recommender config format {version}, this MediaMind reads "
                f"{FORMAT_VERSION}.",
                fix="Re-export the model with `python -m models.recsys.export`.",
            )
        try:
            intents = tuple(
                IntentSpec(
                    name=str(i["name"]),
                    kind=i["kind"],
                    values=tuple(str(v) for v in i["values"]),
                    definition=str(i["definition"]),
                )
                for i in data["intents"]
            )
            kwargs: dict[str, Any] = dict(data)
            kwargs["intents"] = intents
            for key in (
                "encoder_inputs",
                "encoder_outputs",
                "scorer_inputs",
                "scorer_outputs",
                "cold_items",
            ):
                if key in kwargs:
                    kwargs[key] = tuple(str(v) for v in kwargs[key])
            kwargs["metrics"] = {str(k): float(v) for k, v in kwargs.get("metrics", {}).items()}
            config = cls(**kwargs)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(
                f"{source}: recommender config is incomplete or malformed ({exc}).",
                fix="Re-export the model with `python -m models.recsys.export`.",
            ) from exc
        for intent in config.intents:
            if intent.kind not in ("multilabel", "binary"):
                raise ModelError(
                    f"{source}: intent {intent.name!r} has unknown kind {intent.kind!r}.",
                    fix="Re-export the model with `python -m models.recsys.export`.",
                )
        return config

    def save(self, directory: Path) -> Path:
        """Write ``config.json`` into ``directory``.

        Args:
            directory: The model directory.

        Returns:
            The path written.
        """
        path = directory / CONFIG_FILENAME
        metrics = {k: v for k, v in self.metrics.items() if math.isfinite(v)}
        data = self.to_dict() | {"metrics": metrics}
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: Path) -> RecommenderConfig:
        """Read ``config.json`` from a model directory.

        Args:
            directory: The model directory.

        Returns:
            The config.

        Raises:
            ModelError: The file is missing, not JSON or not a recommender config.
        """
        path = directory / CONFIG_FILENAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ModelError(
                f"Recommender config {path} does not exist.",
                fix="Point to a directory written by `python -m models.recsys.export`.",
            ) from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(
                f"Recommender config {path} cannot be read ({exc}).",
                fix="Restore the file or re-export the model with "
                "`python -m models.recsys.export`.",
            ) from exc
        if not isinstance(data, dict):
            raise ModelError(
                f"Recommender config {path} is not a JSON object.",
                fix="Re-export the model with `python -m models.recsys.export`.",
            )
        return cls.from_dict(data, source=str(path))
