"""Home's items: the library's recommendable items, their content vectors and their topics.

Item content vector = MiniLM embedding of ``title. tags. summary`` when the item is annotated,
else ``title. <first ~400 characters of the transcript>``; cached per item in
``recommend_items`` and valid for the library ``content_version`` and tags stamp it was built at.

Topic of an item (:func:`resolve_topics`), the name of its Home row: a reviewed topic tag
first; else the annotator's most confident topic when its calibrated confidence is at least
:data:`TOPIC_MIN_CONFIDENCE`; else the nearest topic of the taxonomy by MiniLM similarity to
its descriptions (below :data:`TOPIC_MIN_SIMILARITY` "General"); an unconfident machine tag
names the topic only when the item's content is near no taxonomy topic.
"""

from __future__ import annotations

import functools
import logging
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.errors import ModelError
from core.recommend import events as ev
from core.recommend.home.model import CONTENT_DIM, cache_lock
from core.store import Library

log = logging.getLogger(__name__)

F32 = NDArray[np.float32]

QUICK_MAX_SECONDS = 600.0
NEW_MAX_AGE_DAYS = 14
TEXT_PREFIX_CHARS = 400
TOPIC_MIN_SIMILARITY = 0.15
# A machine topic tag names the item's Home topic from this calibrated confidence on (more
# likely right than not). Below it, the content's nearest taxonomy topic does: on held-out
# news the annotator put sports stories in True Crime with confidences of 0.3-0.45 (issue 22).
TOPIC_MIN_CONFIDENCE = 0.5
GENERAL_TOPIC = "General"


@dataclass(frozen=True)
class ItemTable:
    """The library's recommendable items (status ``ready``) with content vectors and topics.

    Attributes:
        media_ids: Item ids, ascending.
        titles: Titles, same order.
        durations: Seconds (NaN when unknown).
        added_ts: Unix seconds the item was added.
        topics: Topic of each item.
        content: Float32 ``[n, 384]`` unit MiniLM vectors.
        content_version: Library content version they are valid for.
    """

    media_ids: tuple[int, ...]
    titles: tuple[str, ...]
    durations: NDArray[np.float64]
    added_ts: NDArray[np.int64]
    topics: tuple[str, ...]
    content: F32
    content_version: int

    def __len__(self) -> int:
        return len(self.media_ids)

    def index(self) -> dict[int, int]:
        """Item id -> row (built once per table)."""
        return self._derived["index"]  # type: ignore[no-any-return]

    @property
    def topic_codes(self) -> NDArray[np.int64]:
        """Per item, the position of its topic in :attr:`topic_names`."""
        return self._derived["codes"]  # type: ignore[no-any-return]

    @property
    def topic_names(self) -> tuple[str, ...]:
        """The distinct topics, sorted."""
        return self._derived["names"]  # type: ignore[no-any-return]

    @property
    def quick(self) -> NDArray[np.bool_]:
        """Per item: known duration shorter than :data:`QUICK_MAX_SECONDS`."""
        return self._derived["quick"]  # type: ignore[no-any-return]

    @functools.cached_property
    def _derived(self) -> dict[str, Any]:
        names = tuple(sorted(set(self.topics)))
        code = {n: i for i, n in enumerate(names)}
        with np.errstate(invalid="ignore"):
            quick = np.isfinite(self.durations) & (self.durations < QUICK_MAX_SECONDS)
        return {
            "index": {m: i for i, m in enumerate(self.media_ids)},
            "names": names,
            "codes": np.asarray([code[t] for t in self.topics], dtype=np.int64),
            "quick": quick,
        }


def _iso_ts(text: str) -> int:
    return int(ev.to_utc(text).timestamp())


def _annotation_texts(lib: Library) -> dict[int, tuple[str, str | None]]:
    """``media_id -> (topics and summary text, top topic)`` of the annotated items.

    Reviewed tags win over machine ones and rejected tags are left out (as in the Library).
    """
    from core.annotate.store import library_facets

    out: dict[int, tuple[str, str | None]] = {}
    for media_id, f in library_facets(lib).items():
        text = ". ".join(x for x in (", ".join(f.topics), f.summary or "") if x)
        out[media_id] = (text, f.topics[0] if f.topics else None)
    return out


# library_meta key of the tags stamp that the cached ``recommend_items`` rows were built at.
TAGS_STAMP_KEY = "recommend_tags"


def tags_stamp(lib: Library) -> str:
    """A stamp of the tags table; it changes whenever tags are added, replaced or reviewed.

    The recommender's item cache is valid for one content version *and* one stamp (annotation
    keeps no version of its own).
    """
    row = lib.db.query(
        "SELECT count(*) AS n, coalesce(max(id), 0) AS top, "
        "coalesce(max(reviewed_at), '') AS reviewed FROM tags"
    )[0]
    return f"{row['n']}:{row['top']}:{row['reviewed']}"


