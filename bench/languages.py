"""Languages benchmark: detection, WER and search on non-English speech; English speed.

Run ``python -m bench.languages [--repeats 3] [--json]``. Data: ``../shared/data/speech``
(FLEURS de/fr/es/pt, 10 clips each, and the English clips of ``bench.ingest``). In one run:

* **Routing**: every FLEURS clip ingested end to end (``mediamind ingest`` into a fresh
  library) with the default settings (``--model auto``) and with ``--model base`` forced: the
  language stored for the item, corpus WER per language, and whether a search for a word of
  the clip's reference (the longest word no other clip's reference holds) puts the clip in the
  top 3 (hybrid, and each side alone).
* **English speed**: the English clips ingested with the default settings against
  ``--model tiny.en`` forced (what ingest did before routing), alternating, median of
  ``--repeats``; the ratio is the target (at most 5% slower).
* **Models**: WER and speed (x real time) per language of tiny.en (English only), base with
  int8 compute (the default) and base with float32 compute, transcribing decoded audio with
  :class:`core.ingest.transcribe.Transcriber` in the clip's language.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.ingest import english_clips, machine, shared_speech
from bench.wer import corpus_wer, normalize
from core.ingest import IngestOptions, ingest
from core.ingest.media import SAMPLE_RATE, decode_audio
from core.store import Library

LANGUAGES = ("de", "fr", "es", "pt")


@dataclass(frozen=True)
class Clip:
    """A recording with its reference transcript and spoken language."""

    name: str
    path: Path
    reference: str
    language: str


def fleurs_clips(root: Path, languages: tuple[str, ...] = LANGUAGES) -> list[Clip]:
    """The shared FLEURS clips of ``languages``, 10 each, in a fixed order."""
    clips = []
    for lang in languages:
        for i in range(10):
            stem = root / "fleurs" / f"fleurs-{lang}-{i:03d}"
            clips.append(
                Clip(
                    stem.name, stem.with_suffix(".ogg"), stem.with_suffix(".txt").read_text(), lang
                )
            )
    return clips


def query_words(clips: list[Clip]) -> list[str]:
    """Per clip, the longest word of its reference that no other clip's reference holds."""
    words = [set(normalize(c.reference)) for c in clips]
    seen = Counter(w for ws in words for w in ws)
    out = []
    for ws in words:
        unique = sorted((w for w in ws if seen[w] == 1), key=lambda w: (-len(w), w))
        out.append(unique[0] if unique else max(ws, key=len))
    return out


def ingest_run(clips: list[Clip], options: IngestOptions) -> dict[str, object]:
    """Ingest the clips into a fresh library; languages, WER, search hits and time."""
    from core.search import Searcher

    with tempfile.TemporaryDirectory() as tmp:
        lib = Library(tmp)
        start = time.perf_counter()
        events = list(ingest(lib, [c.path for c in clips], options))
        elapsed = time.perf_counter() - start
        failed = [e.message for e in events if e.kind == "failed"]
        if failed:
            raise RuntimeError(f"ingest failed: {failed}")
        items = {i.path: i for i in lib.items()}
        got = [items[str(c.path.resolve())] for c in clips]
        texts = [" ".join(s.text for s in lib.segments(i.id)) for i in got]
        searcher = Searcher(lib)
        hits: dict[str, list[bool]] = {"hybrid": [], "bm25": [], "vector": []}
        for item, word in zip(got, query_words(clips), strict=True):
            for mode, found in hits.items():
                top = searcher.search(word, k=3, mode=mode)
                found.append(item.id in {r.media_id for r in top})
        lib.close()
    per_lang: dict[str, dict[str, float]] = {}
    for lang in sorted({c.language for c in clips}):
        idx = [i for i, c in enumerate(clips) if c.language == lang]
        per_lang[lang] = {
            "language_right": sum(got[i].language == lang for i in idx) / len(idx),
            "wer": corpus_wer([(clips[i].reference, texts[i]) for i in idx]),
            "search_top3": sum(hits["hybrid"][i] for i in idx) / len(idx),
        }
    return {
        "language_right": sum(g.language == c.language for g, c in zip(got, clips, strict=True))
        / len(clips),
        "wer": corpus_wer([(c.reference, t) for c, t in zip(clips, texts, strict=True)]),
        "mean_clip_wer": statistics.mean(
            corpus_wer([(c.reference, t)]) for c, t in zip(clips, texts, strict=True)
        ),
        "search_top3": {mode: sum(v) / len(v) for mode, v in hits.items()},
        "models": dict(Counter(g.transcript_source or "" for g in got)),
        "seconds": elapsed,
        "per_language": per_lang,
    }


