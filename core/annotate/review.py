"""Human review: the queue, decisions, and the quality report estimated from reviews.

The queue has two parts that are kept apart. *Lowest confidence first* finds mistakes fast, but
its reviews say little about overall quality (they are the doubtful tags). A *uniform random
sample* of machine tags is reviewed too; only those reviews feed the precision/recall estimate,
so the estimate is unbiased. Which part a tag was handed out from is recorded when it is drawn
(``review_draws``) and copied into the review.

Estimator, per tag type, over the latest review of each randomly drawn tag:

* accept: a true positive;
* reject: a false positive; for single-valued types (summary, mood, safety) also a false
  negative, since the item's true value was missed;
* edit: a false positive and a false negative (the right value was missed).

Precision is TP / (TP + FP) with a Wilson 95% interval. Recall is TP / (TP + FN) over the same
sample; for multi-valued types (topics, entities) it only sees misses a reviewer wrote in by
editing a sampled tag, so it is an upper bound, reported as such.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from core.annotate.store import Tag, get_tag
from core.errors import NotFoundError, UsageError
from core.store import Library, utcnow
from core.taxonomy import ENTITY_TYPES, MOODS, RATINGS, TAG_TYPES, canonical_topic

log = logging.getLogger(__name__)

DECISIONS = ("accept", "reject", "edit")
_SINGLE = frozenset({"summary", "mood", "safety"})


@dataclass(frozen=True)
class ReviewTask:
    """One tag to review, with what the reviewer needs to judge it.

    Attributes:
        tag: The tag.
        title: The item's title.
        source: ``lowest`` (lowest confidence first) or ``random`` (the uniform sample).
        context: Up to two supporting chunks as ``(chunk_id, start seconds, text)``.
        choices: Allowed values for an edit (empty: free text, e.g. summaries, entity names).
    """

    tag: Tag
    title: str
    source: str
    context: tuple[tuple[int, float, str], ...]
    choices: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON form (for a GUI or a script)."""
        return {
            "tag": self.tag.to_json(),
            "media_id": self.tag.media_id,
            "title": self.title,
            "display": self.tag.display,
            "source": self.source,
            "context": [{"chunk_id": c, "start": s, "text": t} for c, s, t in self.context],
            "choices": list(self.choices),
        }


def choices_for(kind: str) -> tuple[str, ...]:
    """The values an edit of a ``kind`` tag may take (empty: free text)."""
    from core.taxonomy import TOPICS

    return {"topic": TOPICS, "mood": MOODS, "safety": RATINGS}.get(kind, ())


def _task(lib: Library, tag: Tag, source: str) -> ReviewTask:
    title = str(lib.db.scalar("SELECT title FROM media_items WHERE id=?", (tag.media_id,)) or "")
    context = []
    for cid in tag.chunk_ids[:2]:
        row = lib.db.query_one("SELECT id, start, text FROM chunks WHERE id=?", (cid,))
        if row:
            context.append((int(row["id"]), float(row["start"]), str(row["text"])))
    return ReviewTask(tag, title, source, tuple(context), choices_for(tag.type))


