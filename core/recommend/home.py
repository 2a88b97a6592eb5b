"""Home rows ("what to watch now") of a library, from its event log and the recommender.

Model. The app runs ``core/data/recsys/shipped-app`` (or a model fine-tuned on this library by
``mediamind train-recsys``, stored in ``<library>/recsys-model``): the FM-Intent model trained on
MovieLens 100K with **384-d MiniLM content vectors**. The committed ``models/recsys/shipped``
model cannot be used here: its content projection takes the 128-d ML-100K featurisation (genre
flags, release-year bucket, hashed title words), which a library item does not have. No library
item has a trained id row, so every item — watched or not — is represented through the content
path (``unknown_row + content @ W + b``): cold start is the normal case, not an exception.

Item content vector = MiniLM embedding of ``title. tags. summary`` when an ``annotations`` row
exists for the item, else ``title. <first ~400 characters of the transcript>``; cached per item
in ``recommend_items`` and valid for the library ``content_version`` it was computed at.

User state = the encoder run over the log's *viewings* (:func:`core.recommend.events.views`),
stored in ``recommend_state`` under the log's last event id (and the model and content version),
so a request after no new event only runs the scorer.

How the model's intents become rows (the model was trained on film data; the app reads each
intent as the nearest thing a media library has, and says so here):

* ``genre`` (19 ML-100K film genres) is **not** used to name rows: "Film-Noir" or "Western"
  describe nothing in a library of talks, news and lectures. Topic rows use the library's own
  topic of each item instead: its most confident topic tag from annotation (a reviewed one
  first), so Home and the Library agree; an item not annotated yet gets the nearest topic of
  the same taxonomy (``core.taxonomy``) by MiniLM similarity to its descriptions (below
  :data:`TOPIC_MIN_SIMILARITY` the item is "General"). How
  much the user wants a topic next is read from the item head: the softmax of its scores over
  the candidates, summed over the row's first :data:`VISIBLE_TILES` items (the model's
  next-item distribution on what the row shows; a full-set sum would favour big rows).
* ``quick_deep`` (trained on an ML genre proxy for length) is read as item duration: quick
  = shorter than :data:`QUICK_MAX_SECONDS` (10 min). A topic row is "Quick picks: T" or "Deep
  dive: T"; its strength is P(quick) or P(deep) times that mass (after the topic blend below).
* ``continue`` → "More like what you finished": the nearest unwatched neighbours (by content,
  cosine >= :data:`BECAUSE_MIN_SIMILARITY`) of the last finished (else watched) items,
  strength P(continue) x their mass; its complement
  P(discover) → "Something new": items of topics never watched.
* ``new`` → "New in your library": items added in the last :data:`NEW_MAX_AGE_DAYS` days,
  strength P(new) x their mass; offered only when they are at most half of the candidates
  (otherwise "new" distinguishes nothing).

Topic blend (:func:`topic_blend`): before rows compete, the item head's next-item distribution
is re-weighted by topic, ``P(T) = P(continue) x R(T) + P(discover) x M(T)`` where ``M`` is the
item head's own topic mass and ``R`` the topic shares of the recently *finished* viewings; the
split inside a topic stays the item head's. The model's continue intent thus decides how much
of the next item stays with what the user just finished (the unfinished item has "Continue").

Score of an item = the item head's logit + :data:`AFFINITY_WEIGHT` x its content affinity to
the recent viewings (:func:`content_affinity`; weight chosen on ML-100K validation). On library
content the ML-trained item head carries little of the user's history (measured in
``docs/recsys.md``); the affinity term is what ties the ranking to it until ``mediamind
train-recsys`` has trained on the library's own log.

Rows: "Continue" (started, not finished, most recent first) always comes first; then the
candidate rows above by strength, each ranked by that score. Finished items are never
offered. Each item carries a reason: "Because you watched X" (nearest watched item by content),
"Matches your Sports evenings" (its topic is one the user watched at this time of day), or the
row's own reason. With no history at all there is no state: the rows are the most recent items
interleaved across topics, then one row per topic.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core import registry
from core.errors import ModelError
from core.recommend import events as ev
from core.recommend.scorer import HistoryEvent, Recommender, UserState
from core.store import Library, utcnow
from core.transcript import format_timestamp

log = logging.getLogger(__name__)

F32 = NDArray[np.float32]

MODEL_ENV = "MEDIAMIND_RECSYS_MODEL"
LIBRARY_MODEL_DIRNAME = "recsys-model"
SHIPPED_APP_DIR = registry.shipped_dir(registry.RECSYS_APP)
CONTENT_DIM = 384

QUICK_MAX_SECONDS = 600.0
NEW_MAX_AGE_DAYS = 14
TEXT_PREFIX_CHARS = 400
# MiniLM cosine above which "Because you watched X" is a fair reason.
BECAUSE_MIN_SIMILARITY = 0.3
# Neighbours per finished item in "More like what you finished"; anchors = last finished items.
NEIGHBOURS_PER_ANCHOR = 3
ANCHORS = 5
# Ranking score = item head + AFFINITY_WEIGHT x content affinity (cosine of the item to the
# engagement- and recency-weighted mean of the last AFFINITY_HISTORY viewings, each older one
# weighted AFFINITY_DECAY times less). The weight was chosen on ML-100K *validation* with every
# item content-only (python -m models.recsys.app_model content-only): NDCG@10 0.0803 -> 0.0861.
AFFINITY_WEIGHT = 4.0
AFFINITY_HISTORY = 20
AFFINITY_DECAY = 0.8
# Rows compete on the item-head mass of their first tiles (what the screen shows at a glance),
# so a row is not strong merely because it holds many items.
VISIBLE_TILES = 3
TOPIC_MIN_SIMILARITY = 0.15
GENERAL_TOPIC = "General"

DAYPARTS = ((5, "morning"), (12, "afternoon"), (17, "evening"), (22, "night"))


def daypart(moment: datetime) -> str:
    """``morning`` (5-12 h), ``afternoon`` (12-17), ``evening`` (17-22) or ``night``."""
    name = "night"
    for start, label in DAYPARTS:
        if moment.hour >= start:
            name = label
    return name


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class HomeItem:
    """One recommended item.

    Attributes:
        media_id: The library item.
        title: Its title.
        score: The ranking score: the item head's logit plus the weighted content affinity
            (comparable within one request); 0.0 when there is no history.
        reason: Why it is offered, for the user.
    """

    media_id: int
    title: str
    score: float
    reason: str

    def to_json(self) -> dict[str, Any]:
        """The ``mediamind home --json`` form."""
        return {
            "media_id": self.media_id,
            "title": self.title,
            "score": round(self.score, 4),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class HomeRow:
    """One row of the home screen.

    Attributes:
        title: Human name, e.g. ``Quick picks: Sports``.
        intent: Machine name, e.g. ``continue_watching``, ``quick:Sports``, ``deep:Science``,
            ``more_like_finished``, ``discover``, ``new``, and with no history ``recent`` and
            ``topic:<T>``.
        items: Best first.
        strength: Why the row is where it is (P(intent) x item-head mass; 0 for fixed rows).
    """

    title: str
    intent: str
    items: tuple[HomeItem, ...]
    strength: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The ``mediamind home --json`` form."""
        return {
            "title": self.title,
            "intent": self.intent,
            "items": [i.to_json() for i in self.items],
        }


