"""Retrieval benchmark: recall of BM25, vector and hybrid search on real transcripts.

Run ``python -m bench.search [--json]``. Data from ``../shared/data/retrieval``:

* qmsum: each meeting is imported as a transcript (turn i spans [10 i, 10 i + 10) s, with
  ``{vocalsound}``-style markers stripped and the speaker kept as a prefix), all meetings in one
  library. A question is recalled at k when one of its top-k chunks overlaps a gold turn span.
* spoken_squad: each (ASR-noisy) paragraph is one item, sentences timed at 2.5 words/s. A
  question is recalled at k when the answer text is inside one of its top-k chunks.

It also reports a small grid of fusion settings on qmsum (the defaults are the best of it).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.data import shared_data
from core.ingest.pipeline import import_transcript
from core.search.hybrid import Searcher, SearchSettings
from core.store import Library
from core.transcript import Segment

REPO = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"\{[a-z_]+\}")


def retrieval_dir() -> Path:
    """The retrieval folder of the shared evaluation data."""
    return shared_data("retrieval")


@dataclass(frozen=True)
class Question:
    """A question with what counts as finding it: gold time spans or an answer string."""

    text: str
    media_key: str
    spans: tuple[tuple[float, float], ...] = ()
    answers: tuple[str, ...] = ()


def qmsum_segments(turns: list[dict[str, str]]) -> list[Segment]:
    """One 10 s segment per turn, ``Speaker: words`` with disfluency markers removed."""
    out = []
    for i, turn in enumerate(turns):
        text = re.sub(r"\s+", " ", MARKER.sub(" ", turn["content"])).strip()
        text = re.sub(r"\s+([.,?!])", r"\1", text)
        out.append(Segment(10.0 * i, 10.0 * i + 10.0, f"{turn['speaker']}: {text}" if text else ""))
    return out


def load_qmsum(lib: Library, root: Path, *, reuse: bool = False) -> list[Question]:
    """Import every qmsum meeting into ``lib``; return its specific questions.

    With ``reuse``, meetings already in ``lib`` (a kept ``--work-dir``) are not imported again.
    """
    questions = []
    have = {i.path for i in lib.items()} if reuse else set()
    for path in sorted((root / "qmsum").glob("*.json")):
        data = json.loads(path.read_text())
        key = f"transcript:qmsum/{path.stem}"
        if key not in have:
            import_transcript(
                lib, key, f"Meeting {path.stem}", qmsum_segments(data["meeting_transcripts"])
            )
        for q in data["specific_query_list"]:
            spans = tuple((10.0 * int(a), 10.0 * int(b) + 10.0) for a, b in q["relevant_text_span"])
            questions.append(Question(q["query"], key, spans=spans))
    return questions


def squad_segments(context: str) -> list[Segment]:
    """Sentences of a paragraph, timed at 2.5 words per second."""
    out, t = [], 0.0
    for sentence in re.split(r"(?<=\.)\s+", context.strip()):
        seconds = max(1.0, len(sentence.split()) / 2.5)
        out.append(Segment(t, t + seconds, sentence))
        t += seconds
    return out


def load_spoken_squad(
    lib: Library, root: Path, limit: int, seed: int = 0, *, reuse: bool = False
) -> list[Question]:
    """Import every paragraph; return ``limit`` questions sampled with a fixed seed.

    With ``reuse``, paragraphs already in ``lib`` (a kept ``--work-dir``) are not imported again.
    """
    data = json.loads((root / "spoken_squad" / "spoken_test-v1.1.json").read_text())
    questions = []
    have = {i.path for i in lib.items()} if reuse else set()
    for a, article in enumerate(data["data"]):
        for p, para in enumerate(article["paragraphs"]):
            key = f"transcript:spoken_squad/{a}/{p}"
            if key not in have:
                import_transcript(
                    lib, key, f"{article['title']} {p}", squad_segments(para["context"])
                )
            for qa in para["qas"]:
                answers = tuple({x["text"].lower() for x in qa["answers"]})
                questions.append(Question(qa["question"], key, answers=answers))
    random.Random(seed).shuffle(questions)
    return questions[:limit]


def recall(
    searcher: Searcher, questions: list[Question], mode: str, ks: tuple[int, ...] = (5, 10)
) -> dict[str, float]:
    """Share of questions found in the top k, per k."""
    media = {i.path: i.id for i in searcher.library.items()}
    found = dict.fromkeys(ks, 0)
    for q in questions:
        results = searcher.search(q.text, k=max(ks), mode=mode)
        for k in ks:
            top = results[:k]
            if q.spans:
                ok = any(
                    r.media_id == media[q.media_key] and r.start < b and r.end > a
                    for r in top
                    for a, b in q.spans
                )
            else:
                ok = any(ans in r.text.lower() for r in top for ans in q.answers)
            found[k] += ok
    return {f"recall@{k}": found[k] / len(questions) for k in ks}


def evaluate(searcher: Searcher, questions: list[Question]) -> dict[str, dict[str, float]]:
    """Recall for BM25 only, vector only and hybrid."""
    return {mode: recall(searcher, questions, mode) for mode in ("bm25", "vector", "hybrid")}


def main() -> None:
    """Run the benchmark and print Markdown (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--squad-questions", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = retrieval_dir()
    if not root.exists():
        raise SystemExit(f"{root} is absent: the benchmark needs ../shared/data/retrieval")
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library(Path(tmp) / "qmsum")
        questions = load_qmsum(lib, root)
        searcher = Searcher(lib)
        report["qmsum"] = {
            "questions": len(questions),
            "chunks": lib.db.scalar("SELECT count(*) FROM chunks"),
            **evaluate(searcher, questions),
        }
        grid = {}
        for rrf_k in (10, 30, 60):
            for vw in (1.0, 1.5, 2.0):
                searcher.settings = replace(SearchSettings(), rrf_k=rrf_k, vector_weight=vw)
                grid[f"rrf_k={rrf_k} vector_weight={vw}"] = recall(searcher, questions, "hybrid")
        report["qmsum_fusion_grid"] = grid
        lib.close()

        lib = Library(Path(tmp) / "squad")
        squad = load_spoken_squad(lib, root, args.squad_questions)
        report["spoken_squad"] = {
            "questions": len(squad),
            "chunks": lib.db.scalar("SELECT count(*) FROM chunks"),
            **evaluate(Searcher(lib), squad),
        }
        lib.close()
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for name in ("qmsum", "spoken_squad"):
        r = report[name]
        print(f"\n{name}: {r['questions']} questions over {r['chunks']} chunks\n")
        print("| mode | recall@5 | recall@10 |\n| --- | ---: | ---: |")
        for mode in ("bm25", "vector", "hybrid"):
            print(f"| {mode} | {r[mode]['recall@5']:.3f} | {r[mode]['recall@10']:.3f} |")
    print(
        "\nqmsum hybrid, fusion grid:\n\n| settings | recall@5 | recall@10 |\n| --- | ---: | ---: |"
    )
    for key, r in report["qmsum_fusion_grid"].items():
        print(f"| {key} | {r['recall@5']:.3f} | {r['recall@10']:.3f} |")


if __name__ == "__main__":
    main()