def review_queue(
    lib: Library, n: int = 20, *, random_share: float = 0.3, seed: int | None = None
) -> list[ReviewTask]:
    """Tags to review next: the lowest-confidence ones, then a uniform random sample.

    Tags already handed out in the random sample and not yet reviewed come back first (so a
    reviewer who quits does not bias the sample by skipping). New random draws are recorded.

    Args:
        lib: The library.
        n: Tasks wanted.
        random_share: Part of ``n`` taken from the uniform random sample.
        seed: Seed for the random draw (tests, benchmarks); default: fresh randomness.
    """
    from core.annotate.store import _TAG_COLUMNS

    n = max(0, int(n))
    n_random = min(n, round(n * random_share)) if n > 1 else 0
    db = lib.db
    pending = db.query(
        f"SELECT {_TAG_COLUMNS} FROM tags WHERE status='auto' AND id IN "
        "(SELECT tag_id FROM review_draws WHERE source='random') ORDER BY id"
    )
    randoms = [Tag.from_row(r) for r in pending][:n_random]
    if len(randoms) < n_random:
        pool = [
            int(r["id"])
            for r in db.query(
                "SELECT id FROM tags WHERE status='auto' "
                "AND id NOT IN (SELECT tag_id FROM review_draws) ORDER BY id"
            )
        ]
        rng = random.Random(seed)
        picked = rng.sample(pool, min(len(pool), n_random - len(randoms)))
        now = utcnow()
        with db.atomic():
            db.executemany(
                "INSERT OR IGNORE INTO review_draws (tag_id, source, drawn_at) "
                "VALUES (?, 'random', ?)",
                [(t, now) for t in picked],
            )
        for t in picked:
            tag = get_tag(lib, t)
            if tag is not None:
                randoms.append(tag)
    taken = {t.id for t in randoms}
    lowest_rows = db.query(
        f"SELECT {_TAG_COLUMNS} FROM tags WHERE status='auto' AND id NOT IN "
        "(SELECT tag_id FROM review_draws WHERE source='random') "
        "ORDER BY confidence, id LIMIT ?",
        (n - len(randoms) + len(taken),),
    )
    lowest = [Tag.from_row(r) for r in lowest_rows if int(r["id"]) not in taken]
    lowest = lowest[: n - len(randoms)]
    now = utcnow()
    with db.atomic():
        db.executemany(
            "INSERT OR IGNORE INTO review_draws (tag_id, source, drawn_at) VALUES (?, 'lowest', ?)",
            [(t.id, now) for t in lowest],
        )
    return [_task(lib, t, "lowest") for t in lowest] + [_task(lib, t, "random") for t in randoms]


def _check_edit(lib: Library, tag: Tag, new_value: str, entity_type: str | None) -> str:
    value = " ".join(new_value.split())
    if not value:
        raise UsageError("An edit needs a new value.", fix="Type the corrected value.")
    if tag.type == "topic":
        label = canonical_topic(value)
        if label is None:
            raise UsageError(
                f"{value!r} is not a topic of the taxonomy.",
                fix="Choose one of: " + ", ".join(choices_for("topic")),
            )
        return label
    if tag.type == "mood":
        if value.lower() not in MOODS:
            raise UsageError(f"{value!r} is not a mood.", fix="Choose one of: " + ", ".join(MOODS))
        return value.lower()
    if tag.type == "safety":
        if value.upper() not in RATINGS:
            raise UsageError(
                f"{value!r} is not a rating.", fix="Choose one of: " + ", ".join(RATINGS)
            )
        return value.upper()
    if tag.type == "entity":
        from core.annotate.llm_tags import occurs_in

        text = "\n".join(
            str(r["text"])
            for r in lib.db.query("SELECT text FROM chunks WHERE media_id=?", (tag.media_id,))
        )
        if not occurs_in(value, text):
            raise UsageError(
                f"{value!r} does not occur in the transcript of item {tag.media_id}.",
                fix="Entities must be spelled as in the transcript.",
            )
        if entity_type is not None and entity_type not in ENTITY_TYPES:
            raise UsageError(
                f"{entity_type!r} is not an entity type.", fix="Use " + ", ".join(ENTITY_TYPES)
            )
    return value