@dataclass(frozen=True)
class Home:
    """The home screen of a library at one moment.

    Attributes:
        rows: In display order.
        at: The moment (UTC ISO).
        model: Name of the recommender model (empty with no history).
        intents: The user's predicted intents, value name -> probability (empty with no history).
        state_cached: The user state came from the cache (no encoder run).
    """

    rows: tuple[HomeRow, ...]
    at: str
    model: str = ""
    intents: dict[str, float] = field(default_factory=dict)
    state_cached: bool = False

    def to_json(self) -> dict[str, Any]:
        """The JSON contract of ``mediamind home --json``.

        Returns:
            ``{"rows": [{"title", "intent", "items": [{"media_id", "title", "score",
            "reason"}]}]}``.
        """
        return {"rows": [r.to_json() for r in self.rows]}


# ----------------------------------------------------------------------------- model


def default_model_dir(lib: Library) -> Path:
    """The recommender directory ``home`` uses.

    Returns:
        ``<library>/recsys-model`` (from ``mediamind train-recsys``) when present, else
        ``$MEDIAMIND_RECSYS_MODEL`` when set, else the shipped one
        (``core/data/recsys/shipped-app``, checked against its sha256s in :mod:`core.registry`).

    Raises:
        ModelError: The shipped model's files are missing or damaged.
    """
    own = lib.directory / LIBRARY_MODEL_DIRNAME
    if (own / "config.json").is_file():
        return own
    env = os.environ.get(MODEL_ENV)
    return Path(env).expanduser() if env else registry.shipped_model_dir(registry.RECSYS_APP)


