"""Home's rows from one scored request: what each row holds, in which order, and why.

Rows: "Continue" (started, not finished, most recent first) always comes first. Then the
candidate rows compete on strength, ``P(intent) ** INTENT_EXPONENT`` x the score-softmax mass
of the row's first :data:`~core.recommend.home.ranking.VISIBLE_TILES` items
(:mod:`core.recommend.home.ranking`), and are filled strongest first:

* one row per topic, "T" (``topic:T``), split into "Quick picks: T" (``quick:T``, shorter than
  10 minutes) and "Deep dive: T" (``deep:T``) when each part has at least
  :data:`MIN_ROW_ITEMS` items;
* "More like what you finished" (``more_like_finished``): the nearest neighbours by content
  (cosine >= :data:`BECAUSE_MIN_SIMILARITY`) of the last finished items;
* "Something new" (``discover``): topics never watched;
* "New in your library" (``new``): added in the last 14 days, only when that is at most half of
  the candidates.

Every item appears at most once on the page: a row takes the items of its ranking that no row
above shows; a row left with fewer than :data:`MIN_ROW_ITEMS` items is dropped and its items
go to a last row, "More to explore". A finished item is never offered, nor one stopped within
:data:`DONE_LEFT_SHARE` of its end (it is finished in all but the ``complete`` event). With no
history at all the rows are the most recent items interleaved across topics, then one row per
topic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.recommend import events as ev
from core.recommend.home import ranking as rk
from core.recommend.home.items import GENERAL_TOPIC, NEW_MAX_AGE_DAYS, ItemTable
from core.transcript import format_timestamp

# MiniLM cosine above which "Because you watched X" is a fair reason.
BECAUSE_MIN_SIMILARITY = 0.3
# Neighbours per finished item in "More like what you finished".
NEIGHBOURS_PER_ANCHOR = 3
# A row shows at least this many cards; a single card is no row.
MIN_ROW_ITEMS = 2
# Stopped with at most this share (or COMPLETE_TOLERANCE_SECONDS) left: finished.
DONE_LEFT_SHARE = 0.02


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


# ----------------------------------------------------------------------------- requests


def is_done(p: ev.ItemProgress, duration: float) -> bool:
    """Finished, or stopped so near the end that nothing is left to continue."""
    if p.finished:
        return True
    if not math.isfinite(duration) or duration <= 0:
        return False
    left = duration - p.position
    return left <= max(ev.COMPLETE_TOLERANCE_SECONDS, DONE_LEFT_SHARE * duration)


@dataclass(frozen=True)
class Request:
    """Everything one Home request is built from (no database: the benchmark builds these too).

    Attributes:
        table: The recommendable items.
        model_scores: ``[n]`` item-head logit + affinity term of every item.
        intents: The model's intents, value name -> probability (quick, deep, continue,
            discover, new).
        views: The log's viewings, oldest first.
        progress: Per item, where the user is.
        moment: The request's time (UTC).
        tz: Local time zone of dayparts (the system's when None).
    """

    table: ItemTable
    model_scores: NDArray[np.float64]
    intents: Mapping[str, float]
    views: Sequence[ev.View]
    progress: Mapping[int, ev.ItemProgress]
    moment: datetime
    tz: tzinfo | None = None


@dataclass
class _Candidate:
    strength: float
    title: str
    intent: str
    members: NDArray[np.int64]
    reason: Callable[[int], str]


def _duration_text(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))} min" if np.isfinite(seconds) else "unknown length"


class RowBuilder:
    """Turns one :class:`Request` into rows (see the module docstring)."""

    def __init__(
        self,
        request: Request,
        *,
        per_row: int,
        weights: Mapping[str, float] = rk.WEIGHTS,
        intent_exponent: float = rk.INTENT_EXPONENT,
    ) -> None:
        """Score the request's candidates.

        Args:
            request: The request.
            per_row: Most items per row.
            weights: Ranking weights (:data:`core.recommend.home.ranking.WEIGHTS`).
            intent_exponent: Exponent of P(intent) in row strength.
        """
        t = self.table = request.table
        self.moment = request.moment
        self.per_row = per_row
        self.tz = request.tz
        self.intent_exponent = intent_exponent
        self.row_priors = {
            "more_like_finished": float(weights.get("row_more_like", 1.0)),
            "discover": float(weights.get("row_discover", 1.0)),
        }
        self.index = index = t.index()
        self.progress = {m: p for m, p in request.progress.items() if m in index}
        self.finished = {
            m for m, p in self.progress.items() if is_done(p, float(t.durations[index[m]]))
        }
        self.in_progress = sorted(
            (p for m, p in self.progress.items() if m not in self.finished and p.position > 0),
            key=lambda p: -p.last_ts,
        )
        busy = self.finished | {p.media_id for p in self.in_progress}
        free = np.ones(len(t), dtype=bool)
        free[[index[m] for m in busy]] = False
        self.candidates = np.flatnonzero(free).astype(np.int64)
        self.viewings = rk.viewings_of(request.views, index, self.finished)
        # Watched rows, most recent first (for reasons and "more like").
        self.watched = [
            index[m] for m, _ in sorted(self.progress.items(), key=lambda kv: -kv[1].last_ts)
        ]
        finished_rows = [r for r in self.watched if t.media_ids[r] in self.finished]
        self.anchors = (finished_rows or self.watched)[: rk.ANCHORS]
        self.anchors_finished = bool(finished_rows)
        self.now_part = rk.daypart(rk.local_time(int(self.moment.timestamp()), self.tz))
        self.viewing_parts = [rk.daypart(rk.local_time(v.ts, self.tz)) for v in self.viewings]
        # One product over the table for "near", "More like" and the reasons.
        self.anchor_sims = t.content @ t.content[np.asarray(self.anchors, dtype=np.int64)].T
        self.watched_content = t.content[np.asarray(self.watched, dtype=np.int64)]
        self.features = rk.features(
            topic_codes=t.topic_codes,
            n_topics=len(t.topic_names),
            quick=t.quick,
            model_scores=np.asarray(request.model_scores, dtype=np.float64),
            candidates=self.candidates,
            viewings=self.viewings,
            viewing_parts=self.viewing_parts,
            anchor_sims=self.anchor_sims,
            now_part=self.now_part,
        )
        # Items that are no candidates ("Continue") keep the model's own score.
        self.scores = np.asarray(request.model_scores, dtype=np.float64).copy()
        self.prob = np.zeros(len(t), dtype=np.float64)
        if self.candidates.size:
            self.scores[self.candidates] = rk.combine(self.features, weights)
            self.prob[self.candidates] = rk.softmax(self.scores[self.candidates])
        self.intent_values = dict(request.intents)

    # -- reasons --------------------------------------------------------------------------------

    def _topic_dayparts(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for v, part in zip(self.viewings, self.viewing_parts, strict=True):
            key = (self.table.topics[v.row], part)
            counts[key] = counts.get(key, 0) + 1
        return counts

    def _nearest_watched(self, row: int, among: Sequence[int] | None = None) -> tuple[int, float]:
        if among is None:
            pool, sims = self.watched, self.watched_content @ self.table.content[row]
        else:
            pool = list(among)
            sims = self.table.content[pool] @ self.table.content[row]
        sims = np.where(np.asarray(pool) == row, -np.inf, sims) if pool else sims
        if not pool or not np.isfinite(sims).any():
            return -1, -1.0
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

    def _strength(self, intent: str, rows: NDArray[np.int64]) -> float:
        p_rows = self.prob[rows]
        if p_rows.size > rk.VISIBLE_TILES:
            p_rows = np.partition(p_rows, -rk.VISIBLE_TILES)[-rk.VISIBLE_TILES :]
        mass = float(p_rows.sum())
        p = max(float(self.intent_values.get(intent, 1.0)), 1e-9)
        return float(p**self.intent_exponent * mass)

    def _ranked(self, rows: NDArray[np.int64], limit: int) -> list[int]:
        """The ``limit`` best of ``rows`` by score, best first."""
        scores = -self.scores[rows]
        if rows.size > limit:
            keep = np.argpartition(scores, limit - 1)[:limit]
            rows, scores = rows[keep], scores[keep]
        return list(rows[np.argsort(scores, kind="stable")].tolist())

    def _candidate_rows(self) -> list[_Candidate]:
        t = self.table
        cands = self.candidates
        out: list[_Candidate] = []
        habits = self._topic_dayparts()
        part = self.now_part
        quick = t.quick[cands]
        codes = t.topic_codes[cands]

        def topic_reason(length: str) -> Callable[[int], str]:
            def reason(row: int) -> str:
                topic = t.topics[row]
                if habits.get((topic, part), 0) > 0:
                    what = "" if topic == GENERAL_TOPIC else f"{topic} "
                    return f"Matches your {what}{part}s"
                because = self._because(row)
                if because:
                    return because
                if length == "quick" or (length == "any" and t.quick[row]):
                    return f"A quick one: {_duration_text(t.durations[row])}"
                return f"A longer watch: {_duration_text(t.durations[row])}"

            return reason

        for code in np.unique(codes).tolist():
            topic = t.topic_names[code]
            same = codes == code
            parts = [
                (length, cands[same & mask])
                for length, mask in (("quick", quick), ("deep", ~quick))
            ]
            if min(rows.size for _, rows in parts) < MIN_ROW_ITEMS:
                rows = cands[same]
                title = "Other picks" if topic == GENERAL_TOPIC else topic
                # A merged row is as strong as its stronger length would be.
                strength = max(self._strength(length, rows) for length, _ in parts)
                out.append(_Candidate(strength, title, f"topic:{topic}", rows, topic_reason("any")))
                continue
            for length, rows in parts:
                label = "Quick picks" if length == "quick" else "Deep dive"
                title = label if topic == GENERAL_TOPIC else f"{label}: {topic}"
                out.append(
                    _Candidate(
                        self._strength(length, rows),
                        title,
                        f"{length}:{topic}",
                        rows,
                        topic_reason(length),
                    )
                )

        anchors = self.anchors
        if anchors and cands.size:  # (rows may stay empty: nothing is close enough)
            near: set[int] = set()
            all_sims = self.anchor_sims
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
            title = (
                "More like what you finished"
                if self.anchors_finished
                else "More like what you watched"
            )

            def more_reason(row: int) -> str:
                near_row, _ = self._nearest_watched(row, anchors)
                return f"Because you watched {t.titles[near_row]}"

            if rows.size:
                out.append(
                    _Candidate(
                        self._strength("continue", rows) * self.row_priors["more_like_finished"],
                        title,
                        "more_like_finished",
                        rows,
                        more_reason,
                    )
                )

        seen_codes = np.unique(t.topic_codes[np.asarray(self.watched, dtype=np.int64)])
        rows = cands[~np.isin(codes, seen_codes)]
        if rows.size:

            def new_topic_reason(row: int) -> str:
                return f"Something different: {t.topics[row]}"

            out.append(
                _Candidate(
                    self._strength("discover", rows) * self.row_priors["discover"],
                    "Something new",
                    "discover",
                    rows,
                    new_topic_reason,
                )
            )

        now = int(self.moment.timestamp())
        fresh = cands[t.added_ts[cands] >= now - NEW_MAX_AGE_DAYS * 86400]
        if fresh.size and fresh.size * 2 <= cands.size:

            def added_reason(row: int) -> str:
                days = max(0, (now - int(t.added_ts[row])) // 86400)
                return "Added today" if days == 0 else f"Added {days} day(s) ago"

            out.append(
                _Candidate(
                    self._strength("new", fresh),
                    "New in your library",
                    "new",
                    fresh,
                    added_reason,
                )
            )
        return out

    def build(self, max_rows: int) -> tuple[HomeRow, ...]:
        """The rows, "Continue" first, each item once (see the module docstring).

        Rows take their items in turns, strongest row first: each takes its best item that no
        row shows yet, round after round, so a strong row cannot empty a weaker one that shares
        its items (in a small library the topic rows, "More like what you finished" and
        "Something new" all want the same few items).
        """
        rows: list[HomeRow] = []
        first = self._continue_row()
        shown: set[int] = set()
        if first is not None:
            rows.append(first)
            shown.update(self.index[i.media_id] for i in first.items)
        candidates = sorted(self._candidate_rows(), key=lambda c: (-c.strength, c.intent))
        # A row can lose at most what the rows before it take: rank only that far.
        limit = self.per_row * (len(candidates) + 2)
        ranking = [self._ranked(c.members, limit) for c in candidates]
        taken: list[list[int]] = [[] for _ in candidates]
        cursor = [0] * len(candidates)
        active = list(range(len(candidates)))
        while active:
            still = []
            for k in active:
                ranked = ranking[k]
                while cursor[k] < len(ranked) and ranked[cursor[k]] in shown:
                    cursor[k] += 1
                if cursor[k] >= len(ranked):
                    continue
                taken[k].append(ranked[cursor[k]])
                shown.add(ranked[cursor[k]])
                if len(taken[k]) < self.per_row:
                    still.append(k)
            active = still
        leftovers: list[int] = []
        for c, members in zip(candidates, taken, strict=True):
            if len(members) < MIN_ROW_ITEMS or len(rows) - (first is not None) >= max_rows:
                leftovers.extend(members)
                continue
            items = tuple(self._item(r, c.reason(r)) for r in members)
            rows.append(HomeRow(c.title, c.intent, items, c.strength))
        rest = sorted(leftovers, key=lambda r: -self.scores[r])[: self.per_row]
        # A single card is no row, unless it is all there is to offer: a Home with nothing
        # but "Continue" (or nothing at all) while an unseen item waits would hide it.
        alone = len(rows) == (first is not None)
        if (
            rest
            and (len(rest) >= MIN_ROW_ITEMS or alone)
            and len(rows) - (first is not None) < max_rows
        ):
            rows.append(
                HomeRow(
                    "More to explore",
                    "more",
                    tuple(self._item(r, self._leftover_reason(r)) for r in rest),
                )
            )
        return tuple(rows)

    def _leftover_reason(self, row: int) -> str:
        return (
            self._because(row)
            or f"{self.table.topics[row]}: {_duration_text(self.table.durations[row])}"
        )


def cold_rows(
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