def item_texts(
    lib: Library,
    media_ids: Sequence[int],
    titles: Sequence[str],
    annotations: dict[int, tuple[str, str | None]] | None = None,
) -> list[str]:
    """The text embedded as each item's content (see the module docstring)."""
    if annotations is None:
        annotations = _annotation_texts(lib)
    prefix: dict[int, list[str]] = {}
    for r in lib.db.query("SELECT media_id, text FROM chunks WHERE idx < 2 ORDER BY media_id, idx"):
        prefix.setdefault(int(r["media_id"]), []).append(str(r["text"]))
    out = []
    for media_id, title in zip(media_ids, titles, strict=True):
        note = annotations.get(media_id)
        if note and note[0]:
            body = note[0]
        else:
            body = " ".join(prefix.get(media_id, []))
            if len(body) > TEXT_PREFIX_CHARS:
                body = body[:TEXT_PREFIX_CHARS].rsplit(" ", 1)[0]
        out.append(f"{title}. {body}".strip() if body else title)
    return out


@dataclass(frozen=True)
class TopicTag:
    """An item's leading topic tag: reviewed first, then the most confident machine one."""

    value: str
    confidence: float
    reviewed: bool


def topic_tags(lib: Library) -> dict[int, TopicTag]:
    """``media_id -> TopicTag`` of every item with a topic tag that is not rejected."""
    out: dict[int, TopicTag] = {}
    for r in lib.db.query(
        "SELECT media_id, value, confidence, status != 'auto' AS reviewed FROM tags "
        "WHERE type = 'topic' AND status != 'rejected' "
        "ORDER BY media_id, status = 'auto', confidence DESC, id"
    ):
        out.setdefault(
            int(r["media_id"]),
            TopicTag(str(r["value"]), float(r["confidence"]), bool(r["reviewed"])),
        )
    return out


def resolve_topic(tag: TopicTag | None, nearest: str, similarity: float) -> str:
    """The Home topic of one item (see the module docstring).

    Args:
        tag: Its leading topic tag, if any.
        nearest: The taxonomy topic nearest to its content.
        similarity: MiniLM similarity of that topic.

    Returns:
        A taxonomy topic or :data:`GENERAL_TOPIC`.
    """
    if tag is not None and (tag.reviewed or tag.confidence >= TOPIC_MIN_CONFIDENCE):
        return tag.value
    if similarity >= TOPIC_MIN_SIMILARITY:
        return nearest
    return tag.value if tag is not None else GENERAL_TOPIC


def nearest_topics(vectors: F32, encoder: Any) -> tuple[list[str], NDArray[np.float64]]:
    """The nearest ``core.taxonomy`` topic of each content vector and its similarity."""
    from core.annotate.classify import label_space

    space = label_space("topic", encoder)
    sims = np.asarray(space.scores(vectors), dtype=np.float64)
    best = sims.argmax(axis=1) if len(sims) else np.zeros(0, dtype=np.int64)
    return [space.labels[b] for b in best], sims[np.arange(len(best)), best]


_item_tables: OrderedDict[tuple[str, int, str], ItemTable] = OrderedDict()


def item_table(lib: Library, encoder: Any) -> ItemTable:
    """The recommendable items with their content vectors, from the caches when valid.

    Fast path: every ready item has a ``recommend_items`` row of the current content version
    (no text is built and ``encoder`` is not touched). Otherwise the texts are rebuilt, only
    items whose text changed are embedded (through the library's embedding cache), and the rows
    are rewritten for the current version.

    Args:
        lib: The library.
        encoder: A ``core.search.hybrid.TextEncoder`` or a factory of one (called only if needed).

    Returns:
        The table.
    """
    version = lib.content_version
    stamp = tags_stamp(lib)
    key = (lib.db.path, version, stamp)
    with cache_lock:
        hit = _item_tables.get(key)
    if hit is not None:
        return hit
    items = lib.db.query(
        "SELECT id, title, duration, added_at FROM media_items WHERE status = 'ready' ORDER BY id"
    )
    cached = {
        int(r["media_id"]): r
        for r in lib.db.query(
            "SELECT media_id, content_version, model_id, text_sha256, vector, topic "
            "FROM recommend_items"
        )
    }
    ids = [int(r["id"]) for r in items]
    titles = [str(r["title"]) for r in items]
    fresh = all(i in cached and cached[i]["content_version"] == version for i in ids) and (
        lib.db.scalar("SELECT value FROM library_meta WHERE key = ?", (TAGS_STAMP_KEY,)) == stamp
    )
    if fresh:
        content = (
            np.stack([np.frombuffer(cached[i]["vector"], dtype=np.float32) for i in ids])
            if ids
            else np.zeros((0, CONTENT_DIM), dtype=np.float32)
        )
        topics = [str(cached[i]["topic"]) for i in ids]
    else:
        content, topics = _refresh_items(
            lib, encoder, ids=ids, titles=titles, cached=cached, version=version, stamp=stamp
        )
    table = ItemTable(
        media_ids=tuple(ids),
        titles=tuple(titles),
        durations=np.asarray(
            [float(r["duration"]) if r["duration"] else math.nan for r in items], dtype=np.float64
        ),
        added_ts=np.asarray([_iso_ts(str(r["added_at"])) for r in items], dtype=np.int64),
        topics=tuple(topics),
        content=np.ascontiguousarray(content, dtype=np.float32),
        content_version=version,
    )
    with cache_lock:
        _item_tables[key] = table
        while len(_item_tables) > 4:
            _item_tables.popitem(last=False)
    return table