@dataclass
class _LoadedModel:
    rec: Recommender
    model_id: str


_models: dict[Path, tuple[float, _LoadedModel]] = {}
_cache_lock = threading.Lock()


def load_model(model_dir: Path, *, threads: int = 1) -> tuple[Recommender, str]:
    """Load (once per process and config mtime) a recommender that takes MiniLM content.

    Args:
        model_dir: An exported recommender directory.
        threads: onnxruntime threads.

    Returns:
        The recommender and a model id (name + digest of its files) for cache keys.

    Raises:
        ModelError: The model is missing, damaged, or its content input is not 384-d MiniLM.
    """
    path = Path(model_dir).resolve()
    config = path / "config.json"
    if not config.is_file():
        raise ModelError(
            f"No recommender model at {path}.",
            fix="Restore core/data/recsys/shipped-app (python -m models.recsys.app_model ml100k) "
            f"or unset {MODEL_ENV}.",
        )
    mtime = config.stat().st_mtime
    with _cache_lock:
        hit = _models.get(path)
        if hit is not None and hit[0] == mtime:
            return hit[1].rec, hit[1].model_id
    rec = Recommender(path, threads=threads)
    if rec.config.content_dim != CONTENT_DIM:
        raise ModelError(
            f"The recommender {rec.config.name} at {path} takes {rec.config.content_dim}-d "
            f"content vectors; library items have {CONTENT_DIM}-d MiniLM embeddings.",
            fix="Use core/data/recsys/shipped-app (trained on MiniLM content), not "
            "models/recsys/shipped (ML-100K features).",
        )
    digest = hashlib.sha256()
    for name in (rec.config.encoder_file, rec.config.scorer_file, rec.config.items_file):
        digest.update((path / name).read_bytes())
    loaded = _LoadedModel(rec, f"{rec.config.name}:{digest.hexdigest()[:16]}")
    with _cache_lock:
        _models[path] = (mtime, loaded)
    return loaded.rec, loaded.model_id


# ----------------------------------------------------------------------------- items


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


def _topics_of(vectors: F32, encoder: Any) -> list[str]:
    """The nearest ``core.taxonomy`` topic of each content vector ("General" when none is near)."""
    from core.annotate.classify import label_space

    space = label_space("topic", encoder)
    sims = space.scores(vectors)
    labels = space.labels
    best = sims.argmax(axis=1)
    return [
        labels[b] if sims[i, b] >= TOPIC_MIN_SIMILARITY else GENERAL_TOPIC
        for i, b in enumerate(best)
    ]


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
    with _cache_lock:
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
    with _cache_lock:
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
        for k, topic in zip(stale, _topics_of(vectors, store.encoder), strict=True):
            note = notes.get(ids[k])
            topics[k] = note[1] if note and note[1] else topic
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
    table = item_table(lib, encoder or _default_encoder)
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


def _default_encoder() -> Any:
    from core.search import default_encoder

    return default_encoder()


# ----------------------------------------------------------------------------- scoring


def content_affinity(
    content: NDArray[Any],
    history_rows: Sequence[int] | NDArray[np.integer[Any]],
    engagement: Sequence[float] | NDArray[Any],
) -> NDArray[np.float64]:
    """Cosine of every item to the user's recent taste in content space.

    Taste = the mean of the last :data:`AFFINITY_HISTORY` viewed items' unit content vectors,
    weighted by engagement / 5 and by :data:`AFFINITY_DECAY` per step back in time.

    Args:
        content: ``[n, dim]`` unit content vectors of the candidates and history items.
        history_rows: Rows of the viewed items, oldest first.
        engagement: Engagement bucket (1..5) of each viewing.

    Returns:
        ``[n]`` affinities (0 with no history).
    """
    vectors = np.asarray(content)
    rows = np.asarray(history_rows, dtype=np.int64)[-AFFINITY_HISTORY:]
    if rows.size == 0:
        return np.zeros(vectors.shape[0], dtype=np.float64)
    eng = np.asarray(engagement, dtype=np.float64)[-AFFINITY_HISTORY:]
    weights = (eng / 5.0) * AFFINITY_DECAY ** np.arange(rows.size)[::-1]
    weights /= max(float(weights.sum()), 1e-12)
    taste = weights @ vectors[rows].astype(np.float64)
    return np.asarray(vectors @ taste.astype(vectors.dtype), dtype=np.float64)


