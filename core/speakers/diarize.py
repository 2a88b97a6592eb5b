"""Diarization: who speaks when, from the audio alone, then applied to a transcript's words.

1. Speech regions come from the Silero voice-activity model that ships with faster-whisper
   (an energy detector was measured to label room noise and spoken titles as speakers).
2. The regions are joined into one speech-only signal, which is cut into 1.6 s windows every
   0.4 s; each window is level-normalised and embedded (:class:`SpeakerEncoder`), then averaged
   with its neighbours (it steadies the embedding of one voice more than it blurs a change).
3. Average-linkage agglomerative clustering on cosine similarity stops when no two clusters are
   more alike than a threshold, so the number of speakers comes from the data. The threshold
   was tuned on mixes that include similar voices (``python -m bench.speakers --tune``).
   Clusters with too little speech are folded into their nearest neighbour, every window is
   then re-assigned to its nearest centroid, and runs shorter than a minimum turn are absorbed
   by their neighbours.
4. :func:`assign_speakers` labels every transcript word with the turn under its midpoint and
   splits a segment at the word where the speaker changes; words are never dropped, and a word
   in overlapping speech takes the label of the window's (dominant) voice.
"""

from __future__ import annotations

import bisect
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from core.speakers.encoder import WINDOW_SAMPLES, SpeakerEncoder
from core.speakers.frontend import SAMPLE_RATE
from core.transcript import Segment, Word

STEP_SAMPLES = int(0.4 * SAMPLE_RATE)


@dataclass(frozen=True)
class DiarizeOptions:
    """Diarization settings; the defaults were tuned with ``python -m bench.speakers --tune``.

    Attributes:
        threshold: Clusters whose average cosine similarity is at least this are merged.
            0.75 is the middle of the plateau of the second tuning sweep (0.725-0.775 with two
            neighbours and 3 s gave every count right and the lowest error; docs/speakers.md).
        neighbours: Windows averaged on each side of a window before clustering.
        min_speaker_seconds: A cluster with less speech than this is folded into its nearest
            neighbour (short stray clusters are noise, music or a cough far more often than a
            person who says two words). 4 s lost a speaker of a single 5 s turn in tuning.
        min_turn_seconds: A run of windows shorter than this takes its neighbours' label.
        max_cluster_points: Above this many windows, consecutive windows are averaged in
            groups before clustering (the similarity matrix is quadratic); every window is
            still assigned on its own afterwards.
        vad_threshold: Silero speech probability for speech.
    """

    threshold: float = 0.75
    neighbours: int = 2
    min_speaker_seconds: float = 3.0
    min_turn_seconds: float = 1.2
    max_cluster_points: int = 800
    vad_threshold: float = 0.5


@dataclass(frozen=True)
class Turn:
    """A stretch of speech by one speaker (item-local label, 0 = the first to speak)."""

    start: float
    end: float
    speaker: int


@dataclass(frozen=True)
class SpeakerCluster:
    """One voice found in an item: its label, unit centroid and seconds of speech."""

    label: int
    centroid: npt.NDArray[np.float32]
    seconds: float


@dataclass(frozen=True)
class Diarization:
    """The turns of an item, in time order, and its speakers."""

    turns: list[Turn]
    speakers: list[SpeakerCluster]

    def speaker_at(self, start: float, end: float) -> int | None:
        """The label for the span ``start``-``end``: the turn under its midpoint, else nearest."""
        if not self.turns:
            return None
        mid = (start + end) / 2
        starts = [t.start for t in self.turns]
        i = bisect.bisect_right(starts, mid) - 1
        if i >= 0 and self.turns[i].end >= mid:
            return self.turns[i].speaker
        candidates = [t for t in self.turns[max(0, i) : i + 2]]
        best = min(candidates, key=lambda t: min(abs(t.start - mid), abs(t.end - mid)))
        return best.speaker