def english_speed(clips: list[Path], repeats: int) -> dict[str, object]:
    """Default settings against tiny.en forced on the English clips, alternating."""
    audio_seconds = sum(decode_audio(p).shape[0] for p in clips) / SAMPLE_RATE
    times: dict[str, list[float]] = {"auto": [], "tiny.en": []}
    # CPU seconds of this process (all threads): on a shared, loaded machine wall time
    # measures the other jobs as much as this one; CPU time is the work done.
    cpu: dict[str, list[float]] = {"auto": [], "tiny.en": []}
    sources: dict[str, dict[str, int]] = {}
    # The first pass of each is untimed: it loads every model that setting needs.
    order = [*times, *[m for _ in range(repeats) for m in times]]
    for n, model in enumerate(order):
        with tempfile.TemporaryDirectory() as tmp:
            lib = Library(tmp)
            start, cpu_start = time.perf_counter(), time.process_time()
            list(ingest(lib, clips, IngestOptions(model=model)))
            elapsed = time.perf_counter() - start
            cpu_used = time.process_time() - cpu_start
            sources[model] = dict(Counter(i.transcript_source or "" for i in lib.items()))
            lib.close()
        if n >= len(times):
            times[model].append(elapsed)
            cpu[model].append(cpu_used)
    median = {m: statistics.median(v) for m, v in times.items()}
    median_cpu = {m: statistics.median(v) for m, v in cpu.items()}
    return {
        "audio_seconds": round(audio_seconds, 1),
        "runs": times,
        "median_seconds": median,
        "slowdown": median["auto"] / median["tiny.en"] - 1,
        "cpu_runs": cpu,
        "median_cpu_seconds": median_cpu,
        "cpu_slowdown": median_cpu["auto"] / median_cpu["tiny.en"] - 1,
        "models": sources,
    }


def model_table(
    clips: list[Clip], english: list[tuple[Path, str]], threads: int | None
) -> dict[str, dict[str, dict[str, float]]]:
    """WER and x real time per language for tiny.en, base int8 and base float32."""
    from core.ingest.transcribe import Transcriber

    systems = {
        "tiny.en int8": Transcriber("tiny.en", threads=threads),
        "base int8": Transcriber("base", threads=threads),
        "base float32": Transcriber("base", threads=threads, compute_type="float32"),
    }
    table: dict[str, dict[str, dict[str, float]]] = {}
    sets = {"en": [(p, r) for p, r in english]} | {
        lang: [(c.path, c.reference) for c in clips if c.language == lang] for lang in LANGUAGES
    }
    for name, t in systems.items():
        list(t.transcribe(decode_audio(english[0][0]), "en")[1])  # loads the model
        for lang, pairs in sets.items():
            if name.startswith("tiny.en") and lang != "en":
                continue
            audios = [decode_audio(p) for p, _ in pairs]
            start, cpu_start = time.perf_counter(), time.process_time()
            hyps = [" ".join(s.text for s in t.transcribe(a, lang)[1]) for a in audios]
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu_start
            seconds = sum(a.shape[0] for a in audios) / SAMPLE_RATE
            table.setdefault(name, {})[lang] = {
                "wer": corpus_wer([(r, h) for (_, r), h in zip(pairs, hyps, strict=True)]),
                "x_realtime": seconds / elapsed,
                "cpu_x_realtime": seconds / cpu,
            }
    return table


