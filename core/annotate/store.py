"""Tags in the library database: reading them, replacing an item's machine tags, item views."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.store import Library, utcnow

log = logging.getLogger(__name__)

_TAG_COLUMNS = (
    "id, media_id, type, value, detail, confidence, chunk_ids, model_id, prompt_version, "
    "annotated_at, status, original_value, reviewed_at"
)
GOLD_STATUSES = ("accepted", "edited", "rejected")


@dataclass(frozen=True)
class Tag:
    """One stored tag of an item, with where it came from and whether a person reviewed it.

    Attributes:
        id: Row id (what :func:`core.annotate.record_review` takes).
        media_id: The item.
        type: ``summary``, ``topic``, ``mood``, ``entity`` or ``safety``.
        value: Summary text, topic or mood label, entity name, or rating.
        detail: Entity ``type``; safety ``reasons``.
        confidence: In [0, 1].
        chunk_ids: The chunks that support it.
        model_id: Models that produced it (LLM file identity | embedding model [+head]).
        prompt_version: Version of the prompts, descriptions and lexicon.
        annotated_at: When it was produced (UTC ISO-8601).
        status: ``auto`` (machine) or ``accepted``/``edited``/``rejected`` (gold).
        original_value: The machine's value before an edit.
        reviewed_at: When it was last reviewed.
    """

    id: int
    media_id: int
    type: str
    value: str
    detail: dict[str, Any]
    confidence: float
    chunk_ids: tuple[int, ...]
    model_id: str
    prompt_version: str
    annotated_at: str
    status: str
    original_value: str | None
    reviewed_at: str | None

    @property
    def gold(self) -> bool:
        """Reviewed by a person: annotation never overwrites it."""
        return self.status != "auto"

    @property
    def display(self) -> str:
        """A one-line rendering for the terminal and the review panel."""
        if self.type == "entity":
            return f"{self.value} ({self.detail.get('type', '?')})"
        if self.type == "safety":
            parts = []
            for r in self.detail.get("reasons", []):
                ev = (r.get("evidence") or [None])[0]
                if ev and ev.get("start") is not None:
                    m, sec = divmod(int(ev["start"]), 60)
                    parts.append(f'{r["reason"]}: "{ev["quote"]}" at {m}:{sec:02d}')
                elif ev:
                    parts.append(f'{r["reason"]}: "{ev["quote"]}"')
                else:
                    parts.append(r["reason"])
            return f"{self.value}" + (f" ({'; '.join(parts)})" if parts else "")
        return self.value

    def to_json(self) -> dict[str, Any]:
        """Full provenance of the tag."""
        return {
            "tag_id": self.id,
            "type": self.type,
            "value": self.value,
            "confidence": round(self.confidence, 4),
            "chunk_ids": list(self.chunk_ids),
            "status": self.status,
            "gold": self.gold,
            "original_value": self.original_value,
            "model_id": self.model_id,
            "prompt_version": self.prompt_version,
            "annotated_at": self.annotated_at,
            "reviewed_at": self.reviewed_at,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Tag:
        """Build from a ``tags`` row."""
        return cls(
            id=int(row["id"]),
            media_id=int(row["media_id"]),
            type=str(row["type"]),
            value=str(row["value"]),
            detail=json.loads(row["detail"] or "{}"),
            confidence=float(row["confidence"]),
            chunk_ids=tuple(int(c) for c in json.loads(row["chunk_ids"] or "[]")),
            model_id=str(row["model_id"]),
            prompt_version=str(row["prompt_version"]),
            annotated_at=str(row["annotated_at"]),
            status=str(row["status"]),
            original_value=row["original_value"],
            reviewed_at=row["reviewed_at"],
        )


@dataclass(frozen=True)
class NewTag:
    """A tag the annotator proposes (before it is stored)."""

    type: str
    value: str
    confidence: float
    chunk_ids: Sequence[int] = ()
    detail: dict[str, Any] = field(default_factory=dict)
    model_id: str = ""


@dataclass(frozen=True)
class ItemTags:
    """Everything known about an item's tags: what ``mediamind tags`` shows.

    Rejected tags are kept (they are gold negatives) but are not part of the item's tags.
    """

    media_id: int
    title: str
    tags: tuple[Tag, ...]
    model_id: str | None
    prompt_version: str | None
    annotated_at: str | None
    status: str | None
    error: str | None

    def _live(self, kind: str) -> list[Tag]:
        live = [t for t in self.tags if t.type == kind and t.status != "rejected"]
        # A reviewed tag wins over a machine tag with the same value.
        live.sort(key=lambda t: (not t.gold, -t.confidence, t.id))
        seen: set[str] = set()
        out = []
        for t in live:
            key = t.value.lower()
            if key not in seen:
                seen.add(key)
                out.append(t)
        return out

    def _one(self, kind: str) -> Tag | None:
        live = self._live(kind)
        return live[0] if live else None

    @property
    def summary(self) -> Tag | None:
        """The summary tag."""
        return self._one("summary")

    @property
    def topics(self) -> list[Tag]:
        """Topic tags, reviewed first, then by confidence."""
        return self._live("topic")

    @property
    def mood(self) -> Tag | None:
        """The mood tag."""
        return self._one("mood")

    @property
    def entities(self) -> list[Tag]:
        """Entity tags."""
        return self._live("entity")

    @property
    def safety(self) -> Tag | None:
        """The safety rating tag."""
        return self._one("safety")

    def to_json(self) -> dict[str, Any]:
        """The object ``mediamind tags ID --json`` prints (the issue's contract)."""
        summary, mood, safety = self.summary, self.mood, self.safety
        reviewed = [t for t in self.tags if t.gold]
        return {
            "id": self.media_id,
            "title": self.title,
            "summary": summary.value if summary else None,
            "topics": [
                {"label": t.value, "confidence": round(t.confidence, 4)} for t in self.topics
            ],
            "mood": {"label": mood.value, "confidence": round(mood.confidence, 4)}
            if mood
            else None,
            "entities": [
                {
                    "name": t.value,
                    "type": t.detail.get("type"),
                    "confidence": round(t.confidence, 4),
                }
                for t in self.entities
            ],
            "safety": {
                "rating": safety.value,
                "reasons": list(safety.detail.get("reasons", [])),
                "confidence": round(safety.confidence, 4),
            }
            if safety
            else None,
            "provenance": {
                "model_id": self.model_id,
                "prompt_version": self.prompt_version,
                "annotated_at": self.annotated_at,
                "status": self.status,
                "error": self.error,
                "reviewed": [t.id for t in reviewed],
                "tags": [t.to_json() for t in self.tags],
            },
        }


def tags_of(lib: Library, media_id: int) -> list[Tag]:
    """All stored tags of an item (including rejected ones), by id."""
    rows = lib.db.query(
        f"SELECT {_TAG_COLUMNS} FROM tags WHERE media_id=? ORDER BY id", (media_id,)
    )
    return [Tag.from_row(r) for r in rows]


def get_tag(lib: Library, tag_id: int) -> Tag | None:
    """One tag by id, or None."""
    row = lib.db.query_one(f"SELECT {_TAG_COLUMNS} FROM tags WHERE id=?", (tag_id,))
    return Tag.from_row(row) if row else None


def item_tags(lib: Library, item_id: int) -> ItemTags:
    """The tags of one item with their provenance.

    Raises:
        NotFoundError: There is no such item.
    """
    item = lib.get_item(item_id)
    ann = lib.db.query_one(
        "SELECT model_id, prompt_version, annotated_at, status, error FROM annotations "
        "WHERE media_id=?",
        (item_id,),
    )
    return ItemTags(
        media_id=item.id,
        title=item.title,
        tags=tuple(tags_of(lib, item_id)),
        model_id=ann["model_id"] if ann else None,
        prompt_version=ann["prompt_version"] if ann else None,
        annotated_at=ann["annotated_at"] if ann else None,
        status=ann["status"] if ann else None,
        error=ann["error"] if ann else None,
    )


def _blocked(gold: Sequence[Tag], kind: str) -> tuple[bool, set[str]]:
    """For one tag type: whether a reviewed value exists, and the values a reviewer ruled on.

    Single-valued types (summary, mood, safety) are closed once a reviewer accepted or edited
    one; for every type, no machine tag may repeat a value a reviewer accepted, edited from,
    edited to or rejected.
    """
    mine = [t for t in gold if t.type == kind]
    settled = any(t.status in ("accepted", "edited") for t in mine)
    values = {t.value.lower() for t in mine} | {
        t.original_value.lower() for t in mine if t.original_value
    }
    return settled, values


def replace_machine_tags(
    lib: Library,
    media_id: int,
    tags: Sequence[NewTag],
    *,
    prompt_version: str,
    run_id: int | None,
    annotated_at: str | None = None,
) -> int:
    """Swap an item's machine tags for ``tags``; reviewed (gold) tags are never touched.

    Call inside the caller's transaction (it opens a nested one). Returns how many were stored.
    """
    now = annotated_at or utcnow()
    gold = [t for t in tags_of(lib, media_id) if t.gold]
    single = {"summary", "mood", "safety"}
    rows = []
    for t in tags:
        settled, values = _blocked(gold, t.type)
        if (t.type in single and settled) or t.value.lower() in values:
            continue
        rows.append(
            (
                media_id,
                t.type,
                t.value,
                json.dumps(t.detail, ensure_ascii=False),
                float(min(1.0, max(0.0, t.confidence))),
                json.dumps([int(c) for c in t.chunk_ids]),
                t.model_id,
                prompt_version,
                now,
                run_id,
            )
        )
    with lib.db.atomic():
        lib.db.execute("DELETE FROM tags WHERE media_id=? AND status='auto'", (media_id,))
        lib.db.executemany(
            "INSERT INTO tags (media_id, type, value, detail, confidence, chunk_ids, model_id, "
            "prompt_version, annotated_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


@dataclass(frozen=True)
class Facets:
    """The tags a library listing shows for one item (reviewed tags win over machine ones).

    Attributes:
        topics: Topic labels, the most confident first.
        mood: The mood label, if tagged.
        rating: The safety rating, if tagged.
        summary: The summary, if tagged.
    """

    topics: tuple[str, ...] = ()
    mood: str | None = None
    rating: str | None = None
    summary: str | None = None


def library_facets(lib: Library) -> dict[int, Facets]:
    """Topics, mood, rating and summary of every annotated item, in one query."""
    rows = lib.db.query(
        f"SELECT {_TAG_COLUMNS} FROM tags WHERE type IN ('topic', 'mood', 'safety', 'summary') "
        "AND status != 'rejected' ORDER BY media_id, id"
    )
    by_item: dict[int, list[Tag]] = {}
    for row in rows:
        tag = Tag.from_row(row)
        by_item.setdefault(tag.media_id, []).append(tag)
    out = {}
    for media_id, tags in by_item.items():
        view = ItemTags(media_id, "", tuple(tags), None, None, None, None, None)
        mood, safety, summary = view.mood, view.safety, view.summary
        out[media_id] = Facets(
            tuple(t.value for t in view.topics),
            mood.value if mood else None,
            safety.value if safety else None,
            summary.value if summary else None,
        )
    return out