def speech_regions(audio: npt.NDArray[np.float32], threshold: float = 0.5) -> list[tuple[int, int]]:
    """Sample ranges of speech by Silero VAD (pauses of 300 ms or more separate regions)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if audio.shape[0] == 0:
        return []
    regions = get_speech_timestamps(
        audio,
        VadOptions(
            threshold=threshold,
            min_silence_duration_ms=300,
            min_speech_duration_ms=250,
            speech_pad_ms=60,
        ),
    )
    return [(int(r["start"]), int(r["end"])) for r in regions if r["end"] > r["start"]]


def _normalise(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.asarray(x / np.maximum(norm, 1e-12), dtype=np.float32)


def smooth(embeddings: npt.NDArray[np.float32], neighbours: int) -> npt.NDArray[np.float32]:
    """Each row averaged with ``neighbours`` rows on each side (fewer at the ends), unit length."""
    if neighbours <= 0 or embeddings.shape[0] < 2:
        return embeddings
    csum = np.concatenate([np.zeros((1, embeddings.shape[1])), np.cumsum(embeddings, axis=0)])
    n = embeddings.shape[0]
    lo = np.clip(np.arange(n) - neighbours, 0, n)
    hi = np.clip(np.arange(n) + neighbours + 1, 0, n)
    return _normalise((csum[hi] - csum[lo]).astype(np.float32))


def agglomerate(points: npt.NDArray[np.float32], threshold: float) -> npt.NDArray[np.int64]:
    """Average-linkage clustering of unit vectors, merging while similarity >= ``threshold``.

    Returns:
        A cluster number per point (0..k-1, arbitrary order).
    """
    n = points.shape[0]
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    sim = (points @ points.T).astype(np.float64)
    np.fill_diagonal(sim, -np.inf)
    size = np.ones(n)
    owner = np.arange(n)
    active = np.ones(n, dtype=bool)
    while True:
        flat = int(np.argmax(sim))
        i, j = divmod(flat, n)
        if sim[i, j] < threshold:
            break
        # Lance-Williams update for average linkage: the merged row is the size-weighted mean.
        merged = (size[i] * sim[i] + size[j] * sim[j]) / (size[i] + size[j])
        sim[i], sim[:, i] = merged, merged
        sim[i, i] = -np.inf
        sim[j], sim[:, j] = -np.inf, -np.inf
        size[i] += size[j]
        active[j] = False
        owner[owner == j] = i
        if active.sum() == 1:
            break
    _, labels = np.unique(owner, return_inverse=True)
    return labels.astype(np.int64)


def _centroids(
    emb: npt.NDArray[np.float32], labels: npt.NDArray[np.int64], k: int
) -> npt.NDArray[np.float32]:
    out = np.zeros((k, emb.shape[1]), dtype=np.float32)
    np.add.at(out, labels, emb)
    return _normalise(out)


def _runs(labels: npt.NDArray[np.int64]) -> list[tuple[int, int, int]]:
    """(start, end exclusive, label) of each run of equal labels."""
    runs = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            runs.append((start, i, int(labels[start])))
            start = i
    return runs


def _absorb_short_runs(labels: npt.NDArray[np.int64], min_len: int) -> npt.NDArray[np.int64]:
    labels = labels.copy()
    for _ in range(3):
        runs = _runs(labels)
        changed = False
        for r, (a, b, _lab) in enumerate(runs):
            if b - a >= min_len or len(runs) == 1:
                continue
            before = runs[r - 1] if r > 0 else None
            after = runs[r + 1] if r + 1 < len(runs) else None
            # The longer neighbour takes the short run (a flicker inside a turn).
            pick = max((x for x in (before, after) if x is not None), key=lambda x: x[1] - x[0])
            labels[a:b] = pick[2]
            changed = True
            break
        if not changed:
            break
    return labels


def cluster_windows(emb: npt.NDArray[np.float32], options: DiarizeOptions) -> npt.NDArray[np.int64]:
    """Speaker labels (0 = first to speak) for consecutive windows' raw embeddings."""
    n = emb.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    smoothed = smooth(emb, options.neighbours)
    group = max(1, -(-n // options.max_cluster_points))
    blocks = _normalise(
        np.stack([smoothed[i : i + group].mean(axis=0) for i in range(0, n, group)])
    )
    labels = np.repeat(agglomerate(blocks, options.threshold), group)[:n]
    step_s = STEP_SAMPLES / SAMPLE_RATE
    min_windows = max(1, round(options.min_speaker_seconds / step_s))
    for _ in range(3):
        k = int(labels.max()) + 1
        counts = np.bincount(labels, minlength=k)
        big = np.flatnonzero(counts >= min_windows)
        if big.size == 0:
            big = np.array([int(np.argmax(counts))])
        cents = _centroids(smoothed, labels, k)[big]
        # Every window goes to the nearest centroid of a cluster with enough speech.
        labels = big[np.argmax(smoothed @ cents.T, axis=1)]
        _, labels = np.unique(labels, return_inverse=True)
    labels = _absorb_short_runs(labels, max(1, round(options.min_turn_seconds / step_s)))
    # Number speakers by first appearance.
    order: dict[int, int] = {}
    for lab in labels:
        order.setdefault(int(lab), len(order))
    return np.array([order[int(x)] for x in labels], dtype=np.int64)


@dataclass(frozen=True)
class SpeechEmbeddings:
    """The embedded windows of an item's speech-only signal, before clustering.

    Attributes:
        regions: Speech sample ranges in the recording.
        joined: Where each region starts in the speech-only signal (``len(regions) + 1``).
        starts: First sample of each window in the speech-only signal.
        embeddings: ``[windows, 256]`` raw unit embeddings.
    """

    regions: list[tuple[int, int]]
    joined: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]
    embeddings: npt.NDArray[np.float32]


def embed_speech(
    audio: npt.NDArray[np.float32],
    encoder: SpeakerEncoder,
    regions: Sequence[tuple[int, int]],
) -> Generator[float, None, SpeechEmbeddings]:
    """Embed 1.6 s windows every 0.4 s of the speech in ``regions``, yielding the share done."""
    regions = list(regions)
    joined = np.cumsum([0] + [b - a for a, b in regions]).astype(np.int64)
    total = int(joined[-1])
    starts = np.arange(0, max(1, total - WINDOW_SAMPLES + 1), STEP_SAMPLES, dtype=np.int64)
    emb = np.zeros((starts.size, 256), dtype=np.float32)
    if total == 0:
        return SpeechEmbeddings(regions, joined, starts[:0], emb[:0])
    speech = np.concatenate([audio[a:b] for a, b in regions]).astype(np.float32)
    batch = 256
    for i in range(0, starts.size, batch):
        emb[i : i + batch] = encoder.embed(speech, starts[i : i + batch])
        yield min(1.0, (i + batch) / starts.size)
    return SpeechEmbeddings(regions, joined, starts, emb)


def build_diarization(speech: SpeechEmbeddings, options: DiarizeOptions) -> Diarization:
    """Cluster embedded speech and turn the window labels into turns in the recording."""
    if speech.starts.size == 0:
        return Diarization([], [])
    labels = cluster_windows(speech.embeddings, options)
    regions, joined, starts = speech.regions, speech.joined, speech.starts
    total = int(joined[-1])
    # Window i speaks for the stretch of speech around its centre, one step wide.
    centres = starts + WINDOW_SAMPLES // 2
    bounds = np.concatenate([[0], (centres[:-1] + centres[1:]) // 2, [total]])
    pieces: list[Turn] = []
    for i, lab in enumerate(labels):
        a, b = int(bounds[i]), int(bounds[i + 1])
        # Map [a, b) of the speech-only signal back to the recording, region by region.
        r = max(0, int(np.searchsorted(joined, a, side="right")) - 1)
        while a < b and r < len(regions):
            take = min(b, int(joined[r + 1])) - a
            orig = regions[r][0] + (a - int(joined[r]))
            pieces.append(Turn(orig / SAMPLE_RATE, (orig + take) / SAMPLE_RATE, int(lab)))
            a += take
            r += 1
    turns: list[Turn] = []
    for p in pieces:
        if turns and turns[-1].speaker == p.speaker and p.start - turns[-1].end < 1.0:
            turns[-1] = replace(turns[-1], end=p.end)
        else:
            turns.append(p)
    k = int(labels.max()) + 1
    cents = _centroids(speech.embeddings, labels, k)
    seconds = np.zeros(k)
    for t in turns:
        seconds[t.speaker] += t.end - t.start
    speakers = [SpeakerCluster(i, cents[i], float(seconds[i])) for i in range(k)]
    return Diarization(turns, speakers)


def diarize_steps(
    audio: npt.NDArray[np.float32],
    encoder: SpeakerEncoder,
    options: DiarizeOptions | None = None,
    regions: Sequence[tuple[int, int]] | None = None,
) -> Generator[float, None, Diarization]:
    """:func:`diarize` as a generator of the share done (0..1) that returns the result.

    For callers that report progress as they go (``result = yield from diarize_steps(...)``).
    """
    options = options or DiarizeOptions()
    if regions is None:
        regions = speech_regions(audio, options.vad_threshold)
    if not regions:
        return Diarization([], [])
    speech = yield from embed_speech(audio, encoder, regions)
    return build_diarization(speech, options)


def diarize(
    audio: npt.NDArray[np.float32],
    encoder: SpeakerEncoder,
    options: DiarizeOptions | None = None,
    regions: Sequence[tuple[int, int]] | None = None,
) -> Diarization:
    """Find who speaks when in 16 kHz mono ``audio``.

    Args:
        audio: The samples.
        encoder: The speaker encoder.
        options: Settings (the tuned defaults when ``None``).
        regions: Speech sample ranges; found with :func:`speech_regions` when ``None``.

    Returns:
        Turns and speakers; no turns when there is no speech. One voice gives one speaker.
    """
    steps = diarize_steps(audio, encoder, options, regions)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: Diarization = done.value
            return result


def assign_speakers(
    segments: Sequence[Segment], diarization: Diarization, min_piece: float = 0.5
) -> list[Segment]:
    """Label segments with speakers, splitting a segment where the speaker changes mid-way.

    Each word takes the speaker of the turn under its midpoint (the nearest turn when it falls
    in a pause). A segment whose words change speaker is split between those words; a piece
    shorter than ``min_piece`` seconds stays with the piece before it (a boundary off by a
    word). Segments without word timings (subtitles) take the speaker of their midpoint.
    Every word is kept.
    """
    out: list[Segment] = []
    for seg in segments:
        if not diarization.turns:
            out.append(seg)
            continue
        if not seg.words:
            out.append(replace(seg, speaker=diarization.speaker_at(seg.start, seg.end)))
            continue
        groups: list[tuple[int | None, list[Word]]] = []
        for w in seg.words:
            lab = diarization.speaker_at(w.start, w.end)
            if groups and groups[-1][0] == lab:
                groups[-1][1].append(w)
            else:
                groups.append((lab, [w]))
        merged: list[tuple[int | None, list[Word]]] = []
        for lab, words in groups:
            short = words[-1].end - words[0].start < min_piece
            if merged and (short or merged[-1][0] == lab):
                merged[-1][1].extend(words)
            else:
                merged.append((lab, list(words)))
        if len(merged) > 1 and merged[0][1][-1].end - merged[0][1][0].start < min_piece:
            _, words0 = merged.pop(0)
            merged[0] = (merged[0][0], words0 + merged[0][1])
        if len(merged) == 1:
            out.append(replace(seg, speaker=merged[0][0]))
            continue
        for lab, words in merged:
            text = "".join(w.word for w in words).strip()
            out.append(Segment(words[0].start, words[-1].end, text, tuple(words), lab))
    return out