# ----------------------------------------------------------------------------- home


_reps: OrderedDict[tuple[str, str, int], F32] = OrderedDict()
_blas: list[Any] = []


def _one_blas_thread() -> AbstractContextManager[object]:
    """Run numpy's BLAS on one thread for the duration of a request, when we can.

    The products here are small (10k x 384 at most); OpenBLAS splitting them over threads on a
    busy 2-core machine costs ~10 ms of thread hand-off per call (measured with
    ``bench/recommend.py``). ``threadpoolctl`` is optional: without it nothing changes.
    """
    with _cache_lock:
        if not _blas:
            try:
                # By name: an optional package without type information.
                _blas.append(importlib.import_module("threadpoolctl").ThreadpoolController())
            except ImportError:
                _blas.append(None)
        controller = _blas[0]
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")  # type: ignore[no-any-return]


def topic_blend(
    prob: NDArray[np.float64],
    topic_codes: NDArray[np.int64],
    recent_share: NDArray[np.float64],
    p_continue: float,
) -> NDArray[np.float64]:
    """Re-weight the item head's next-item distribution by topic with the continue intent.

    Hierarchically, ``P(item) = P(topic) x P(item | topic)``. The item head gives both, but
    its topic mass ``M(T)`` is unreliable on library content (the ML-100K-trained head has a
    history-independent per-item bias; docs/recsys.md). The model's ``continue`` intent is
    what the app reads as "the next item shares the topic of recent viewings", so the topic
    distribution becomes ``P(T) = p_continue x R(T) + (1 - p_continue) x M(T)`` with ``R`` the
    recent topic shares (restricted to topics that still have candidates, normalised), and
    ``P(item | T)`` stays the item head's. With no recent share left, nothing changes.

    Args:
        prob: ``[n]`` item-head probabilities (0 for non-candidates), summing to 1.
        topic_codes: ``[n]`` topic code of each item.
        recent_share: ``[n_topics]`` non-negative weights of recently watched topics.
        p_continue: The model's P(continue).

    Returns:
        ``[n]`` re-weighted probabilities, summing to 1.
    """
    n_topics = recent_share.shape[0]
    mass = np.bincount(topic_codes, weights=prob, minlength=n_topics)
    recent = np.where(mass > 0, recent_share, 0.0)
    if recent.sum() <= 0 or prob.sum() <= 0:
        return prob
    blended = p_continue * recent / recent.sum() + (1.0 - p_continue) * mass
    ratio = np.divide(blended, mass, out=np.zeros_like(mass), where=mass > 0)
    return np.asarray(prob * ratio[topic_codes], dtype=np.float64)


def _softmax(x: NDArray[np.float64]) -> NDArray[np.float64]:
    if x.size == 0:
        return x
    e = np.exp(x - x.max())
    return np.asarray(e / e.sum(), dtype=np.float64)


