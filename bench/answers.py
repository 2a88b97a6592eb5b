"""Answer benchmark: citation quality, refusals and speed of ``mediamind ask``.

Run ``python -m bench.answers [--json]``. Data from ``../shared/data/retrieval`` (loaders of
``bench.search``):

* qmsum: every meeting imported as a transcript (turn i spans [10 i, 10 i + 10) s), all in one
  library. A citation is *precise* when its chunk overlaps a gold span of the question's
  meeting; a question is *covered* when at least one citation does. Asked library-wide and
  scoped to the question's meeting (``SearchFilters(media_ids=...)``).
* ``bench/unanswerable_qmsum.json``: questions no meeting answers; the system should refuse.
* spoken_squad: a seeded sample of questions; a hit is the gold answer text inside the answer
  or one of its quoted citations.
* speed: time to first token and to the full answer, with and without the prefix (KV) cache
  and the answer cache, interleaved question by question on the same questions.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import string
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.search import Question, load_qmsum, load_spoken_squad, retrieval_dir
from core.answer import QUOTE_PREAMBLE, Answer, Answerer, AnswerSettings, Sources
from core.search import SearchFilters
from core.store import Library

HERE = Path(__file__).resolve().parent
UNANSWERABLE = HERE / "unanswerable_qmsum.json"


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0 for no values)."""
    return float(np.percentile(values, q)) if values else 0.0


def timing_summary(answers: list[Answer]) -> dict[str, Any]:
    """p50/p95 of TTFT, total and sentence ranking over the answers (not refused, not cached).

    An answer the copy grammar fully determines is not decoded (``prompt_tokens`` 0) but
    counts: its TTFT is when its text was ready.

    The machine load goes with them (:func:`with_load`).
    """
    ran = [a for a in answers if not a.refused and not a.timings.cached]
    ttft = [a.timings.ttft_ms for a in ran]
    total = [a.timings.total_ms for a in ran]
    rank = [a.timings.rank_ms for a in ran]
    return {
        "answers_with_model": len(ran),
        "ttft_p50_ms": pct(ttft, 50),
        "ttft_p95_ms": pct(ttft, 95),
        "total_p50_ms": pct(total, 50),
        "total_p95_ms": pct(total, 95),
        "rank_p50_ms": pct(rank, 50),
        "rank_p95_ms": pct(rank, 95),
        "prompt_tokens_p50": pct([a.timings.prompt_tokens for a in ran], 50),
        "evaluated_tokens_p50": pct([a.timings.evaluated_tokens for a in ran], 50),
    }


