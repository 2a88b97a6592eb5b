"""Ingest benchmark: speed (x real time) and WER, ours against faster-whisper's defaults.

Run ``python -m bench.ingest [--repeats 3] [--json]``. Data: ``../shared/data/speech``
(LibriSpeech, FLEURS-en and JFK with human references). Every clip is measured on its own and
"long form": all clips joined with 0.5 s pauses into one file, as a recording of several
speakers. Ours runs end to end (``mediamind ingest`` into a fresh library: decode, hash,
transcribe, chunk, store). The peer is ``WhisperModel.transcribe()`` with its default
settings on the same model and compute type, in the same run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data import shared_data
from bench.wer import corpus_wer, edit_ops, normalize
from core.ingest import IngestOptions, ingest
from core.ingest.media import SAMPLE_RATE, decode_audio
from core.store import Library

REPO = Path(__file__).resolve().parents[1]


def shared_speech() -> Path:
    """The speech folder of the shared evaluation data."""
    return shared_data("speech")


@dataclass(frozen=True)
class Clip:
    """An English recording with its human reference transcript."""

    name: str
    path: Path
    reference: str


def english_clips(root: Path) -> list[Clip]:
    """LibriSpeech (6), FLEURS-en (10) and JFK (1), in a fixed order."""
    clips = []
    with (root / "librispeech" / "references.tsv").open() as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            clips.append(Clip(row["utt_id"], root / "librispeech" / row["audio"], row["text"]))
    for i in range(10):
        stem = root / "fleurs" / f"fleurs-en-{i:03d}"
        clips.append(
            Clip(stem.name, stem.with_suffix(".ogg"), stem.with_suffix(".txt").read_text())
        )
    refs = json.loads((root / "faster_whisper_test_references.json").read_text())
    jfk = next(r for r in refs if r["audio"] == "jfk.flac")
    clips.append(Clip("jfk", root / "jfk.flac", jfk["text"]))
    return clips


def write_long_form(clips: list[Clip], path: Path, pause: float = 0.5) -> float:
    """Join the clips with pauses into one 16 kHz WAV; return its duration in seconds."""
    import av

    gap = np.zeros(int(pause * SAMPLE_RATE), dtype=np.float32)
    audio = np.concatenate([x for c in clips for x in (decode_audio(c.path), gap)])
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=SAMPLE_RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.rate = SAMPLE_RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return audio.shape[0] / SAMPLE_RATE


def ours(paths: list[Path], model: str) -> tuple[list[str], float]:
    """Ingest end to end into a fresh library; return the transcripts and seconds taken."""
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library(tmp)
        start = time.perf_counter()
        events = list(ingest(lib, paths, IngestOptions(model=model)))
        elapsed = time.perf_counter() - start
        failed = [e.message for e in events if e.kind == "failed"]
        if failed:
            raise RuntimeError(f"ingest failed: {failed}")
        by_path = {i.path: i.id for i in lib.items()}
        texts = [" ".join(s.text for s in lib.segments(by_path[str(p.resolve())])) for p in paths]
        lib.close()
    return texts, elapsed


def peer(paths: list[Path], model: str) -> tuple[list[str], float]:
    """faster-whisper with default transcribe() settings (beam 5, timestamps, no VAD)."""
    from faster_whisper import WhisperModel
    from faster_whisper.audio import decode_audio as fw_decode

    from core.registry import whisper_model_dir
    from core.system import physical_cores

    wm = WhisperModel(
        str(whisper_model_dir(model)),
        device="cpu",
        compute_type="int8",
        cpu_threads=physical_cores(),
    )
    start = time.perf_counter()
    texts = []
    for p in paths:
        segments, _ = wm.transcribe(fw_decode(str(p)))
        texts.append(" ".join(s.text for s in segments))
    return texts, time.perf_counter() - start


def score(refs: list[str], hyps: list[str]) -> dict[str, float]:
    """Corpus WER and the share of reference words deleted."""
    deletions = sum(
        edit_ops(normalize(r), normalize(h))[1] for r, h in zip(refs, hyps, strict=True)
    )
    words = sum(len(normalize(r)) for r in refs)
    return {"wer": corpus_wer(list(zip(refs, hyps, strict=True))), "deleted": deletions / words}


def machine() -> str:
    """One line about the machine the numbers come from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} CPUs ({cpu}), load average {load:.1f} at start"


def main() -> None:
    """Run the benchmark and print a Markdown table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    root = shared_speech()
    if not root.exists():
        raise SystemExit(f"{root} is absent: the benchmark needs ../shared/data/speech")
    clips = english_clips(root)
    refs = [c.reference for c in clips]
    clip_seconds = sum(decode_audio(c.path).shape[0] for c in clips) / SAMPLE_RATE
    info = machine()
    with tempfile.TemporaryDirectory() as tmp:
        long_path = Path(tmp) / "long_form.wav"
        long_seconds = write_long_form(clips, long_path)
        long_ref = [" ".join(refs)]
        runs: dict[str, list[float]] = {}
        results: dict[str, dict[str, float]] = {}
        systems: dict[str, Callable[[list[Path], str], tuple[list[str], float]]] = {
            "mediamind": ours,
            "faster-whisper defaults": peer,
        }
        for _ in range(args.repeats):
            for name, fn in systems.items():
                hyps, t = fn([c.path for c in clips], args.model)
                runs.setdefault(f"{name}|clips", []).append(clip_seconds / t)
                results[f"{name}|clips"] = score(refs, hyps)
                hyps, t = fn([long_path], args.model)
                runs.setdefault(f"{name}|long", []).append(long_seconds / t)
                results[f"{name}|long"] = score(long_ref, hyps)
    table = {
        key: {**results[key], "speed_x_realtime": statistics.median(v), "runs": v}
        for key, v in runs.items()
    }
    summary = {
        "machine": info,
        "model": args.model,
        "clips": len(clips),
        "clip_seconds": round(clip_seconds, 1),
        "long_form_seconds": round(long_seconds, 1),
        "results": table,
        "speed_ratio_vs_peer_clips": table["mediamind|clips"]["speed_x_realtime"]
        / table["faster-whisper defaults|clips"]["speed_x_realtime"],
        "speed_ratio_vs_peer_long": table["mediamind|long"]["speed_x_realtime"]
        / table["faster-whisper defaults|long"]["speed_x_realtime"],
        "long_over_clip_wer": table["mediamind|long"]["wer"]
        / max(table["mediamind|clips"]["wer"], 1e-9),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"Machine: {info}. Model {args.model}, median of {args.repeats} runs.")
    print(f"{len(clips)} clips, {clip_seconds:.1f} s; long form {long_seconds:.1f} s.\n")
    print("| system | input | x real time (median) | WER | words deleted |")
    print("| --- | --- | ---: | ---: | ---: |")
    for key, row in table.items():
        name, kind = key.split("|")
        print(
            f"| {name} | {'per clip' if kind == 'clips' else 'long form'} | "
            f"{row['speed_x_realtime']:.1f} | {row['wer']:.3f} | {row['deleted']:.3f} |"
        )
    print(
        f"\nSpeed vs peer: {summary['speed_ratio_vs_peer_clips']:.2f}x per clip, "
        f"{summary['speed_ratio_vs_peer_long']:.2f}x long form. "
        f"Long-form WER / per-clip WER: {summary['long_over_clip_wer']:.2f}."
    )


if __name__ == "__main__":
    main()