def record_review(
    lib: Library,
    tag_id: int,
    decision: str,
    new_value: str | None = None,
    *,
    entity_type: str | None = None,
) -> Tag:
    """Record a reviewer's decision on a tag; the tag becomes gold.

    Args:
        lib: The library.
        tag_id: The tag.
        decision: ``accept``, ``reject`` or ``edit``.
        new_value: The corrected value (``edit`` only): a taxonomy label for topics, a mood,
            a rating, free text for a summary, a name spelled as in the transcript for an entity.
        entity_type: For an entity edit, its corrected type (default: unchanged).

    Returns:
        The tag as stored after the review.

    Raises:
        NotFoundError: No such tag.
        UsageError: Unknown decision, or an edit value that is not allowed.
    """
    if decision not in DECISIONS:
        raise UsageError(
            f"Unknown review decision {decision!r}.", fix="Use accept, reject or edit."
        )
    tag = get_tag(lib, tag_id)
    if tag is None:
        raise NotFoundError(
            f"There is no tag {tag_id} in the library {lib.directory}.",
            fix="Take tag ids from 'mediamind tags ID --json' or the review queue.",
        )
    value = tag.value
    detail = dict(tag.detail)
    if decision == "edit":
        if new_value is None and not (tag.type == "entity" and entity_type):
            raise UsageError("An edit needs a new value.", fix="Pass the corrected value.")
        value = _check_edit(lib, tag, new_value or tag.value, entity_type)
        if tag.type == "entity" and entity_type:
            detail["type"] = entity_type
    status = {"accept": "accepted", "reject": "rejected", "edit": "edited"}[decision]
    now = utcnow()
    source = lib.db.scalar("SELECT source FROM review_draws WHERE tag_id=?", (tag_id,)) or "direct"
    original = tag.original_value if tag.original_value is not None else tag.value
    with lib.db.atomic():
        lib.db.execute(
            "INSERT INTO reviews (tag_id, media_id, tag_type, decision, old_value, new_value, "
            "confidence, source, model_id, prompt_version, annotated_at, reviewed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                tag.id,
                tag.media_id,
                tag.type,
                decision,
                tag.value if not tag.gold else original,
                value if decision == "edit" else None,
                tag.confidence,
                source,
                tag.model_id,
                tag.prompt_version,
                tag.annotated_at,
                now,
            ),
        )
        lib.db.execute(
            "UPDATE tags SET status=?, value=?, detail=?, original_value=?, reviewed_at=? "
            "WHERE id=?",
            (
                status,
                value,
                json.dumps(detail, ensure_ascii=False),
                original if decision == "edit" else tag.original_value,
                now,
                tag.id,
            ),
        )
    stored = get_tag(lib, tag_id)
    assert stored is not None
    return stored


def undo_review(lib: Library, before: Tag) -> Tag:
    """Take back the last review of a tag: its review record goes, the tag is as ``before``.

    Args:
        lib: The library.
        before: The tag as it was read just before the review being taken back (the
            reviewer's undo stack holds it).

    Returns:
        The tag as stored after the undo.

    Raises:
        NotFoundError: The tag is gone, or it has no review to take back.
    """
    last = lib.db.scalar("SELECT max(id) FROM reviews WHERE tag_id=?", (before.id,))
    if last is None or get_tag(lib, before.id) is None:
        raise NotFoundError(
            f"Tag {before.id} has no review to undo in the library {lib.directory}.",
            fix="Only a decision made in this session can be taken back.",
        )
    with lib.db.atomic():
        lib.db.execute("DELETE FROM reviews WHERE id=?", (last,))
        lib.db.execute(
            "UPDATE tags SET status=?, value=?, detail=?, original_value=?, reviewed_at=? "
            "WHERE id=?",
            (
                before.status,
                before.value,
                json.dumps(before.detail, ensure_ascii=False),
                before.original_value,
                before.reviewed_at,
                before.id,
            ),
        )
    stored = get_tag(lib, before.id)
    assert stored is not None
    return stored


# -- quality ------------------------------------------------------------------------------------


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (0, 1 for no data)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class TypeQuality:
    """Estimated quality of one tag type from the random review sample."""

    tag_type: str
    sample_size: int
    tp: int
    fp: int
    fn: int
    precision: float | None
    precision_ci: tuple[float, float]
    recall: float | None
    f1: float | None
    recall_is_upper_bound: bool

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        r = {k: v for k, v in self.__dict__.items()}
        r["precision_ci"] = [round(x, 4) for x in self.precision_ci]
        for k in ("precision", "recall", "f1"):
            r[k] = None if r[k] is None else round(r[k], 4)
        return r