def main() -> None:
    """Run the benchmark and print Markdown tables (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--parts",
        default="routing,english,models",
        help="comma-separated parts to run (routing, english, models)",
    )
    parser.add_argument(
        "--model-clips", type=int, default=10, help="clips per language in the model table"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    root = shared_speech()
    if not root.exists():
        raise SystemExit(f"{root} is absent: the benchmark needs ../shared/data/speech")
    info = machine()
    clips = fleurs_clips(root)
    routing = (
        {
            "default": ingest_run(clips, IngestOptions(threads=args.threads)),
            "base forced": ingest_run(clips, IngestOptions(model="base", threads=args.threads)),
        }
        if "routing" in parts
        else {}
    )
    en = english_clips(root)
    speed = english_speed([c.path for c in en], args.repeats) if "english" in parts else {}
    n = args.model_clips
    table = (
        model_table(
            [c for c in clips if int(c.name[-3:]) < n],
            [(c.path, c.reference) for c in en],
            args.threads,
        )
        if "models" in parts
        else {}
    )
    summary = {"machine": info, "routing": routing, "english_speed": speed, "models": table}
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"Machine: {info}.\n")
    if routing:
        print_routing(routing, len(clips))
    if speed:
        med = speed["median_seconds"]
        assert isinstance(med, dict)
        print(
            f"\nEnglish ({len(en)} clips, {speed['audio_seconds']} s): default "
            f"{med['auto']:.2f} s, tiny.en forced {med['tiny.en']:.2f} s (median of "
            f"{args.repeats}): {speed['slowdown']:+.1%}. Models used: {speed['models']}."
        )
        mc = speed["median_cpu_seconds"]
        assert isinstance(mc, dict)
        print(
            f"CPU time: default {mc['auto']:.2f} s, tiny.en forced {mc['tiny.en']:.2f} s: "
            f"{speed['cpu_slowdown']:+.1%}. Runs: wall {speed['runs']}, CPU {speed['cpu_runs']}."
        )
    if table:
        print(f"\nModel table: {len(en)} English clips, the first {n} FLEURS clips a language.")
        print("\n| model | " + " | ".join(("en", *LANGUAGES)) + " |")
        print("| --- |" + " ---: |" * (1 + len(LANGUAGES)))
        for name, rows in table.items():
            cells = [
                f"{r['wer']:.3f} ({r['x_realtime']:.1f}x, CPU {r['cpu_x_realtime']:.1f}x)"
                if (r := rows.get(lang))
                else "-"
                for lang in ("en", *LANGUAGES)
            ]
            print(f"| {name} | " + " | ".join(cells) + " |")
        print(
            "\nCells: WER (x real time by wall clock, and per CPU second of the process), "
            "language given."
        )


def print_routing(routing: dict[str, dict[str, object]], clips: int) -> None:
    """The routing tables in Markdown."""
    print(f"FLEURS {', '.join(LANGUAGES)}: {clips} clips.\n")
    print("| settings | language right | WER | search top 3 (hybrid / bm25 / vector) | s |")
    print("| --- | ---: | ---: | --- | ---: |")
    for name, r in routing.items():
        s = r["search_top3"]
        assert isinstance(s, dict)
        print(
            f"| {name} | {r['language_right']:.0%} | {r['wer']:.3f} | "
            f"{s['hybrid']:.0%} / {s['bm25']:.0%} / {s['vector']:.0%} | {r['seconds']:.0f} |"
        )
    print("\n| settings | language | language right | WER | search top 3 |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, r in routing.items():
        per = r["per_language"]
        assert isinstance(per, dict)
        for lang, row in per.items():
            print(
                f"| {name} | {lang} | {row['language_right']:.0%} | {row['wer']:.3f} | "
                f"{row['search_top3']:.0%} |"
            )


if __name__ == "__main__":
    main()