def with_load(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``run()``'s result with the 1-minute load average before and after it.

    Timings on a shared machine mean little without the load they were taken under.
    """
    before = os.getloadavg()[0]
    out = run()
    out["load_start"] = round(before, 2)
    out["load_end"] = round(os.getloadavg()[0], 2)
    return out


def ask(answerer: Answerer, text: str, filters: SearchFilters | None) -> tuple[Answer, Sources]:
    """Run one question; return the answer and the passages the model was given."""
    sources = Sources([])
    final: Answer | None = None
    for ev in answerer.ask(text, filters=filters):
        if isinstance(ev, Sources):
            sources = ev
        elif isinstance(ev, Answer):
            final = ev
    assert final is not None
    return final, sources


def citation_valid(answer: Answer, sources: Sources) -> list[bool]:
    """Each citation lies inside a passage the model was given (true by construction)."""
    return [
        any(
            p.media_id == c.media_id and p.start <= c.start and c.end <= p.end
            for p in sources.passages
        )
        for c in answer.citations
    ]


def eval_qmsum(
    answerer: Answerer, questions: list[Question], media: dict[str, int], scoped: bool
) -> dict[str, Any]:
    """Citation precision and coverage, support rate, refusals and timings on qmsum."""
    answers: list[Answer] = []
    cited = precise = covered = valid = refused = 0
    gen_sentences = supported = 0
    modes: dict[str, int] = {}
    for q in questions:
        mid = media[q.media_key]
        filters = SearchFilters(media_ids=(mid,)) if scoped else None
        answer, sources = ask(answerer, q.text, filters)
        answers.append(answer)
        modes[answer.mode] = modes.get(answer.mode, 0) + 1
        refused += answer.refused
        valid += sum(citation_valid(answer, sources))
        hits = [
            c.media_id == mid and any(c.start < b and c.end > a for a, b in q.spans)
            for c in answer.citations
        ]
        cited += len(hits)
        precise += sum(hits)
        covered += any(hits)
        generated = [s for s in answer.sentences if s.reason != "quoted"]
        gen_sentences += len(generated)
        supported += sum(s.supported for s in generated)
    n = len(questions)
    return {
        "questions": n,
        "citations": cited,
        "citations_valid": valid / cited if cited else 1.0,
        "citation_precision": precise / cited if cited else 0.0,
        "citation_coverage": covered / n if n else 0.0,
        "support_rate": supported / gen_sentences if gen_sentences else 0.0,
        "generated_sentences": gen_sentences,
        "false_refusal_rate": refused / n if n else 0.0,
        "modes": modes,
        **timing_summary(answers),
    }


def retrieval_recall(
    answerer: Answerer, questions: list[Question], media: dict[str, int], scoped: bool
) -> dict[str, float]:
    """Recall@k of the chunks retrieval hands to the pipeline (the ceiling of coverage)."""
    found = {1: 0, 3: 0, 8: 0}
    for q in questions:
        mid = media[q.media_key]
        filters = SearchFilters(media_ids=(mid,)) if scoped else None
        results = answerer.searcher.search(q.text, k=8, filters=filters)
        hits = [
            r.media_id == mid and any(r.start < b and r.end > a for a, b in q.spans)
            for r in results
        ]
        for k in found:
            found[k] += any(hits[:k])
    return {f"recall@{k}": v / len(questions) for k, v in found.items()}


def eval_unanswerable(answerer: Answerer, questions: list[str]) -> dict[str, Any]:
    """Refusal rate on questions the library cannot answer."""
    answers = [answerer.answer(q) for q in questions]
    missed = [a.question for a in answers if not a.refused]
    return {
        "questions": len(questions),
        "refusal_rate": 1 - len(missed) / len(questions),
        "answered_instead": missed,
        "total_p50_ms": pct([a.timings.total_ms for a in answers], 50),
    }


_ARTICLES = re.compile(r"\b(a|an|the)\b")


def squad_tokens(text: str) -> list[str]:
    """SQuAD's answer normalisation: lower case, no punctuation or articles, split."""
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    return _ARTICLES.sub(" ", text).split()


def short_answer(answer: Answer) -> str:
    """The answer's own text: citation markers, the quote preamble and quote marks removed."""
    text = re.sub(r"\[S\d+\]", " ", answer.answer)
    text = text.replace(QUOTE_PREAMBLE, " ")
    return " ".join(text.replace("“", " ").replace("”", " ").split())


def squad_f1(prediction: str, golds: tuple[str, ...]) -> tuple[float, float]:
    """(exact match, token F1) of a prediction against the best gold answer."""
    pred = squad_tokens(prediction)
    em = f1 = 0.0
    for g in golds:
        gold = squad_tokens(g)
        em = max(em, float(pred == gold))
        common = sum((Counter(pred) & Counter(gold)).values())
        if common:
            p, r = common / len(pred), common / len(gold)
            f1 = max(f1, 2 * p * r / (p + r))
    return em, f1


def eval_squad(answerer: Answerer, questions: list[Question]) -> dict[str, Any]:
    """Gold answer stated in the answer, or in its quotes; EM/F1; refusals (all answerable)."""
    answers: list[Answer] = []
    hits = stated = refused = 0
    em = f1 = 0.0
    modes: dict[str, int] = {}
    for q in questions:
        answer = answerer.answer(q.text)
        answers.append(answer)
        modes[answer.mode] = modes.get(answer.mode, 0) + 1
        refused += answer.refused
        text = " ".join([answer.answer, *(c.quote for c in answer.citations)]).lower()
        hits += any(g in text for g in q.answers)
        own = short_answer(answer).lower() if not answer.refused else ""
        stated += any(g in own for g in q.answers)
        e, f = squad_f1(own, q.answers)
        em += e
        f1 += f
    n = len(questions)
    return {
        "questions": n,
        "answer_stated": stated / n if n else 0.0,
        "answer_in_text_or_quotes": hits / n if n else 0.0,
        "exact_match": em / n if n else 0.0,
        "f1": f1 / n if n else 0.0,
        "false_refusal_rate": refused / n if n else 0.0,
        "modes": modes,
        **timing_summary(answers),
    }


def eval_speed(lib: Library, questions: list[Question], media: dict[str, int]) -> dict[str, Any]:
    """TTFT and total with and without caches, interleaved on the same questions.

    Per question, in this order: ``prefix_cache`` (answer cache off; the KV cache is cleared,
    then the system prompt's state is restored from its snapshot), ``no_cache`` (answer cache
    off; KV cache reset, the whole prompt is evaluated), ``answer_cache_memory`` (the same
    question again) and ``answer_cache_db`` (a new Answerer on the same library, as a new
    process would start).
    """
    warm = Answerer(lib, cache=False)
    cached = Answerer(lib)
    runs: dict[str, list[Answer]] = {
        k: [] for k in ("prefix_cache", "no_cache", "answer_cache_memory", "answer_cache_db")
    }
    walls: dict[str, list[float]] = {k: [] for k in runs}
    for q in questions:
        f = SearchFilters(media_ids=(media[q.media_key],))
        warm.llm.forget()  # only the prefix snapshot may help, not the last prompt's KV
        a = warm.answer(q.text, filters=f)
        runs["prefix_cache"].append(a)
        warm.llm.use_prefix_cache = False
        try:
            runs["no_cache"].append(warm.answer(q.text, filters=f))
        finally:
            warm.llm.use_prefix_cache = True
        cached.answer(q.text, filters=f)  # fills the answer cache
        t0 = time.perf_counter()
        runs["answer_cache_memory"].append(cached.answer(q.text, filters=f))
        walls["answer_cache_memory"].append((time.perf_counter() - t0) * 1000)
        fresh = Answerer(lib)
        t0 = time.perf_counter()
        runs["answer_cache_db"].append(fresh.answer(q.text, filters=f))
        walls["answer_cache_db"].append((time.perf_counter() - t0) * 1000)
    out: dict[str, Any] = {"questions": len(questions)}
    for name, answers in runs.items():
        ttft = [a.timings.ttft_ms for a in answers]
        total = [a.timings.total_ms for a in answers]
        out[name] = {
            "ttft_p50_ms": pct(ttft, 50),
            "ttft_p95_ms": pct(ttft, 95),
            "total_p50_ms": pct(total, 50),
            "total_p95_ms": pct(total, 95),
            "evaluated_tokens_p50": pct([a.timings.evaluated_tokens for a in answers], 50),
            "cached": sum(a.timings.cached for a in answers),
        }
        if walls[name]:
            out[name]["wall_p50_ms"] = pct(walls[name], 50)
            out[name]["wall_p95_ms"] = pct(walls[name], 95)
    llm = warm.llm
    out["model"] = str(llm.path.name)
    out["threads"] = f"{llm.decode_threads} decode / {llm.n_threads} prompt"
    out["load_average"] = os.getloadavg()
    return out


def eval_budget(
    lib: Library, questions: list[Question], media: dict[str, int], budgets: list[int]
) -> dict[str, Any]:
    """Context budget vs TTFT and quality, meeting-scoped, prefix cache on.

    Budgets are interleaved question by question so machine load hits them alike.
    """
    answerers = {
        b: Answerer(lib, cache=False, settings=replace(AnswerSettings(), context_tokens=b))
        for b in budgets
    }
    runs: dict[int, list[Answer]] = {b: [] for b in budgets}
    covered: dict[int, int] = dict.fromkeys(budgets, 0)
    for q in questions:
        mid = media[q.media_key]
        for b, answerer in answerers.items():
            answerer.llm.forget()  # start from the cached prefix only, like a new question
            a = answerer.answer(q.text, filters=SearchFilters(media_ids=(mid,)))
            runs[b].append(a)
            covered[b] += any(
                c.media_id == mid and any(c.start < y and c.end > x for x, y in q.spans)
                for c in a.citations
            )
    return {
        str(b): {**timing_summary(runs[b]), "coverage": covered[b] / len(questions)}
        for b in budgets
    }


# -- citation times on the demo library --------------------------------------------------------

DEMO_QUESTIONS = HERE / "demo_questions.json"
DEMO_DIR = HERE.parent / "demo"
# A citation's start is right when it lies within this many seconds of its quoted words.
START_TOLERANCE_S = 1.0
# Quotes whose best alignment to the script scores below this (rapidfuzz 0-100) are not
# timed: the words are not in the script (e.g. a quote of another item).
MIN_ALIGNMENT = 70.0
# Characters of a quote's beginning aligned to the script to find where its words start.
QUOTE_HEAD_CHARS = 48

# The pipeline before issue 15, measured next to the current one in the same run: chunk times
# in citations, no joining of sentence fragments, no fact check, the heuristic sentence score.
# (Not switchable, so in both: quotes keep negations, Metaphone sound-alikes, lower-case
# sentence splitting, answer-type words out of the topic words.)
PREVIOUS = replace(
    AnswerSettings(),
    sentence_times=False,
    whole_sentences=False,
    strict_facts=False,
    ranker="heuristic",
    quote="clauses",
    copy_top=2,
    rank_passages=3,
    decode_quotes=True,
)
# The pipeline of the round before this one (issue 15, first round): quotes are runs of
# clauses cut at 150 characters, the model may quote either of the 2 best sentences, and only
# the first 3 retrieved chunks are scored. (Not switchable, so in both: a lower-case sentence
# at a chunk's start continues the one before only when the transcript has capitals or the
# one before has no sentence end.)
ROUND1 = replace(AnswerSettings(), quote="clauses", copy_top=2, rank_passages=3, decode_quotes=True)


def _make_demo() -> Any:
    """``demo/make_demo.py`` as a module (a script, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_demo", DEMO_DIR / "make_demo.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {DEMO_DIR / 'make_demo.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


class ScriptClock:
    """Where each character of a demo item's script is spoken, from its synthesis.

    ``demo/make_demo.py`` speaks one sentence at a time and joins them with fixed pauses, and
    records each sentence's start and end in the demo file (``demo/timings.json``); inside a
    sentence, time is interpolated by character.
    """

    def __init__(self, sentences: list[Any]) -> None:
        self.sentences = sentences
        self.text = ""
        self.offsets: list[int] = []
        for s in sentences:
            self.offsets.append(len(self.text))
            self.text += s.text.lower() + " "

    def time_at(self, char: int) -> float:
        """The time at which the script's character ``char`` is spoken."""
        import bisect

        i = max(0, bisect.bisect_right(self.offsets, char) - 1)
        s = self.sentences[i]
        share = min(1.0, (char - self.offsets[i]) / max(1, len(s.text)))
        return float(s.start + (s.end - s.start) * share)

    def locate(self, quote: str) -> tuple[float, float]:
        """(time the quote's first words are spoken, alignment score 0-100)."""
        from rapidfuzz import fuzz

        head = " ".join(quote.lower().split())[:QUOTE_HEAD_CHARS]
        al = fuzz.partial_ratio_alignment(head, self.text)
        if al is None:
            return 0.0, 0.0
        return self.time_at(al.dest_start), float(al.score)


def demo_clocks(stems: set[str]) -> dict[str, ScriptClock]:
    """Each demo item's script timed as its file was written (``demo/timings.json``)."""
    md = _make_demo()
    return {stem: ScriptClock(md.load_timings(stem)) for stem in sorted(stems)}


def load_demo_library(lib: Library) -> dict[int, str]:
    """Ingest the demo media (subtitles where an item has them); media id to script stem."""
    from core.ingest import IngestOptions, ingest

    if not lib.items():
        for _ in ingest(lib, [DEMO_DIR / "media"], IngestOptions(prefer_subtitles=True)):
            pass
    return {i.id: Path(i.path).stem for i in lib.items()}


def eval_citation_times(
    lib: Library, stems: dict[int, str], settings: dict[str, AnswerSettings]
) -> dict[str, Any]:
    """Citation start error and stated answers on the demo questions, per pipeline.

    A citation's error is its ``start`` minus the time its quote's first words are spoken
    (aligned to the script with rapidfuzz). Citations of items without a script (the JFK
    clip) or whose quote does not align are counted apart.
    """
    data = json.loads(DEMO_QUESTIONS.read_text())["questions"]
    clocks = demo_clocks({q["item"] for q in data} | set(stems.values()) - {"jfk_inaugural"})
    out: dict[str, Any] = {}
    for name, s in settings.items():
        load_start = round(os.getloadavg()[0], 2)
        answerer = Answerer(lib, cache=False, settings=s)
        errors: list[float] = []
        untimed = stated = right_sentence = 0
        answers: list[Answer] = []
        for q in data:
            a = answerer.answer(q["question"])
            answers.append(a)
            text = " ".join([a.answer, *(c.quote for c in a.citations)]).lower()
            stated += any(g in a.answer.lower() for g in q["gold"])
            right_sentence += any(g in text for g in q["gold"])
            for c in a.citations:
                clock = clocks.get(stems.get(c.media_id, ""))
                if clock is None:
                    untimed += 1
                    continue
                t, score = clock.locate(c.quote)
                if score < MIN_ALIGNMENT:
                    untimed += 1
                    continue
                errors.append(c.start - t)
        absolute = [abs(e) for e in errors]
        out[name] = {
            "questions": len(data),
            "citations_timed": len(errors),
            "citations_untimed": untimed,
            "start_within_1s": sum(e <= START_TOLERANCE_S for e in absolute) / len(errors)
            if errors
            else 0.0,
            "start_error_p50_s": pct(absolute, 50),
            "start_error_p95_s": pct(absolute, 95),
            "answer_stated": stated / len(data),
            "gold_in_answer_or_quotes": right_sentence / len(data),
            **timing_summary(answers),
            "load_start": load_start,
            "load_end": round(os.getloadavg()[0], 2),
        }
    return out


_THREADS_PROBE = """
import json, os, sys, time
import llama_cpp
from core.registry import SMOLLM2, model_file
n, nb = int(sys.argv[1]), int(sys.argv[2])
llm = llama_cpp.Llama(str(model_file(SMOLLM2)), n_ctx=1024, n_threads=n, n_threads_batch=nb,
                      verbose=False)
text = open(sys.argv[3]).read()
toks = llm.tokenize(text.encode(), add_bos=False)[:240]
llm.eval(toks[:16])
llm.reset()
t = time.perf_counter(); llm.eval(toks); prompt = len(toks) / (time.perf_counter() - t)
n_dec, t = 0, time.perf_counter()
for tok in llm.generate(toks[:8], temp=0.0):
    n_dec += 1
    if n_dec >= 48:
        break
print(json.dumps({"prompt_tok_s": prompt, "decode_tok_s": n_dec / (time.perf_counter() - t)}))
"""


def eval_threads(reps: int = 3) -> dict[str, Any]:
    """llama.cpp prompt and decode speed by decode/prompt threads and OpenMP wait policy.

    Each variant is a child process (the OpenMP wait policy is read when the runtime loads);
    variants are interleaved, ``reps`` rounds, medians reported.
    """
    import subprocess

    from core.system import physical_cores

    n = str(physical_cores())
    variants = {
        "1 thread": ("1", "1", "PASSIVE"),
        f"{n} threads, OMP active": (n, n, "ACTIVE"),
        f"{n} threads, OMP passive": (n, n, "PASSIVE"),
        f"decode 1 / prompt {n} threads, OMP passive (default)": ("1", n, "PASSIVE"),
    }
    got: dict[str, list[dict[str, float]]] = {k: [] for k in variants}
    text = str(Path(__file__).resolve().parents[1] / "core" / "search.py")
    for _ in range(reps):
        for name, (threads, batch, policy) in variants.items():
            env = {**os.environ, "OMP_WAIT_POLICY": policy}
            out = subprocess.run(
                [sys.executable, "-c", _THREADS_PROBE, threads, batch, text],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).resolve().parents[1],
            ).stdout
            got[name].append(json.loads(out.strip().splitlines()[-1]))
    return {
        name: {k: float(np.median([r[k] for r in rows])) for k in ("prompt_tok_s", "decode_tok_s")}
        for name, rows in got.items()
    }


