"""Annotation: tags per item (summary, topics, mood, entities, safety) with human review.

The small public API (the CLI and the GUI's review panel use only this):

* :func:`annotate` (generator of :class:`AnnotateEvent`) and :class:`Annotator`;
* :func:`item_tags` -> :class:`ItemTags` (``to_json()`` is ``mediamind tags --json``);
* :func:`review_queue` -> list of :class:`ReviewTask`; :func:`record_review`,
  :func:`undo_review` (takes back the last decision; :func:`get_tag` reads a tag);
* :func:`quality_report` -> :class:`QualityReport`.

The fixed vocabularies live in :mod:`core.taxonomy`.
"""

from __future__ import annotations

from core.annotate.annotator import (
    AnnotateEvent,
    AnnotateSettings,
    Annotator,
    annotate,
    prompt_version,
    rescore_topics,
)
from core.annotate.review import (
    QualityReport,
    ReviewTask,
    TypeQuality,
    quality_report,
    record_review,
    review_queue,
    undo_review,
)
from core.annotate.store import ItemTags, Tag, get_tag, item_tags
from core.taxonomy import ENTITY_TYPES, MOODS, RATINGS, SAFETY_REASONS, TOPICS

__all__ = [
    "ENTITY_TYPES",
    "MOODS",
    "RATINGS",
    "SAFETY_REASONS",
    "TOPICS",
    "AnnotateEvent",
    "AnnotateSettings",
    "Annotator",
    "ItemTags",
    "QualityReport",
    "ReviewTask",
    "Tag",
    "TypeQuality",
    "annotate",
    "get_tag",
    "item_tags",
    "prompt_version",
    "quality_report",
    "record_review",
    "rescore_topics",
    "review_queue",
    "undo_review",
]
