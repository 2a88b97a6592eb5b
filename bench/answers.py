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
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.search import Question, load_qmsum, load_spoken_squad, retrieval_dir
from core.answer import Answer, Answerer, AnswerSettings, Sources
from core.library import Library
from core.search import SearchFilters

HERE = Path(__file__).resolve().parent
UNANSWERABLE = HERE / "unanswerable_qmsum.json"


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0 for no values)."""
    return float(np.percentile(values, q)) if values else 0.0


def timing_summary(answers: list[Answer]) -> dict[str, float]:
    """p50/p95 of TTFT and total over the answers that ran the model."""
    ran = [a for a in answers if a.timings.prompt_tokens]
    ttft = [a.timings.ttft_ms for a in ran]
    total = [a.timings.total_ms for a in ran]
    return {
        "answers_with_model": len(ran),
        "ttft_p50_ms": pct(ttft, 50),
        "ttft_p95_ms": pct(ttft, 95),
        "total_p50_ms": pct(total, 50),
        "total_p95_ms": pct(total, 95),
        "prompt_tokens_p50": pct([a.timings.prompt_tokens for a in ran], 50),
        "evaluated_tokens_p50": pct([a.timings.evaluated_tokens for a in ran], 50),
    }


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


def eval_squad(answerer: Answerer, questions: list[Question]) -> dict[str, Any]:
    """Gold answer text in the answer or its quotes; refusals (all questions are answerable)."""
    answers: list[Answer] = []
    hits = refused = 0
    modes: dict[str, int] = {}
    for q in questions:
        answer = answerer.answer(q.text)
        answers.append(answer)
        modes[answer.mode] = modes.get(answer.mode, 0) + 1
        refused += answer.refused
        text = " ".join([answer.answer, *(c.quote for c in answer.citations)]).lower()
        hits += any(g in text for g in q.answers)
    n = len(questions)
    return {
        "questions": n,
        "answer_in_text_or_quotes": hits / n if n else 0.0,
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
    import sys

    from core.transcribe import physical_cores

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


def main() -> None:
    """Run the benchmark and print Markdown (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--qmsum-questions", type=int, default=0, help="0 = all")
    parser.add_argument("--squad-questions", type=int, default=300)
    parser.add_argument("--speed-questions", type=int, default=20)
    parser.add_argument("--skip-scoped", action="store_true")
    parser.add_argument("--budgets", default="120,160,200,240,320")
    parser.add_argument("--budget-questions", type=int, default=12)
    parser.add_argument(
        "--work-dir", help="keep the benchmark libraries here (re-runs skip the import)"
    )
    args = parser.parse_args()
    root = retrieval_dir()
    if not root.exists():
        raise SystemExit(f"{root} is absent: the benchmark needs ../shared/data/retrieval")
    report: dict[str, Any] = {"load_average_start": os.getloadavg()}
    with ExitStack() as stack:
        work = (
            Path(args.work_dir)
            if args.work_dir
            else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        )
        t0 = time.perf_counter()
        lib = stack.enter_context(Library(work / "qmsum"))
        questions = load_qmsum(lib, root)
        media = {i.path: i.id for i in lib.items()}
        report["qmsum_import_s"] = time.perf_counter() - t0
        if args.qmsum_questions:
            questions = random.Random(0).sample(questions, args.qmsum_questions)
        answerer = Answerer(lib, cache=False)
        report["qmsum_retrieval"] = {
            "library": retrieval_recall(answerer, questions, media, False),
            "scoped": retrieval_recall(answerer, questions, media, True),
        }
        unanswerable = json.loads(UNANSWERABLE.read_text())["questions"]
        report["unanswerable"] = eval_unanswerable(answerer, unanswerable)
        report["qmsum_library"] = eval_qmsum(answerer, questions, media, scoped=False)
        if not args.skip_scoped:
            report["qmsum_scoped"] = eval_qmsum(answerer, questions, media, scoped=True)
        speed_qs = random.Random(1).sample(questions, min(args.speed_questions, len(questions)))
        report["threads"] = eval_threads()
        report["speed"] = eval_speed(lib, speed_qs, media)
        if args.budget_questions:
            budgets = [int(b) for b in args.budgets.split(",")]
            bq = random.Random(2).sample(questions, min(args.budget_questions, len(questions)))
            report["budget"] = eval_budget(lib, bq, media, budgets)
        if args.squad_questions:
            squad_lib = stack.enter_context(Library(work / "squad"))
            squad = load_spoken_squad(squad_lib, root, args.squad_questions)
            report["spoken_squad"] = eval_squad(Answerer(squad_lib, cache=False), squad)
        report["settings"] = asdict(answerer.settings)
    report["load_average_end"] = os.getloadavg()
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print_markdown(report)


def print_markdown(r: dict[str, Any]) -> None:
    """The report as the tables of docs/answers.md."""
    print(f"load average at start {r['load_average_start']}, end {r['load_average_end']}\n")
    print("| qmsum | library-wide | meeting-scoped |\n| --- | ---: | ---: |")
    lw, sc = r["qmsum_library"], r.get("qmsum_scoped", {})
    rows = [
        ("citations valid", "citations_valid", "{:.3f}"),
        ("citation precision", "citation_precision", "{:.3f}"),
        ("citation coverage", "citation_coverage", "{:.3f}"),
        ("support rate (generated sentences)", "support_rate", "{:.3f}"),
        ("false refusals", "false_refusal_rate", "{:.3f}"),
        ("TTFT p50 / p95 ms", None, ""),
        ("total p50 / p95 ms", None, ""),
    ]
    for name, key, fmt in rows:
        if key:
            a = fmt.format(lw[key])
            b = fmt.format(sc[key]) if sc else "-"
        else:
            pre = "ttft" if name.startswith("TTFT") else "total"
            a = f"{lw[pre + '_p50_ms']:.0f} / {lw[pre + '_p95_ms']:.0f}"
            b = f"{sc[pre + '_p50_ms']:.0f} / {sc[pre + '_p95_ms']:.0f}" if sc else "-"
        print(f"| {name} | {a} | {b} |")
    rl = r["qmsum_retrieval"]
    for k in ("recall@1", "recall@3", "recall@8"):
        print(f"| retrieval {k} | {rl['library'][k]:.3f} | {rl['scoped'][k]:.3f} |")
    print(f"| answer modes | {lw['modes']} | {sc.get('modes', '-')} |")
    u = r["unanswerable"]
    print(f"\nunanswerable: refusal rate {u['refusal_rate']:.3f} on {u['questions']} questions")
    if u["answered_instead"]:
        print("answered instead of refusing: " + "; ".join(u["answered_instead"]))
    if "spoken_squad" in r:
        s = r["spoken_squad"]
        print(
            f"\nspoken_squad ({s['questions']} questions): gold answer in answer or quotes "
            f"{s['answer_in_text_or_quotes']:.3f}, false refusals {s['false_refusal_rate']:.3f}, "
            f"TTFT p50 {s['ttft_p50_ms']:.0f} ms, total p50 {s['total_p50_ms']:.0f} ms"
        )
    sp = r["speed"]
    print(
        f"\nspeed ({sp['questions']} qmsum questions, meeting-scoped, {sp['model']}, "
        f"{sp['threads']} threads, load {sp['load_average']}):\n"
    )
    print(
        "| run | TTFT p50 | TTFT p95 | total p50 | total p95 | evaluated prompt tokens p50 |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |"
    )
    for name in ("no_cache", "prefix_cache", "answer_cache_memory", "answer_cache_db"):
        x = sp[name]
        print(
            f"| {name} | {x['ttft_p50_ms']:.1f} | {x['ttft_p95_ms']:.1f} | "
            f"{x['total_p50_ms']:.1f} | {x['total_p95_ms']:.1f} | {x['evaluated_tokens_p50']:.0f} |"
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
    print("\nllama.cpp speed (medians):\n\n| variant | prompt tok/s | decode tok/s |")
    print("| --- | ---: | ---: |")
    for name, x in r["threads"].items():
        print(f"| {name} | {x['prompt_tok_s']:.0f} | {x['decode_tok_s']:.1f} |")


if __name__ == "__main__":
    main()