SECTIONS = ("demo", "unanswerable", "qmsum", "scoped", "squad", "speed", "budget", "threads")

# The pipelines ``--pipelines`` can name: ``previous`` (before issue 15), ``round1`` (issue
# 15's first round), ``current`` (the default) and ``free`` (the default with the model
# writing its own words, ``grammar="free"``, each sentence verified and cited).
PIPELINES: dict[str, AnswerSettings] = {
    "previous": PREVIOUS,
    "round1": ROUND1,
    "current": AnswerSettings(),
    "free": replace(AnswerSettings(), grammar="free"),
    "one_quote": replace(AnswerSettings(), quotes=1),
    "rank3": replace(AnswerSettings(), rank_passages=3),
}


def pipelines(which: str) -> dict[str, AnswerSettings]:
    """The pipelines to compare: a comma-separated list of :data:`PIPELINES` names.

    ``both`` is ``previous,current``.
    """
    names = ["previous", "current"] if which == "both" else which.split(",")
    unknown = [n for n in names if n not in PIPELINES]
    if unknown:
        raise SystemExit(f"unknown pipelines {unknown}; choose from {sorted(PIPELINES)}")
    return {n: PIPELINES[n] for n in names}


def squad_held_back(q: Question) -> bool:
    """Whether a spoken_squad question is in the held-back half (odd article index).

    The other half (even article index) is the only spoken_squad data anything may be trained
    or tuned on (``models/reranker``, refusal calibration); results are reported on this one.
    """
    return int(q.media_key.split("/")[1]) % 2 == 1