class Recommendations:
    """Home rows for one library; cheap to create per request (models and tables are cached)."""

    def __init__(
        self,
        lib: Library,
        *,
        model_dir: Path | None = None,
        encoder: Any = None,
        tz: tzinfo | None = None,
        threads: int = 1,
    ) -> None:
        """Bind to a library.

        Args:
            lib: The library.
            model_dir: Recommender directory; :func:`default_model_dir` when None.
            encoder: Text encoder (or factory) for item content; the default MiniLM when None.
            tz: Time zone of "evening" and friends in reasons; the system's when None.
            threads: onnxruntime threads of the recommender.
        """
        self.lib = lib
        self.model_dir = model_dir
        self._encoder = encoder or _default_encoder
        self.tz = tz
        self.threads = threads
        self.state_encodes = 0

    def model(self) -> tuple[Recommender, str]:
        """The recommender and its model id."""
        return load_model(self.model_dir or default_model_dir(self.lib), threads=self.threads)

    def items(self) -> ItemTable:
        """The recommendable items (see :func:`item_table`)."""
        return item_table(self.lib, self._encoder)

    def representations(self, table: ItemTable) -> F32:
        """Item representations under the model (content path), cached per content version."""
        rec, model_id = self.model()
        key = (self.lib.db.path, model_id, table.content_version)
        with _cache_lock:
            hit = _reps.get(key)
        if hit is not None and hit.shape[0] == len(table):
            return hit
        reps = (
            rec.content_representations(table.content)
            if len(table)
            else np.zeros((0, rec.config.d_model), dtype=np.float32)
        )
        with _cache_lock:
            _reps[key] = reps
            while len(_reps) > 4:
                _reps.popitem(last=False)
        return reps

    def state(self, table: ItemTable | None = None) -> tuple[UserState | None, bool]:
        """The user state after the newest event, from ``recommend_state`` when valid.

        Args:
            table: The item table (looked up when None).

        Returns:
            ``(state, cached)``; state is None when no viewing of a current item exists.
        """
        last = ev.last_event_id(self.lib)
        if last == 0:
            return None, False
        table = table if table is not None else self.items()
        rec, model_id = self.model()
        db = self.lib.db
        row = db.query_one(
            "SELECT content_version, state, intent_embedding, intents FROM recommend_state "
            "WHERE last_event_id = ? AND model_id = ?",
            (last, model_id),
        )
        if row is not None and int(row["content_version"]) == table.content_version:
            return (
                UserState(
                    state=np.frombuffer(row["state"], dtype=np.float32).copy(),
                    intent_embedding=np.frombuffer(
                        row["intent_embedding"], dtype=np.float32
                    ).copy(),
                    intents={
                        k: np.asarray(v, dtype=np.float32)
                        for k, v in json.loads(row["intents"]).items()
                    },
                ),
                True,
            )
        index = table.index()
        history = [
            HistoryEvent(v.ts, v.engagement, content=table.content[index[v.media_id]])
            for v in ev.views(self.lib)
            if v.media_id in index
        ]
        if not history:
            return None, False
        state = rec.encode_state(history)
        self.state_encodes += 1
        with db.atomic():
            db.execute("DELETE FROM recommend_state WHERE model_id = ?", (model_id,))
            db.execute(
                "INSERT INTO recommend_state (last_event_id, model_id, content_version, state, "
                "intent_embedding, intents, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    last,
                    model_id,
                    table.content_version,
                    state.state.astype(np.float32).tobytes(),
                    state.intent_embedding.astype(np.float32).tobytes(),
                    json.dumps({k: v.tolist() for k, v in state.intents.items()}),
                    utcnow(),
                ),
            )
        return state, False

    def home(
        self, at: datetime | str | None = None, *, max_rows: int = 6, per_row: int = 10
    ) -> Home:
        """The home rows (see the module docstring).

        Args:
            at: The moment (ISO string or datetime); now when None.
            max_rows: Most rows after "Continue".
            per_row: Most items per row.

        Returns:
            The rows, with the intents and whether the state was cached.
        """
        with _one_blas_thread():
            return self._home(at, max_rows=max_rows, per_row=per_row)

    def _home(self, at: datetime | str | None, *, max_rows: int, per_row: int) -> Home:
        moment = ev.to_utc(at)
        table = self.items()
        if not len(table):
            return Home((), moment.isoformat())
        state, cached = self.state(table)
        if state is None:
            return Home(_cold_rows(table, moment, max_rows, per_row), moment.isoformat())
        rec, _ = self.model()
        scores = rec.score_representations(state, self.representations(table)).astype(np.float64)
        index = table.index()
        history = [v for v in ev.views(self.lib) if v.media_id in index]
        scores += AFFINITY_WEIGHT * content_affinity(
            table.content, [index[v.media_id] for v in history], [v.engagement for v in history]
        )
        builder = _RowBuilder(
            self,
            table,
            state=state,
            scores=scores,
            history=history,
            moment=moment,
            per_row=per_row,
        )
        rows = builder.build(max_rows)
        return Home(
            rows,
            moment.isoformat(),
            model=rec.config.name,
            intents=builder.intent_values,
            state_cached=cached,
        )


# ----------------------------------------------------------------------------- row building


def _duration_text(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))} min" if np.isfinite(seconds) else "unknown length"


