"""How the demo library reads once ingested: WER of each item's transcript against its script.

``python -m bench.demo_wer [--library DIR] [--threads N]``

Ingests ``demo/media`` as a user's first start does (default settings: the automatic model
choice, which sends the demo's English to Whisper tiny.en, greedy, int8; speakers on;
transcribing, not the podcast's subtitles), then compares every item's stored transcript with
the spoken words of its script (``demo/scripts``). Two figures per item: ``raw`` (lower-case,
punctuation removed) and ``normalised`` (``bench.wer.normalize``: numbers spelled out, so
"$12 million" equals "twelve million dollars"). Nothing is tuned on these numbers; the scripts
were written before the voices were chosen.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.wer import edit_distance, normalize

HERE = Path(__file__).resolve().parent
DEMO = HERE.parent / "demo"


def _raw_words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("-", " ")).split()


def _make_demo() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_demo", DEMO / "make_demo.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {DEMO / 'make_demo.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def measure(library: Path, threads: int | None) -> list[dict[str, Any]]:
    """Ingest the demo into ``library`` and return one row of WER figures per scripted item."""
    from core.ingest import IngestOptions, ingest
    from core.store import Library

    md = _make_demo()
    rows: list[dict[str, Any]] = []
    with Library(library) as lib:
        started = time.perf_counter()
        for ev in ingest(lib, [DEMO / "media"], IngestOptions(threads=threads)):
            if ev.kind == "failed":
                raise SystemExit(f"ingest failed: {ev.message}")
        elapsed = time.perf_counter() - started
        for item in lib.items():
            stem = Path(item.path).stem
            script = DEMO / "scripts" / f"{stem}.txt"
            if not script.is_file():
                continue
            ref = md.spoken_text(script)
            hyp = " ".join(s.text for s in lib.segments(item.id))
            raw_ref, raw_hyp = _raw_words(ref), _raw_words(hyp)
            norm_ref, norm_hyp = normalize(ref), normalize(hyp)
            rows.append(
                {
                    "item": Path(item.path).name,
                    "words": len(raw_ref),
                    "wer_raw": edit_distance(raw_ref, raw_hyp) / len(raw_ref),
                    "wer_normalised": edit_distance(norm_ref, norm_hyp) / len(norm_ref),
                    "transcript_head": hyp[:160],
                }
            )
    rows.append({"item": "(ingest seconds)", "seconds": round(elapsed, 1)})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the table (and ``--json`` rows)."""
    parser = argparse.ArgumentParser(prog="python -m bench.demo_wer")
    parser.add_argument("--library", type=Path, help="library to ingest into (default: temp)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mediamind-demo-wer-") as tmp:
        rows = measure(args.library or Path(tmp) / "library", args.threads)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print("| item | words | WER raw | WER numbers normalised |")
    print("|---|---:|---:|---:|")
    for r in rows:
        if "words" in r:
            print(
                f"| `{r['item']}` | {r['words']} | {r['wer_raw']:.1%} | {r['wer_normalised']:.1%} |"
            )
    for r in rows:
        if "words" in r:
            print(f"{r['item']}: {r['transcript_head']}", file=sys.stderr)
    print(f"ingest: {rows[-1]['seconds']} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