def qmsum_held_back(questions: list[Question]) -> list[Question]:
    """The qmsum questions of the held-back meetings (odd positions in sorted order).

    ``bench.calibrate_refusal`` sets the refusal thresholds on the meetings at even
    positions (and on the unanswerable questions at even list positions), so answer quality
    is reported on the others (:func:`held_back_unanswerable`).
    """
    meetings = sorted({q.media_key for q in questions})
    held = set(meetings[1::2])
    return [q for q in questions if q.media_key in held]


def held_back_unanswerable(questions: list[str]) -> list[str]:
    """The unanswerable questions refusal is reported on (odd list positions)."""
    return questions[1::2]


def main() -> None:
    """Run the benchmark and print Markdown (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}"
    )
    parser.add_argument(
        "--pipelines",
        default="both",
        help=f"comma-separated names of {sorted(PIPELINES)}, or both (= previous,current)",
    )
    parser.add_argument("--qmsum-questions", type=int, default=0, help="0 = all")
    parser.add_argument(
        "--qmsum-split",
        choices=("held-back", "calibration", "all"),
        default="held-back",
        help="report qmsum on the meetings refusal was not calibrated on (default), on those "
        "it was (for choosing settings), or on all",
    )
    parser.add_argument("--squad-questions", type=int, default=300)
    parser.add_argument(
        "--squad-skip",
        type=int,
        default=0,
        help="leave out the first N held-back questions (e.g. ones inspected while debugging)",
    )
    parser.add_argument("--speed-questions", type=int, default=20)
    parser.add_argument("--budgets", default="120,160,200,240,320")
    parser.add_argument("--budget-questions", type=int, default=12)
    parser.add_argument(
        "--work-dir", help="keep the benchmark libraries here (re-runs skip the import)"
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    if only - set(SECTIONS):
        raise SystemExit(f"unknown sections {sorted(only - set(SECTIONS))}; choose from {SECTIONS}")
    root = retrieval_dir()
    if only - {"demo", "threads"} and not root.exists():
        raise SystemExit(f"{root} is absent: the benchmark needs ../shared/data/retrieval")
    runs = pipelines(args.pipelines)
    report: dict[str, Any] = {"load_average_start": os.getloadavg(), "sections": sorted(only)}
    with ExitStack() as stack:
        work = (
            Path(args.work_dir)
            if args.work_dir
            else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        )
        if "demo" in only:
            demo = stack.enter_context(Library(work / "demo"))
            report["demo"] = eval_citation_times(demo, load_demo_library(demo), runs)
        if only & {"unanswerable", "qmsum", "scoped", "speed", "budget"}:
            t0 = time.perf_counter()
            lib = stack.enter_context(Library(work / "qmsum"))
            questions = load_qmsum(lib, root, reuse=bool(args.work_dir))
            media = {i.path: i.id for i in lib.items()}
            report["qmsum_import_s"] = time.perf_counter() - t0
            if args.qmsum_split == "held-back":
                questions = qmsum_held_back(questions)
            elif args.qmsum_split == "calibration":
                held = set(map(id, qmsum_held_back(questions)))
                questions = [q for q in questions if id(q) not in held]
            report["qmsum_split"] = args.qmsum_split
            if args.qmsum_questions:
                questions = random.Random(0).sample(questions, args.qmsum_questions)
            answerers = {n: Answerer(lib, cache=False, settings=s) for n, s in runs.items()}
            if "unanswerable" in only:
                unanswerable = json.loads(UNANSWERABLE.read_text())["questions"]
                if args.qmsum_split == "held-back":
                    unanswerable = held_back_unanswerable(unanswerable)
                report["unanswerable"] = {
                    n: with_load(lambda a=a: eval_unanswerable(a, unanswerable))
                    for n, a in answerers.items()
                }
            if "qmsum" in only:
                any_answerer = next(iter(answerers.values()))
                report["qmsum_retrieval"] = {
                    "library": retrieval_recall(any_answerer, questions, media, False),
                    "scoped": retrieval_recall(any_answerer, questions, media, True),
                }
                report["qmsum_library"] = {
                    n: with_load(lambda a=a: eval_qmsum(a, questions, media, scoped=False))
                    for n, a in answerers.items()
                }
            if "scoped" in only:
                report["qmsum_scoped"] = {
                    n: with_load(lambda a=a: eval_qmsum(a, questions, media, scoped=True))
                    for n, a in answerers.items()
                }
            if "speed" in only:
                speed_qs = random.Random(1).sample(
                    questions, min(args.speed_questions, len(questions))
                )
                report["speed"] = eval_speed(lib, speed_qs, media)
            if "budget" in only and args.budget_questions:
                budgets = [int(b) for b in args.budgets.split(",")]
                bq = random.Random(2).sample(questions, min(args.budget_questions, len(questions)))
                report["budget"] = eval_budget(lib, bq, media, budgets)
        if "threads" in only:
            report["threads"] = eval_threads()
        if "squad" in only and args.squad_questions:
            squad_lib = stack.enter_context(Library(work / "squad"))
            squad = load_spoken_squad(squad_lib, root, 10**9, reuse=bool(args.work_dir))
            held = [q for q in squad if squad_held_back(q)][args.squad_skip :][
                : args.squad_questions
            ]
            report["spoken_squad"] = {
                n: with_load(
                    lambda s=s: eval_squad(Answerer(squad_lib, cache=False, settings=s), held)
                )
                for n, s in runs.items()
            }
        report["settings"] = {n: asdict(s) for n, s in runs.items()}
    report["load_average_end"] = os.getloadavg()
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print_markdown(report)


def _row(name: str, per: dict[str, dict[str, Any]], key: str, fmt: str = "{:.3f}") -> str:
    cells = [fmt.format(per[n][key]) if key in per[n] else "-" for n in per]
    return f"| {name} | " + " | ".join(cells) + " |"


def _table(title: str, per: dict[str, dict[str, Any]], rows: list[tuple[str, str, str]]) -> None:
    print(f"\n{title}\n\n| measure | " + " | ".join(per) + " |")
    print("| --- |" + " ---: |" * len(per))
    for name, key, fmt in rows:
        print(_row(name, per, key, fmt))


_QUALITY = [
    ("citations valid", "citations_valid", "{:.3f}"),
    ("citation precision", "citation_precision", "{:.3f}"),
    ("citation coverage", "citation_coverage", "{:.3f}"),
    ("support rate (generated sentences)", "support_rate", "{:.3f}"),
    ("false refusals", "false_refusal_rate", "{:.3f}"),
    ("TTFT p50 ms", "ttft_p50_ms", "{:.0f}"),
    ("TTFT p95 ms", "ttft_p95_ms", "{:.0f}"),
    ("total p50 ms", "total_p50_ms", "{:.0f}"),
    ("total p95 ms", "total_p95_ms", "{:.0f}"),
    ("sentence ranking p50 ms", "rank_p50_ms", "{:.0f}"),
    ("load average at start", "load_start", "{:.1f}"),
    ("load average at end", "load_end", "{:.1f}"),
]


def print_markdown(r: dict[str, Any]) -> None:
    """The report as the tables of docs/answers.md, each pipeline in a column."""
    print(f"load average at start {r['load_average_start']}, end {r['load_average_end']}")
    if "demo" in r:
        _table(
            "demo library (bench/demo_questions.json): citation start vs the quoted words",
            r["demo"],
            [
                ("citations timed", "citations_timed", "{}"),
                ("start within 1 s", "start_within_1s", "{:.3f}"),
                ("start error p50 s", "start_error_p50_s", "{:.2f}"),
                ("start error p95 s", "start_error_p95_s", "{:.2f}"),
                ("gold answer stated in the answer", "answer_stated", "{:.3f}"),
                ("gold answer in answer or quotes", "gold_in_answer_or_quotes", "{:.3f}"),
                *_QUALITY[5:],
            ],
        )
    for key, title in (("qmsum_library", "qmsum library-wide"), ("qmsum_scoped", "qmsum scoped")):
        if key in r:
            _table(title, r[key], _QUALITY)
            print("| answer modes | " + " | ".join(str(x["modes"]) for x in r[key].values()))
    if "qmsum_retrieval" in r:
        rl = r["qmsum_retrieval"]
        print("\n| retrieval | library-wide | scoped |\n| --- | ---: | ---: |")
        for k in ("recall@1", "recall@3", "recall@8"):
            print(f"| {k} | {rl['library'][k]:.3f} | {rl['scoped'][k]:.3f} |")
    if "unanswerable" in r:
        _table(
            "unanswerable qmsum questions",
            r["unanswerable"],
            [
                ("refusal rate", "refusal_rate", "{:.3f}"),
                ("questions", "questions", "{}"),
                ("load average at start", "load_start", "{:.1f}"),
            ],
        )
        for n, u in r["unanswerable"].items():
            if u["answered_instead"]:
                print(f"{n} answered instead of refusing: " + "; ".join(u["answered_instead"]))
    if "spoken_squad" in r:
        _table(
            "spoken_squad, held-back half (odd article index)",
            r["spoken_squad"],
            [
                ("questions", "questions", "{}"),
                ("gold answer stated in the answer", "answer_stated", "{:.3f}"),
                ("gold answer in answer or quotes", "answer_in_text_or_quotes", "{:.3f}"),
                ("short answer exact match", "exact_match", "{:.3f}"),
                ("short answer F1", "f1", "{:.3f}"),
                ("false refusals", "false_refusal_rate", "{:.3f}"),
                *_QUALITY[5:],
            ],
        )
    if "speed" in r:
        sp = r["speed"]
        print(
            f"\nspeed ({sp['questions']} qmsum questions, meeting-scoped, {sp['model']}, "
            f"{sp['threads']} threads, load {sp['load_average']}):\n"
        )
        print(
            "| run | TTFT p50 | TTFT p95 | total p50 | total p95 | evaluated prompt tokens p50 |"
            "\n| --- | ---: | ---: | ---: | ---: | ---: |"
        )
        for name in ("no_cache", "prefix_cache", "answer_cache_memory", "answer_cache_db"):
            x = sp[name]
            print(
                f"| {name} | {x['ttft_p50_ms']:.1f} | {x['ttft_p95_ms']:.1f} | "
                f"{x['total_p50_ms']:.1f} | {x['total_p95_ms']:.1f} | "
                f"{x['evaluated_tokens_p50']:.0f} |"
            )
    if "budget" in r:
        print(
            "\ncontext budget (meeting-scoped):\n\n| passage tokens | prompt tokens p50 | "
            "evaluated p50 | TTFT p50 | total p50 | coverage |\n| ---: | ---: | ---: | ---: | "
            "---: | ---: |"
        )
        for b, x in r["budget"].items():
            print(
                f"| {b} | {x['prompt_tokens_p50']:.0f} | {x['evaluated_tokens_p50']:.0f} | "
                f"{x['ttft_p50_ms']:.0f} | {x['total_p50_ms']:.0f} | {x['coverage']:.3f} |"
            )
    if "threads" in r:
        print("\nllama.cpp speed (medians):\n\n| variant | prompt tok/s | decode tok/s |")
        print("| --- | ---: | ---: |")
        for name, x in r["threads"].items():
            print(f"| {name} | {x['prompt_tok_s']:.0f} | {x['decode_tok_s']:.1f} |")


if __name__ == "__main__":
    main()