def _refresh_items(
    lib: Library,
    encoder: Any,
    *,
    ids: list[int],
    titles: list[str],
    cached: dict[int, dict[str, Any]],
    version: int,
    stamp: str,
) -> tuple[F32, list[str]]:
    from core.search import EmbeddingStore, text_sha256

    store = EmbeddingStore(lib, encoder)
    notes = _annotation_texts(lib)
    texts = item_texts(lib, ids, titles, notes)
    shas = [text_sha256(t) for t in texts]
    enc_id = store.encoder.model_id
    stale = [
        k
        for k, (i, sha) in enumerate(zip(ids, shas, strict=True))
        if i not in cached or cached[i]["text_sha256"] != sha or cached[i]["model_id"] != enc_id
    ]
    content = np.zeros((len(ids), CONTENT_DIM), dtype=np.float32)
    topics = [GENERAL_TOPIC] * len(ids)
    stale_set = set(stale)
    for k, i in enumerate(ids):
        if i in cached and k not in stale_set:
            content[k] = np.frombuffer(cached[i]["vector"], dtype=np.float32)
            topics[k] = str(cached[i]["topic"])
    if stale:
        vectors = np.asarray(store.embed([texts[k] for k in stale]), dtype=np.float32)
        if vectors.shape[1] != CONTENT_DIM:
            raise ModelError(
                f"The text encoder {enc_id} gives {vectors.shape[1]}-d vectors; the "
                f"recommender needs {CONTENT_DIM}-d MiniLM embeddings.",
                fix="Use the default MiniLM encoder (core.search.hybrid.default_encoder).",
            )
        content[stale] = vectors
        tags = topic_tags(lib)
        nearest, similarity = nearest_topics(vectors, store.encoder)
        for j, k in enumerate(stale):
            topics[k] = resolve_topic(tags.get(ids[k]), nearest[j], float(similarity[j]))
        log.info("recommender: embedded %d item text(s)", len(stale))
    with lib.db.atomic():
        if stale:
            # The user state was encoded from the old item vectors (a tag change alters them
            # without a new content version): encode it again on the next request.
            lib.db.execute("DELETE FROM recommend_state")
        lib.db.execute(
            f"DELETE FROM recommend_items WHERE media_id NOT IN ({','.join('?' * len(ids))})"
            if ids
            else "DELETE FROM recommend_items",
            ids,
        )
        lib.db.executemany(
            "INSERT OR REPLACE INTO recommend_items "
            "(media_id, content_version, model_id, text_sha256, vector, topic) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (i, version, enc_id, sha, content[k].tobytes(), topics[k])
                for k, (i, sha) in enumerate(zip(ids, shas, strict=True))
            ],
        )
        lib.db.execute(
            "INSERT OR REPLACE INTO library_meta (key, value) VALUES (?, ?)",
            (TAGS_STAMP_KEY, stamp),
        )
    return content, topics


# ----------------------------------------------------------------------------- training data


@dataclass(frozen=True)
class TrainingData:
    """The library's event log as a training sequence (used by ``mediamind train-recsys``).

    Attributes:
        media_ids: Item ids; row ``k`` of ``content`` is item ``media_ids[k]``.
        content: ``[n_items, 384]`` content vectors.
        views: Viewings of items in the table, oldest first.
        labels: ``[len(views), 3]`` float32 app labels of each viewing, columns ``quick_deep``
            (1 = duration >= :data:`QUICK_MAX_SECONDS`), ``continue`` (1 = same topic as the
            previous viewing) and ``new`` (1 = added at most :data:`NEW_MAX_AGE_DAYS` before it).
    """

    media_ids: tuple[int, ...]
    content: F32
    views: tuple[ev.View, ...]
    labels: F32


def training_data(lib: Library, encoder: Any = None) -> TrainingData:
    """Collect :class:`TrainingData` from a library."""
    table = item_table(lib, encoder or default_encoder)
    row = table.index()
    history = tuple(v for v in ev.views(lib) if v.media_id in row)
    labels = np.zeros((len(history), 3), dtype=np.float32)
    for k, v in enumerate(history):
        r = row[v.media_id]
        duration = table.durations[r]
        labels[k, 0] = float(bool(np.isfinite(duration) and duration >= QUICK_MAX_SECONDS))
        if k > 0:
            labels[k, 1] = float(table.topics[row[history[k - 1].media_id]] == table.topics[r])
        labels[k, 2] = float(v.ts - table.added_ts[r] <= NEW_MAX_AGE_DAYS * 86400)
    return TrainingData(table.media_ids, table.content, history, labels)


def default_encoder() -> Any:
    """The default MiniLM text encoder (imported when first needed)."""
    from core.search import default_encoder as make

    return make()
