"""The Home rules of ``core/recommend/home.py`` before issue 22, kept as the benchmark's peer.

A frozen copy of ``_RowBuilder`` and ``topic_blend`` at commit 3b6cb43 (the topic blend with the
model's P(continue), per-topic quick / deep rows, "Something new" de-duplicated against the rows
above only), adapted to take a :class:`core.recommend.home.Request` instead of a library. Its
topics are the old ones too: an item's leading topic tag whatever its confidence, else the
content's nearest taxonomy topic (:func:`old_topic`). ``python -m bench.home`` runs it beside the
current rows on the same requests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from core.recommend.home import (
    AFFINITY_DECAY,
    AFFINITY_HISTORY,
    BECAUSE_MIN_SIMILARITY,
    GENERAL_TOPIC,
    NEW_MAX_AGE_DAYS,
    TOPIC_MIN_SIMILARITY,
    HomeItem,
    HomeRow,
    Request,
    daypart,
)
from core.transcript import format_timestamp

VISIBLE_TILES = 3
NEIGHBOURS_PER_ANCHOR = 3
ANCHORS = 5


def old_topic(tag: str | None, nearest: str, similarity: float) -> str:
    """The topic the old rules gave an item: its leading tag, else the nearest topic."""
    if tag is not None:
        return tag
    return nearest if similarity >= TOPIC_MIN_SIMILARITY else GENERAL_TOPIC


def _duration_text(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))} min" if np.isfinite(seconds) else "unknown length"


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


class RulesRowBuilder:
    """The rows of ``core/recommend/home.py`` at 3b6cb43, on a :class:`Request`."""

    def __init__(self, request: Request, *, per_row: int) -> None:
        table = self.table = request.table
        self.scores = np.asarray(request.model_scores, dtype=np.float64)
        self.moment = request.moment
        self.per_row = per_row
        self.tz = request.tz
        self.index = table.index()
        prog = request.progress
        history = list(request.views)
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
            float(request.intents["continue"]),
        )
        # Watched rows, most recent first (for reasons and "more like").
        self.watched = [
            self.index[m] for m, _ in sorted(self.progress.items(), key=lambda kv: -kv[1].last_ts)
        ]
        self.intent_values = dict(request.intents)

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