class _RowBuilder:
    """Turns one scored request into rows (kept apart so :meth:`Recommendations.home` reads)."""

    def __init__(
        self,
        recs: Recommendations,
        table: ItemTable,
        *,
        state: UserState,
        scores: NDArray[np.float64],
        history: list[ev.View],
        moment: datetime,
        per_row: int,
    ) -> None:
        self.table = table
        self.scores = np.asarray(scores, dtype=np.float64)
        self.moment = moment
        self.per_row = per_row
        self.tz = recs.tz
        self.index = table.index()
        prog = ev.progress(recs.lib)
        self.progress = {m: p for m, p in prog.items() if m in self.index}
        self.finished = {m for m, p in self.progress.items() if p.finished}
        self.in_progress = sorted(
            (p for p in self.progress.values() if not p.finished and p.position > 0),
            key=lambda p: -p.last_ts,
        )
        busy = self.finished | {p.media_id for p in self.in_progress}
        free = np.ones(len(table), dtype=bool)
        free[[self.index[m] for m in busy]] = False
        self.candidates = np.flatnonzero(free).astype(np.int64)
        prob = np.zeros(len(table), dtype=np.float64)
        prob[self.candidates] = _softmax(self.scores[self.candidates])
        self.views = history
        self.prob = topic_blend(
            prob,
            table.topic_codes,
            self._recent_topic_share(),
            float(state.intents["continue"][0]),
        )
        # Watched rows, most recent first (for reasons and "more like").
        self.watched = [
            self.index[m] for m, _ in sorted(self.progress.items(), key=lambda kv: -kv[1].last_ts)
        ]
        p_deep = float(state.intents["quick_deep"][0])
        p_cont = float(state.intents["continue"][0])
        p_new = float(state.intents["new"][0])
        self.intent_values = {
            "quick": 1.0 - p_deep,
            "deep": p_deep,
            "continue": p_cont,
            "discover": 1.0 - p_cont,
            "new": p_new,
        }

    def _recent_topic_share(self) -> NDArray[np.float64]:
        """Topic shares of the recent *finished* viewings (see :func:`topic_blend`).

        The last :data:`AFFINITY_HISTORY` viewings, each older one weighted
        :data:`AFFINITY_DECAY` times less; only finished ones count (an unfinished item is
        offered by "Continue" itself). With nothing finished, every viewing counts, weighted
        by engagement / 5.
        """
        recent = self.views[-AFFINITY_HISTORY:]
        codes = self.table.topic_codes
        share = np.zeros(len(self.table.topic_names), dtype=np.float64)
        finished = [v.completed for v in recent]
        for age, v in enumerate(reversed(recent)):
            if any(finished) and not v.completed:
                continue
            weight = AFFINITY_DECAY**age * (1.0 if any(finished) else v.engagement / 5.0)
            share[codes[self.index[v.media_id]]] += weight
        return share

    # -- reasons --------------------------------------------------------------------------------

    def _local(self, ts: int) -> datetime:
        moment = datetime.fromtimestamp(ts, UTC)
        return moment.astimezone(self.tz) if self.tz is not None else moment.astimezone()

    def _topic_dayparts(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for v in self.views:
            key = (self.table.topics[self.index[v.media_id]], daypart(self._local(v.ts)))
            counts[key] = counts.get(key, 0) + 1
        return counts

    def _nearest_watched(self, row: int, among: Sequence[int] | None = None) -> tuple[int, float]:
        pool = [p for p in (among if among is not None else self.watched) if p != row]
        if not pool:
            return -1, -1.0
        sims = self.table.content[pool] @ self.table.content[row]
        best = int(np.argmax(sims))
        return pool[best], float(sims[best])

    def _because(self, row: int, among: Sequence[int] | None = None) -> str | None:
        near, sim = self._nearest_watched(row, among)
        if near < 0 or sim < BECAUSE_MIN_SIMILARITY:
            return None
        return f"Because you watched {self.table.titles[near]}"

    def _item(self, row: int, reason: str) -> HomeItem:
        return HomeItem(
            self.table.media_ids[row], self.table.titles[row], float(self.scores[row]), reason
        )

    # -- rows -----------------------------------------------------------------------------------

    def _continue_row(self) -> HomeRow | None:
        items = []
        for p in self.in_progress[: self.per_row]:
            row = self.index[p.media_id]
            duration = self.table.durations[row]
            done = f" ({p.position / duration:.0%} watched)" if np.isfinite(duration) else ""
            items.append(self._item(row, f"Continue at {format_timestamp(p.position)}{done}"))
        return HomeRow("Continue", "continue_watching", tuple(items)) if items else None

    def _visible_mass(self, rows: NDArray[np.int64]) -> float:
        """Item-head probability of the row's first :data:`VISIBLE_TILES` items."""
        return float(np.sort(self.prob[rows])[::-1][:VISIBLE_TILES].sum())

    def _ranked(self, rows: NDArray[np.int64]) -> list[int]:
        order = np.argsort(-self.scores[rows], kind="stable")
        return [int(r) for r in rows[order][: self.per_row]]

    def _candidate_rows(self) -> list[tuple[float, str, str, list[int], Callable[[int], str]]]:
        t = self.table
        cands = self.candidates
        out: list[tuple[float, str, str, list[int], Callable[[int], str]]] = []
        local_part = daypart(self._local(int(self.moment.timestamp())))
        habits = self._topic_dayparts()
        quick = t.quick[cands]
        codes = t.topic_codes[cands]

        def topic_reason(length: str) -> Callable[[int], str]:
            def reason(row: int) -> str:
                topic = t.topics[row]
                if habits.get((topic, local_part), 0) > 0:
                    what = "" if topic == GENERAL_TOPIC else f"{topic} "
                    return f"Matches your {what}{local_part}s"
                because = self._because(row)
                if because:
                    return because
                if length == "quick":
                    return f"A quick one: {_duration_text(t.durations[row])}"
                return f"A longer watch: {_duration_text(t.durations[row])}"

            return reason

        for code in np.unique(codes).tolist():
            topic = t.topic_names[code]
            same = codes == code
            for length, mask in (("quick", quick), ("deep", ~quick)):
                rows = cands[same & mask]
                if not rows.size:
                    continue
                label = "Quick picks" if length == "quick" else "Deep dive"
                title = label if topic == GENERAL_TOPIC else f"{label}: {topic}"
                strength = self.intent_values[length] * self._visible_mass(rows)
                out.append(
                    (strength, title, f"{length}:{topic}", self._ranked(rows), topic_reason(length))
                )

        finished_rows = [r for r in self.watched if t.media_ids[r] in self.finished]
        anchors = (finished_rows or self.watched)[:ANCHORS]
        if anchors and cands.size:  # (rows may stay empty: nothing is close enough)
            near: set[int] = set()
            # One pass over the table (no copy of the candidates' vectors per anchor).
            all_sims = t.content @ t.content[anchors].T
            for k in range(len(anchors)):
                sims = all_sims[cands, k]
                best = np.argpartition(-sims, min(NEIGHBOURS_PER_ANCHOR, sims.size) - 1)
                near.update(
                    int(cands[j])
                    for j in best[:NEIGHBOURS_PER_ANCHOR]
                    # Each item here says "Because you watched X", so it needs the similarity
                    # that reason needs elsewhere (a separate 0.25 paired the demo's pancake
                    # recipe with the 1961 inaugural address at cosine 0.27).
                    if sims[j] >= BECAUSE_MIN_SIMILARITY
                )
            rows = np.asarray(sorted(near), dtype=np.int64)
            title = "More like what you finished" if finished_rows else "More like what you watched"

            def more_reason(row: int) -> str:
                near_row, _ = self._nearest_watched(row, anchors)
                return f"Because you watched {t.titles[near_row]}"

            if rows.size:
                strength = self.intent_values["continue"] * self._visible_mass(rows)
                out.append((strength, title, "more_like_finished", self._ranked(rows), more_reason))

        seen_codes = np.unique(t.topic_codes[np.asarray(self.watched, dtype=np.int64)])
        rows = cands[~np.isin(codes, seen_codes)]
        if rows.size:

            def new_topic_reason(row: int) -> str:
                return f"Something different: {t.topics[row]}"

            strength = self.intent_values["discover"] * self._visible_mass(rows)
            out.append(
                (strength, "Something new", "discover", self._ranked(rows), new_topic_reason)
            )

        now = int(self.moment.timestamp())
        fresh = cands[t.added_ts[cands] >= now - NEW_MAX_AGE_DAYS * 86400]
        if fresh.size and fresh.size * 2 <= cands.size:

            def added_reason(row: int) -> str:
                days = max(0, (now - int(t.added_ts[row])) // 86400)
                return "Added today" if days == 0 else f"Added {days} day(s) ago"

            strength = self.intent_values["new"] * self._visible_mass(fresh)
            out.append((strength, "New in your library", "new", self._ranked(fresh), added_reason))
        return out

    def build(self, max_rows: int) -> tuple[HomeRow, ...]:
        rows: list[HomeRow] = []
        first = self._continue_row()
        if first is not None:
            rows.append(first)
        candidates = sorted(self._candidate_rows(), key=lambda c: (-c[0], c[2]))
        # A topic never watched gets "Quick picks: T" / "Deep dive: T" rows and a place in
        # "Something new", so the two repeat each other (in a small library, item for item).
        # Whichever comes first keeps the items: "Something new" leaves out what a row above
        # shows, and a topic row whose items "Something new" above already shows is left out.
        shown: set[int] = set()
        discovered: set[int] = set()
        for strength, title, intent, ranked, reason in candidates:
            if len(rows) - (first is not None) >= max_rows:
                break
            members = ranked
            if intent == "discover":
                members = [r for r in ranked if r not in shown]
                discovered.update(members)
            elif intent.startswith(("quick:", "deep:")) and discovered.issuperset(members):
                continue
            if not members:
                continue
            shown.update(members)
            items = tuple(self._item(r, reason(r)) for r in members)
            rows.append(HomeRow(title, intent, items, strength))
        return tuple(rows)


def _cold_rows(
    table: ItemTable, moment: datetime, max_rows: int, per_row: int
) -> tuple[HomeRow, ...]:
    """Rows with no history: recent items interleaved across topics, then one row per topic.

    No item is shown twice.
    """
    by_topic: dict[str, list[int]] = {}
    for r in np.argsort(-table.added_ts, kind="stable"):
        by_topic.setdefault(table.topics[int(r)], []).append(int(r))
    # Topics with the newest item first, then the larger ones.
    order = sorted(
        by_topic, key=lambda tp: (-table.added_ts[by_topic[tp][0]], -len(by_topic[tp]), tp)
    )
    interleaved: list[int] = []
    depth = 0
    while len(interleaved) < min(per_row, len(table)):
        for tp in order:
            if depth < len(by_topic[tp]):
                interleaved.append(by_topic[tp][depth])
        depth += 1
    now = int(moment.timestamp())

    def item(r: int, reason: str) -> HomeItem:
        return HomeItem(table.media_ids[r], table.titles[r], 0.0, reason)

    def added(r: int) -> str:
        days = max(0, (now - int(table.added_ts[r])) // 86400)
        when = "today" if days == 0 else f"{days} day(s) ago"
        return f"New in your library ({table.topics[r]}, added {when})"

    recent = interleaved[:per_row]
    rows = [HomeRow("Recently added", "recent", tuple(item(r, added(r)) for r in recent))]
    # Topic rows hold what the rows above do not show: in a small library "Recently added"
    # already holds everything, and a row repeating one of its items would only add noise.
    shown = set(recent)
    for tp in sorted(by_topic, key=lambda tp: (-len(by_topic[tp]), tp)):
        if len(rows) >= max_rows:
            break
        members = [r for r in by_topic[tp] if r not in shown][:per_row]
        if not members:
            continue
        shown.update(members)
        n = len(by_topic[tp])
        title = "More to explore" if tp == GENERAL_TOPIC else f"Explore: {tp}"
        reason = f"{tp}: {n} items in your library" if n > 1 else f"Your one {tp} item"
        rows.append(HomeRow(title, f"topic:{tp}", tuple(item(r, reason) for r in members)))
    return tuple(rows)


def home(
    lib: Library,
    at: datetime | str | None = None,
    *,
    model_dir: Path | None = None,
    encoder: Any = None,
    tz: tzinfo | None = None,
    max_rows: int = 6,
    per_row: int = 10,
) -> Home:
    """The home rows of a library (convenience wrapper of :class:`Recommendations`)."""
    recs = Recommendations(lib, model_dir=model_dir, encoder=encoder, tz=tz)
    return recs.home(at, max_rows=max_rows, per_row=per_row)