@dataclass(frozen=True)
class DriftRow:
    """Agreement (share of reviews accepting the tag) for one group of tags."""

    group: str
    key: str
    reviews: int
    agreement: float

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {**self.__dict__, "agreement": round(self.agreement, 4)}


@dataclass(frozen=True)
class QualityReport:
    """What ``mediamind annotate --report`` prints.

    Attributes:
        types: Per tag type, estimates from the random sample only.
        reviews_total: All reviews (both parts of the queue and direct ones).
        reviews_random: Reviews of randomly drawn tags (the estimate's sample).
        coverage: Items annotated / items ready.
        drift: Agreement per prompt version, per model and per review month.
        alerts: Labels whose agreement fell between prompt versions or runs
            (e.g. a topic suddenly rejected much more often), and label-share jumps.
    """

    types: tuple[TypeQuality, ...]
    reviews_total: int
    reviews_random: int
    coverage: tuple[int, int]
    drift: tuple[DriftRow, ...]
    alerts: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """JSON form (``--report --json``)."""
        return {
            "types": [t.to_json() for t in self.types],
            "reviews_total": self.reviews_total,
            "reviews_random": self.reviews_random,
            "annotated_items": self.coverage[0],
            "ready_items": self.coverage[1],
            "drift": [d.to_json() for d in self.drift],
            "alerts": list(self.alerts),
        }

    def to_text(self) -> str:
        """A plain-text table."""
        lines = [
            f"annotated {self.coverage[0]} of {self.coverage[1]} ready items; "
            f"{self.reviews_total} reviews, {self.reviews_random} from the random sample",
            "",
            "quality from the uniform random review sample (recall* = upper bound):",
            f"  {'type':<8} {'n':>4} {'precision':>9} {'95% CI':>13} {'recall':>7} {'F1':>6}",
        ]

        def fmt(x: float | None) -> str:
            return "    -" if x is None else f"{x:.3f}"

        for t in self.types:
            ci = f"{t.precision_ci[0]:.2f}-{t.precision_ci[1]:.2f}" if t.sample_size else "-"
            star = "*" if t.recall_is_upper_bound else " "
            lines.append(
                f"  {t.tag_type:<8} {t.sample_size:>4} {fmt(t.precision):>9} {ci:>13} "
                f"{fmt(t.recall):>6}{star} {fmt(t.f1):>6}"
            )
        if self.drift:
            lines += ["", "agreement over time and versions (share of reviews accepted):"]
            for d in self.drift:
                lines.append(f"  {d.group:<14} {d.key:<40} n={d.reviews:<4} {d.agreement:.2f}")
        if self.alerts:
            lines += ["", "drift alerts:"] + [f"  ! {a}" for a in self.alerts]
        return "\n".join(lines)


def _latest_reviews(lib: Library, source: str | None = None) -> list[dict[str, Any]]:
    where = "WHERE source = ?" if source else ""
    params: tuple[Any, ...] = (source,) if source else ()
    rows = lib.db.query(f"SELECT * FROM reviews {where} ORDER BY id", params)
    latest: dict[Any, dict[str, Any]] = {}
    for r in rows:
        latest[r["tag_id"] if r["tag_id"] is not None else ("gone", r["id"])] = r
    return list(latest.values())


