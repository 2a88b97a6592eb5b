"""Home over many simulated users and libraries: the learned rows against the rules they replace.

Run ``python -m bench.home [--scenarios 400] [--json]`` (report) or ``--tune`` (choose the
ranking weights of ``core.recommend.home.ranking`` on the tuning seeds). Every scenario is one
Home request built from the shared data, run through the real app recommender
(``core/data/recsys/shipped-app``, onnxruntime, 1 thread) and given to both row builders:

* **learned**: :class:`core.recommend.home.RowBuilder` (this tree), with its topics
  (:func:`core.recommend.home.items.resolve_topic`);
* **rules**: the rows before issue 22 (:mod:`bench.home_rules`), with the old topics.

Families of scenarios (``--family``):

* ``bbc``: a library of 30-500 BBC News articles (``topics/bbc_news``; 5 editor labels) with a
  random topic mix, a share of quick (2-9 min) items, and topic tags as the annotator would leave
  them: a share reviewed (right), the rest machine tags right with probability 0.6-0.9 (wrong ones
  are the article's most similar other taxonomy topic, with lower confidence) or none. A
  simulated user has a preferred part of the day, a topic taste per part of the day, a length
  taste and some pull towards what they just finished; they watch 3-25 items over days (80%
  finished, the rest stopped part-way), and the target is the next item they will finish, at
  the next request's part of the day.
* ``ml100k``: a real MovieLens user's last 20 ratings before their last one (each a finished
  viewing at the rating's real time), in a library of 300 random films plus those; the target
  is their real last film (the app model's test event, not trained on). Topics are the films'
  first genre; no lengths.

Metrics (per family, over the report seeds): the target among the first 5 cards of the first
intent row (the first row after "Continue"), anywhere in that row, anywhere on the page; the
share of requests whose first intent row starts with an item of the user's dominant topic at
that part of the day (most finished there; true topics); requests with an item in two rows, a
finished item on the page, a row of one card.

Split: scenarios ``0 .. n-1`` are the **tuning** seeds (``--tune`` reads only them) and draw
their BBC libraries from the even-numbered articles and their MovieLens users from the
even-numbered users; ``100000 + k`` are the **report** seeds, drawn from the odd-numbered ones.
The weights in ``core.recommend.home.ranking`` came from ``--tune``; no report article or user
was seen in tuning.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from bench.data import REPO, shared_data
from bench.home_rules import RulesRowBuilder, old_topic
from core.recommend import events as ev
from core.recommend.home import (
    AFFINITY_WEIGHT,
    SHIPPED_APP_DIR,
    ItemTable,
    Request,
    RowBuilder,
    content_affinity,
    load_model,
)
from core.recommend.home import ranking as rk
from core.recommend.home.items import TopicTag, resolve_topic
from core.recommend.home.service import intent_values
from core.recommend.scorer import HistoryEvent

CACHE = REPO / ".cache" / "bench-home"
REPORT_SEED0 = 100_000
BBC_LABELS = {
    "business": "Business & Finance",
    "entertainment": "Entertainment",
    "politics": "News & Politics",
    "sport": "Sports",
    "tech": "Technology",
}
DAYPART_HOURS = {"morning": (6, 11), "afternoon": (12, 16), "evening": (17, 21), "night": (22, 23)}
PARTS = tuple(DAYPART_HOURS)
T0 = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp())


# ----------------------------------------------------------------------------- worlds


@dataclass
class World:
    """Items a family draws libraries from: content, true topic, nearest taxonomy topic."""

    titles: list[str]
    content: np.ndarray
    truth: list[str]
    nearest: list[str]
    nearest_sim: np.ndarray
    confusable: list[str]


def bbc_world(encoder: Any) -> World:
    """BBC articles embedded as Home embeds an untagged item (title + ~400 characters)."""
    from bench.annotation import read_bbc
    from core.annotate.classify import label_space
    from core.recommend.home.items import TEXT_PREFIX_CHARS

    articles = read_bbc(shared_data("topics", "bbc_news", "bbc-fulltext.zip"))
    texts = []
    for a in articles:
        body = " ".join(a.paragraphs)
        if len(body) > TEXT_PREFIX_CHARS:
            body = body[:TEXT_PREFIX_CHARS].rsplit(" ", 1)[0]
        texts.append(f"{a.title}. {body}")
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"bbc-{digest}.npz"
    if path.is_file():
        data = np.load(path)
        vectors, sims = data["vectors"], data["sims"]
    else:
        vectors = np.asarray(encoder.encode(texts), dtype=np.float32)
        sims = np.asarray(label_space("topic", encoder).scores(vectors), dtype=np.float64)
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(path, vectors=vectors, sims=sims)
    labels = list(label_space("topic", encoder).labels)
    best = sims.argmax(axis=1)
    truth = [a.label for a in articles]
    confusable = []
    for i, gold in enumerate(truth):
        order = np.argsort(-sims[i])
        confusable.append(next(labels[j] for j in order if labels[j] != gold))
    return World(
        [a.title for a in articles],
        vectors,
        truth,
        [labels[b] for b in best],
        sims[np.arange(len(best)), best],
        confusable,
    )


@dataclass
class Ml100k:
    """ML-100K users (events ordered as the app model's split: ties by item id)."""

    titles: list[str]
    content: np.ndarray
    genre: list[str]
    users: list[tuple[np.ndarray, np.ndarray]]


def ml_world() -> Ml100k:
    """Films with the app model's own MiniLM content vectors, and users with ≥ 8 ratings."""
    data_dir = shared_data("ml-100k")
    genres = [
        line.split("|")[0]
        for line in (data_dir / "u.genre").read_text(encoding="latin-1").splitlines()
        if line.strip()
    ]
    titles, first = [], []
    for line in (data_dir / "u.item").read_text(encoding="latin-1").splitlines():
        if not line.strip():
            continue
        parts = line.split("|")
        titles.append(parts[1])
        flags = [p == "1" for p in parts[5 : 5 + len(genres)]]
        named = [g for g, f in zip(genres, flags, strict=True) if f and g != "unknown"]
        first.append(named[0] if named else "General")
    items = np.load(SHIPPED_APP_DIR / "items.npz")
    order = np.argsort(items["ids"].astype(np.int64))
    content = items["content"][order].astype(np.float32)
    raw = np.loadtxt(data_dir / "u.data", dtype=np.int64, ndmin=2)
    raw = raw[np.lexsort((raw[:, 1], raw[:, 3], raw[:, 0]))]
    users = []
    for u in np.unique(raw[:, 0]):
        rows = raw[raw[:, 0] == u]
        if rows.shape[0] >= 8:
            users.append((rows[:, 1] - 1, rows[:, 3]))
    return Ml100k(titles, content, first, users)


# ----------------------------------------------------------------------------- scenarios


@dataclass
class Scenario:
    """One request, as both row builders see it, with what the user does next."""

    family: str
    seed: int
    new: Request
    old: Request
    target: int
    truth: list[str]
    dominant: str
    finished: set[int]


def _views(
    picks: Sequence[tuple[int, int, float, bool]], durations: np.ndarray
) -> tuple[list[ev.View], dict[int, ev.ItemProgress]]:
    """Views and progress of ``(row, ts, position, finished)`` viewings (media id = row + 1)."""
    views, progress = [], {}
    for k, (row, ts, position, done) in enumerate(picks):
        duration = float(durations[row])
        end = ts + max(60, int(position))
        views.append(
            ev.View(
                media_id=row + 1,
                session_id=k + 1,
                ts=ts,
                last_ts=end,
                last_event_id=k + 1,
                position=position,
                max_position=position,
                completed=done,
                engagement=ev.engagement_bucket(
                    position, duration if np.isfinite(duration) else None, done
                ),
            )
        )
        progress[row + 1] = ev.ItemProgress(row + 1, position, end, done)
    return views, progress


def _request(
    rec: Any,
    table: ItemTable,
    views: list[ev.View],
    progress: dict[int, ev.ItemProgress],
    moment: datetime,
) -> Request:
    history = [
        HistoryEvent(v.ts, v.engagement, content=table.content[v.media_id - 1]) for v in views
    ]
    state = rec.encode_state(history)
    scores = rec.score_representations(state, rec.content_representations(table.content))
    scores = scores.astype(np.float64) + AFFINITY_WEIGHT * content_affinity(
        table.content, [v.media_id - 1 for v in views], [v.engagement for v in views]
    )
    return Request(table, scores, intent_values(state), views, progress, moment, UTC)


def _table(
    titles: list[str], content: np.ndarray, topics: list[str], durations: np.ndarray, added: Any
) -> ItemTable:
    n = len(titles)
    return ItemTable(
        media_ids=tuple(range(1, n + 1)),
        titles=tuple(titles),
        durations=durations,
        added_ts=np.asarray(added, dtype=np.int64),
        topics=tuple(topics),
        content=np.ascontiguousarray(content, dtype=np.float32),
        content_version=1,
    )


def _dominant(truth: list[str], picks: Sequence[tuple[int, int, float, bool]], part: str) -> str:
    def counts(same_part: bool) -> Counter[str]:
        return Counter(
            truth[row]
            for row, ts, _, done in picks
            if done and (not same_part or rk.daypart(datetime.fromtimestamp(ts, UTC)) == part)
        )

    c = counts(True) or counts(False)
    return c.most_common(1)[0][0] if c else ""


def pool_half(seed: int) -> int:
    """0 for tuning seeds, 1 for report seeds: the half of the articles or users drawn from."""
    return int(seed >= REPORT_SEED0)


def bbc_scenario(world: World, rec: Any, seed: int) -> Scenario:
    """A simulated library and user from the BBC articles (see the module docstring)."""
    rng = np.random.default_rng(seed)
    classes = sorted(set(world.truth))
    half = pool_half(seed)
    by_class = {
        c: [i for i, t in enumerate(world.truth) if t == c and i % 2 == half] for c in classes
    }
    n = int(rng.choice([30, 80, 200, 500]))
    mix = rng.dirichlet(np.full(len(classes), float(rng.choice([0.5, 2.0]))))
    counts = rng.multinomial(n, mix)
    idx = np.concatenate(
        [
            rng.choice(by_class[c], size=min(k, len(by_class[c])), replace=False)
            for c, k in zip(classes, counts, strict=True)
            if k
        ]
    ).astype(np.int64)
    rng.shuffle(idx)
    n = idx.size
    content = world.content[idx]
    truth = [world.truth[i] for i in idx]
    quick_share = float(rng.choice([0.3, 0.6, 0.85]))
    is_quick = rng.random(n) < quick_share
    durations = np.where(is_quick, rng.uniform(120, 540, n), rng.uniform(720, 3600, n))
    added = np.full(n, T0 - 60 * 86400)
    if rng.random() < 0.5:
        fresh = rng.random(n) < 0.2
        added[fresh] = T0 - rng.integers(0, 10, fresh.sum()) * 86400
    # Tags as the annotator and a reviewer leave them.
    accuracy = float(rng.choice([0.6, 0.75, 0.9]))
    reviewed = float(rng.choice([0.0, 0.1, 0.3]))
    untagged = float(rng.choice([0.0, 0.3, 1.0]))
    new_topics, old_topics = [], []
    for k, i in enumerate(idx):
        u = rng.random()
        tag: TopicTag | None
        if u < reviewed:
            tag = TopicTag(truth[k], 1.0, True)
        elif u < reviewed + untagged * (1 - reviewed):
            tag = None
        elif rng.random() < accuracy:
            tag = TopicTag(truth[k], float(rng.uniform(0.4, 0.95)), False)
        else:
            tag = TopicTag(world.confusable[i], float(rng.uniform(0.2, 0.65)), False)
        sim = float(world.nearest_sim[i])
        new_topics.append(resolve_topic(tag, world.nearest[i], sim))
        old_topics.append(old_topic(tag.value if tag else None, world.nearest[i], sim))
    # The user.
    part_taste = rng.dirichlet(np.full(4, 0.5))
    part_taste[PARTS.index("evening")] += 1.0
    part_taste /= part_taste.sum()
    present = sorted(set(truth))
    taste = {
        p: dict(zip(present, rng.dirichlet(np.full(len(present), 0.4)), strict=True)) for p in PARTS
    }
    likes_quick = float(rng.uniform(0.1, 0.9))
    pull = float(rng.choice([0.0, 4.0]))
    viewed: set[int] = set()
    picks: list[tuple[int, int, float, bool]] = []

    def choose(part: str) -> int:
        free = np.asarray([r for r in range(n) if r not in viewed], dtype=np.int64)
        logit = np.log([taste[part][truth[r]] + 1e-3 for r in free])
        logit += np.log(np.where(is_quick[free], likes_quick, 1 - likes_quick))
        done = [r for r, _, _, f in picks if f]
        if done and pull:
            logit += pull * (content[free] @ content[done[-1]])
        logit += rng.gumbel(size=free.size)
        return int(free[int(np.argmax(logit))])

    def moment(day: int, part: str) -> int:
        lo, hi = DAYPART_HOURS[part]
        return T0 + day * 86400 + int(rng.integers(lo, hi + 1)) * 3600 + int(rng.integers(0, 3000))

    history = int(rng.choice([3, 6, 12, 25]))
    day = 0
    for _ in range(min(history, n - 3)):
        day += int(rng.integers(0, 2))
        part = str(rng.choice(PARTS, p=part_taste))
        row = choose(part)
        viewed.add(row)
        done = rng.random() < 0.8
        position = float(durations[row]) if done else float(rng.uniform(0.2, 0.8) * durations[row])
        picks.append((row, moment(day, part), position, done))
        day += 0 if rng.random() < 0.5 else 1
    part = str(rng.choice(PARTS, p=part_taste))
    at = datetime.fromtimestamp(moment(day + 1, part), UTC)
    target = choose(part)
    views, progress = _views(picks, durations)
    titles = [world.titles[i] for i in idx]
    new = _request(rec, _table(titles, content, new_topics, durations, added), views, progress, at)
    old_table = _table(titles, content, old_topics, durations, added)
    old = Request(old_table, new.model_scores, new.intents, views, progress, at, UTC)
    finished = {r for r, _, _, f in picks if f}
    return Scenario("bbc", seed, new, old, target, truth, _dominant(truth, picks, part), finished)


def ml_scenario(world: Ml100k, rec: Any, seed: int) -> Scenario:
    """A real ML-100K user's last 20 ratings and their real next film (module docstring)."""
    rng = np.random.default_rng(seed)
    users = world.users[pool_half(seed) :: 2]
    items, stamps = users[int(rng.integers(len(users)))]
    target_item = int(items[-1])
    history = items[:-1][-20:]
    hist_ts = stamps[:-1][-20:]
    others = np.setdiff1d(np.arange(len(world.titles)), np.append(history, target_item))
    library = np.concatenate([history, [target_item], rng.choice(others, 300, replace=False)])
    library = np.unique(library)
    rng.shuffle(library)
    row_of = {int(m): r for r, m in enumerate(library)}
    n = library.size
    content = world.content[library]
    truth = [world.genre[m] for m in library]
    durations = np.full(n, 6000.0)
    picks = [(row_of[int(m)], int(t), 6000.0, True) for m, t in zip(history, hist_ts, strict=True)]
    views, progress = _views(picks, durations)
    at = datetime.fromtimestamp(int(stamps[-1]), UTC)
    titles = [world.titles[m] for m in library]
    table = _table(titles, content, truth, durations, np.full(n, int(stamps[0]) - 86400 * 60))
    new = _request(rec, table, views, progress, at)
    part = rk.daypart(at)
    return Scenario(
        "ml100k",
        seed,
        new,
        new,
        row_of[target_item],
        truth,
        _dominant(truth, picks, part),
        {r for r, *_ in picks},
    )


# ----------------------------------------------------------------------------- metrics


def _metrics(rows: Sequence[Any], s: Scenario) -> dict[str, float]:
    table = s.new.table
    intent_rows = [r for r in rows if r.intent != "continue_watching"]
    first = [table.index()[i.media_id] for i in intent_rows[0].items] if intent_rows else []
    page = [table.index()[i.media_id] for r in intent_rows for i in r.items]
    every = [i.media_id for r in rows for i in r.items]
    return {
        "row1_hit5": float(s.target in first[:5]),
        "row1_hit": float(s.target in first),
        "page_hit": float(s.target in page),
        "leads_dominant": float(bool(first) and s.truth[first[0]] == s.dominant),
        "repeats": float(len(every) != len(set(every))),
        "finished_back": float(any(table.index()[m] in s.finished for m in every)),
        "single_card_rows": float(
            any(len(r.items) == 1 for r in rows if r.intent != "continue_watching")
        ),
    }


POLICIES: dict[str, Callable[[Scenario, dict[str, float] | None, float | None], Any]] = {
    "learned": lambda s, w, e: RowBuilder(
        s.new,
        per_row=10,
        weights=w or rk.WEIGHTS,
        intent_exponent=rk.INTENT_EXPONENT if e is None else e,
    ).build(6),
    "rules": lambda s, w, e: RulesRowBuilder(s.old, per_row=10).build(6),
    # Ablation: this tree's rows ranked by the model's score alone (no learned weights).
    "model_only": lambda s, w, e: RowBuilder(
        s.new, per_row=10, weights={"model": 1.0}, intent_exponent=rk.INTENT_EXPONENT
    ).build(6),
}


def evaluate(
    scenarios: Sequence[Scenario],
    policy: str,
    weights: dict[str, float] | None = None,
    exponent: float | None = None,
) -> dict[str, float]:
    """Mean metrics of one policy over scenarios."""
    rows = [_metrics(POLICIES[policy](s, weights, exponent), s) for s in scenarios]
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def objective(m: dict[str, float]) -> float:
    """What tuning maximises: the next finished item in the first row, then on the page."""
    return m["row1_hit5"] + 0.5 * m["row1_hit"] + 0.25 * m["page_hit"]


GRID = {
    "model": [0.0, 0.5, 1.0, 2.0],
    "topic": [0.0, 1.0, 2.0, 4.0, 8.0],
    "daypart": [0.0, 1.0, 2.0, 4.0, 8.0],
    "near": [0.0, 2.0, 4.0, 8.0, 16.0],
    "length": [0.0, 0.5, 1.0, 2.0],
    "exponent": [0.0, 0.5, 1.0],
    "row_more_like": [0.5, 1.0, 2.0, 4.0, 8.0],
    "row_discover": [0.5, 1.0, 2.0],
}


def robust_objective(
    scenarios: Sequence[Scenario], weights: dict[str, float], exponent: float
) -> float:
    """The worst family's :func:`objective` plus half the mean (the mean breaks ties of the worst).

    Weights must help on every kind of library; among those that keep the worst family where it
    is, the one that helps the others wins.
    """
    families = sorted({s.family for s in scenarios})
    values = [
        objective(evaluate([s for s in scenarios if s.family == f], "learned", weights, exponent))
        for f in families
    ]
    return min(values) + 0.5 * float(np.mean(values))


def tune(scenarios: Sequence[Scenario], passes: int = 2) -> tuple[dict[str, float], float, float]:
    """Coordinate ascent over :data:`GRID` on the tuning scenarios (:func:`robust_objective`)."""
    current = dict(rk.WEIGHTS)
    exponent = rk.INTENT_EXPONENT
    best = robust_objective(scenarios, current, exponent)
    for _ in range(passes):
        for name, values in GRID.items():
            for value in values:
                trial = dict(current)
                e = exponent
                if name == "exponent":
                    e = value
                else:
                    trial[name] = value
                score = robust_objective(scenarios, trial, e)
                if score > best + 1e-9:
                    best, current, exponent = score, trial, e
            print(f"  {name}: {current} exponent {exponent} -> {best:.4f}", flush=True)
    return current, exponent, best


# ----------------------------------------------------------------------------- main


def build(family: str, seeds: Sequence[int], rec: Any, worlds: dict[str, Any]) -> list[Scenario]:
    """The scenarios of one family for the given seeds."""
    if family == "bbc":
        return [bbc_scenario(worlds["bbc"], rec, s) for s in seeds]
    return [ml_scenario(worlds["ml100k"], rec, s) for s in seeds]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=400, help="per family and split")
    parser.add_argument("--family", default="bbc,ml100k")
    parser.add_argument("--tune", action="store_true", help="choose weights on the tuning seeds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from core.search import default_encoder

    rec, model_id = load_model(SHIPPED_APP_DIR, threads=1)
    families = args.family.split(",")
    worlds: dict[str, Any] = {}
    if "bbc" in families:
        worlds["bbc"] = bbc_world(default_encoder())
    if "ml100k" in families:
        worlds["ml100k"] = ml_world()
    out: dict[str, Any] = {
        "model": model_id,
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_before": list(os.getloadavg()),
        "weights": dict(rk.WEIGHTS),
        "intent_exponent": rk.INTENT_EXPONENT,
    }
    if args.tune:
        seeds = range(args.scenarios)
        scenarios = [s for f in families for s in build(f, seeds, rec, worlds)]
        print(f"tuning on {len(scenarios)} scenarios (seeds 0..{args.scenarios - 1})", flush=True)
        weights, exponent, best = tune(scenarios)
        out["tuned"] = {"weights": weights, "exponent": exponent, "objective": best}
        for family in families:
            mine = [s for s in scenarios if s.family == family]
            for policy in ("learned", "rules"):
                out[f"tuning_{family}_{policy}"] = evaluate(
                    mine, policy, weights if policy == "learned" else None, exponent
                )
        print(json.dumps(out, indent=2))
        return 0
    t0 = time.perf_counter()
    out["families"] = {}
    seeds = range(REPORT_SEED0, REPORT_SEED0 + args.scenarios)
    for family in families:
        scenarios = build(family, seeds, rec, worlds)
        out["families"][family] = {
            "scenarios": len(scenarios),
            **{policy: evaluate(scenarios, policy) for policy in POLICIES},
        }
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["load_average_after"] = list(os.getloadavg())
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    names = list(next(iter(out["families"].values()))["learned"])
    print("| family | rows | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for family, r in out["families"].items():
        for policy in POLICIES:
            cells = " | ".join(f"{r[policy][k]:.3f}" for k in names)
            print(f"| {family} ({r['scenarios']}) | {policy} | {cells} |")
    before, after = out["load_average_before"], out["load_average_after"]
    print(f"{out['seconds']} s; load average {before} -> {after}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