def quality_report(lib: Library, *, min_alert_reviews: int = 5) -> QualityReport:
    """Estimate per-type precision/recall/F1 from the random sample, and track drift.

    Args:
        lib: The library.
        min_alert_reviews: Reviews a label needs under each of two versions before a drop in
            its agreement is reported.
    """
    sample = _latest_reviews(lib, "random")
    counts: dict[str, list[int]] = {k: [0, 0, 0, 0] for k in TAG_TYPES}  # n, tp, fp, fn
    for r in sample:
        c = counts[r["tag_type"]]
        c[0] += 1
        if r["decision"] == "accept":
            c[1] += 1
        elif r["decision"] == "reject":
            c[2] += 1
            c[3] += r["tag_type"] in _SINGLE
        else:
            c[2] += 1
            c[3] += 1
    types = []
    for kind in TAG_TYPES:
        n, tp, fp, fn = counts[kind]
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / (tp + fn) if tp + fn else None
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision is not None and recall is not None and precision + recall
            else None
        )
        types.append(
            TypeQuality(
                kind, n, tp, fp, fn, precision, wilson(tp, tp + fp), recall, f1, kind not in _SINGLE
            )
        )
    every = _latest_reviews(lib)
    drift: list[DriftRow] = []
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in every:
        ok = int(r["decision"] == "accept")
        groups[("prompt_version", r["prompt_version"])].append(ok)
        groups[("model", r["model_id"].split("|")[0][:40])].append(ok)
        groups[("annotated", r["annotated_at"][:7])].append(ok)
        groups[("reviewed", r["reviewed_at"][:7])].append(ok)
    for (group, key), oks in sorted(groups.items()):
        drift.append(DriftRow(group, key, len(oks), sum(oks) / len(oks)))
    alerts = _alerts(lib, every, min_alert_reviews)
    annotated = int(lib.db.scalar("SELECT count(*) FROM annotations WHERE status='done'") or 0)
    ready = int(lib.db.scalar("SELECT count(*) FROM media_items WHERE status='ready'") or 0)
    return QualityReport(
        tuple(types),
        len(every),
        len(sample),
        (annotated, ready),
        tuple(drift),
        tuple(alerts),
    )


def _alerts(lib: Library, reviews: list[dict[str, Any]], min_n: int) -> list[str]:
    """Drift alerts.

    Labels whose agreement fell from one prompt version to a later one, and topics whose
    share of items jumped between the last two annotation runs.
    """
    alerts: list[str] = []
    by: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    first_seen: dict[str, str] = {}
    for r in reviews:
        if r["tag_type"] not in ("topic", "mood", "safety"):
            continue
        by[(r["tag_type"], r["old_value"])][r["prompt_version"]].append(
            int(r["decision"] == "accept")
        )
        first_seen.setdefault(r["prompt_version"], r["annotated_at"])
    for (kind, label), versions in sorted(by.items()):
        ordered = sorted(versions, key=lambda v: first_seen.get(v, ""))
        for old, new in itertools.pairwise(ordered):
            a, b = versions[old], versions[new]
            if len(a) >= min_n and len(b) >= min_n:
                pa, pb = sum(a) / len(a), sum(b) / len(b)
                if pa - pb >= 0.25:
                    alerts.append(
                        f"{kind} '{label}': agreement fell from {pa:.0%} (n={len(a)}, {old}) "
                        f"to {pb:.0%} (n={len(b)}, {new}); the model may be mis-tagging items "
                        f"as '{label}'"
                    )
    runs = lib.db.query(
        "SELECT run_id, count(DISTINCT media_id) AS n FROM tags WHERE type='topic' "
        "AND run_id IS NOT NULL GROUP BY run_id ORDER BY run_id DESC LIMIT 2"
    )
    if len(runs) == 2 and min(int(r["n"]) for r in runs) >= 10:
        share = {}
        for r in runs:
            rows = lib.db.query(
                "SELECT value, count(DISTINCT media_id) AS n FROM tags WHERE type='topic' "
                "AND run_id=? GROUP BY value",
                (r["run_id"],),
            )
            share[int(r["run_id"])] = {x["value"]: int(x["n"]) / int(r["n"]) for x in rows}
        new_id, old_id = int(runs[0]["run_id"]), int(runs[1]["run_id"])
        for label in sorted(set(share[new_id]) | set(share[old_id])):
            before, after = share[old_id].get(label, 0.0), share[new_id].get(label, 0.0)
            if after - before >= 0.2:
                alerts.append(
                    f"topic '{label}' went from {before:.0%} of items (run {old_id}) "
                    f"to {after:.0%} (run {new_id})"
                )
    return alerts
