"""Speaker diarization and profiles on real speech (FLEURS, LibriSpeech) and real models."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from core.errors import NotFoundError, UsageError
from core.ingest.media import SAMPLE_RATE, decode_audio
from core.speakers.diarize import (
    Diarization,
    SpeakerCluster,
    Turn,
    assign_speakers,
    diarize,
)
from core.speakers.encoder import SpeakerEncoder
from core.speakers.frontend import HOP, N_MELS, mel_filterbank, mel_spectrogram
from core.speakers.profiles import (
    find_profile,
    list_profiles,
    merge_profiles,
    rename_profile,
    speaker_names,
    split_profile,
    store_item_speakers,
)
from core.store import Library
from core.transcript import Segment, Word, to_json, to_srt, to_txt, to_vtt
from tests.conftest import require_shared

PAUSE = np.zeros(int(0.5 * SAMPLE_RATE), dtype=np.float32)


@pytest.fixture(scope="module")
def encoder() -> SpeakerEncoder:
    return SpeakerEncoder(threads=2)


def clip(name: str) -> np.ndarray:
    return decode_audio(require_shared("speech", "fleurs", f"{name}.ogg"))


def libri_1089() -> np.ndarray:
    root = require_shared("speech", "librispeech")
    parts = [decode_audio(p) for p in sorted(root.glob("1089-*.flac"))]
    return np.concatenate([x for p in parts for x in (p, PAUSE)])


def turns_of(*pieces: tuple[int, np.ndarray]) -> tuple[np.ndarray, list[tuple[float, float, int]]]:
    audio, ref, t = [], [], 0.0
    for who, x in pieces:
        audio += [x, PAUSE]
        ref.append((t, t + x.shape[0] / SAMPLE_RATE, who))
        t += (x.shape[0] + PAUSE.shape[0]) / SAMPLE_RATE
    return np.concatenate(audio), ref


def error(d: Diarization, ref: list[tuple[float, float, int]]) -> float:
    """Share of reference time under the wrong label after the best 2-speaker mapping."""
    frames = np.arange(0, ref[-1][1], 0.05)
    truth = np.full(frames.size, -1)
    for a, b, who in ref:
        truth[(frames >= a) & (frames < b)] = who
    hyp = np.array([d.speaker_at(f, f) if truth[i] >= 0 else -1 for i, f in enumerate(frames)])
    speech = truth >= 0
    best = max(np.mean(hyp[speech] == truth[speech]), np.mean(hyp[speech] == 1 - truth[speech]))
    return float(1 - best)


# -- front end and encoder ------------------------------------------------------------------


def test_mel_front_end_puts_a_tone_in_its_band_and_frames_every_10ms() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    mel = mel_spectrogram(tone)
    assert mel.shape == (1 + SAMPLE_RATE // HOP, N_MELS)
    bank = mel_filterbank()
    # The band whose triangle peaks nearest 1 kHz holds the energy.
    peak_bin = 1000 * 400 // SAMPLE_RATE
    assert int(np.argmax(mel[50])) == int(np.argmax(bank[:, peak_bin]))
    # Power: twice the amplitude is four times the mel energy (not log-scaled).
    assert np.allclose(mel_spectrogram(2 * tone)[50], 4 * mel[50], rtol=1e-4)


def test_encoder_is_level_invariant_and_tells_voices_apart(encoder: SpeakerEncoder) -> None:
    a, b = clip("fleurs-en-000"), clip("fleurs-de-001")
    starts = np.arange(0, a.shape[0] - 25600, 6400)
    loud = encoder.embed(a, starts)
    quiet = encoder.embed(a * 0.1, starts)  # 20 dB quieter
    assert np.min(np.sum(loud * quiet, axis=1)) > 0.99
    mean_a = loud.mean(axis=0) / np.linalg.norm(loud.mean(axis=0))
    other = encoder.embed(b, np.arange(0, b.shape[0] - 25600, 6400)).mean(axis=0)
    other /= np.linalg.norm(other)
    halves = encoder.embed(a, starts[len(starts) // 2 :]).mean(axis=0)
    halves /= np.linalg.norm(halves)
    assert float(mean_a @ other) < float(mean_a @ halves)


# -- diarization on real speech -------------------------------------------------------------


def test_one_speaker_gives_exactly_one_speaker(encoder: SpeakerEncoder) -> None:
    for audio in (libri_1089(), clip("fleurs-de-009"), clip("fleurs-pt-000")):
        d = diarize(audio, encoder)
        assert len(d.speakers) == 1, [t for t in d.turns]
        assert {t.speaker for t in d.turns} == {0}


def test_two_speakers_with_turns_are_found_and_labelled(encoder: SpeakerEncoder) -> None:
    a, b = clip("fleurs-en-005"), clip("fleurs-es-000")
    ha, hb = a.shape[0] // 2, b.shape[0] // 2
    audio, ref = turns_of((0, a[:ha]), (1, b[:hb]), (0, a[ha:]), (1, b[hb:]))
    d = diarize(audio, encoder)
    assert len(d.speakers) == 2
    assert error(d, ref) < 0.15


def test_stereo_and_8khz_phone_audio(tmp_path: Path, encoder: SpeakerEncoder) -> None:
    a, b = clip("fleurs-en-008"), clip("fleurs-pt-001")
    # Stereo: one speaker per channel, one after the other; decoding mixes to mono.
    n = a.shape[0] + b.shape[0] + PAUSE.shape[0]
    left = np.concatenate([a, PAUSE, np.zeros_like(b)])
    right = np.concatenate([np.zeros_like(a), PAUSE, b])
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        pcm = (np.stack([left, right], axis=1) * 32767).astype(np.int16)
        w.writeframes(pcm.tobytes())
    mono = decode_audio(path)
    assert abs(mono.shape[0] - n) < 400
    assert len(diarize(mono, encoder).speakers) == 2
    # 8 kHz phone audio: decimated (band-limited to 4 kHz), then decoded back to 16 kHz.
    phone = tmp_path / "phone.wav"
    eight = np.concatenate([a, PAUSE, b])[::2]
    with wave.open(str(phone), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((eight * 32767).astype(np.int16).tobytes())
    decoded = decode_audio(phone)
    d = diarize(decoded, encoder)
    assert 1 <= len(d.speakers) <= 2
    one = diarize(decode_audio(phone)[: a.shape[0]], encoder)
    assert len(one.speakers) == 1


def test_music_short_and_silent_audio_never_invent_speakers(encoder: SpeakerEncoder) -> None:
    t = np.arange(8 * SAMPLE_RATE) / SAMPLE_RATE
    notes = 220 * 2 ** (np.floor(t * 2) % 8 / 12)
    music = 0.2 * np.sin(2 * np.pi * notes * t) + 0.1 * np.sin(2 * np.pi * 2 * notes * t)
    assert len(diarize(music.astype(np.float32), encoder).speakers) <= 1
    assert diarize(np.zeros(SAMPLE_RATE * 3, np.float32), encoder).turns == []
    assert diarize(np.zeros(0, np.float32), encoder).turns == []
    short = clip("fleurs-en-004")[: int(0.8 * SAMPLE_RATE)]
    assert len(diarize(short, encoder).speakers) <= 1


def test_overlapping_speech_labels_the_dominant_voice_and_keeps_every_word(
    encoder: SpeakerEncoder,
) -> None:
    a, b = clip("fleurs-en-005"), clip("fleurs-es-000")
    n = min(a.shape[0], b.shape[0])
    overlap = a[:n] + 0.25 * b[:n]  # the English voice dominates
    d = diarize(np.concatenate([a, PAUSE, overlap]), encoder)
    assert len(d.speakers) >= 1
    start = (a.shape[0] + PAUSE.shape[0]) / SAMPLE_RATE
    words = tuple(
        Word(start + i * 0.5, start + i * 0.5 + 0.4, f" w{i}", 0.9) for i in range(int(n / 8000))
    )
    seg = Segment(words[0].start, words[-1].end, "".join(w.word for w in words).strip(), words)
    out = assign_speakers([seg], d)
    assert sum(len(s.words or ()) for s in out) == len(words)
    labels = [s.speaker for s in out]
    first = d.speaker_at(1.0, 2.0)
    # The mixed part is labelled with the dominant (first) voice most of the time.
    covered = sum(s.end - s.start for s in out if s.speaker == first)
    assert covered / (seg.end - seg.start) > 0.7, labels


# -- word-level assignment ------------------------------------------------------------------


def _words(spec: list[tuple[float, float, str]]) -> tuple[Word, ...]:
    return tuple(Word(a, b, w, 0.9) for a, b, w in spec)


def test_a_segment_spanning_a_change_is_split_between_words() -> None:
    d = Diarization(
        [Turn(0.0, 3.05, 0), Turn(3.05, 8.0, 1)],
        [SpeakerCluster(0, np.ones(256, np.float32), 3), SpeakerCluster(1, np.ones(256), 5)],
    )
    words = _words(
        [
            (0.2, 0.9, " So"),
            (1.0, 2.0, " that's"),
            (2.1, 3.0, " it."),
            (3.1, 3.6, " Right,"),
            (3.7, 4.5, " thanks"),
            (4.6, 5.2, " everyone."),
        ]
    )
    seg = Segment(0.2, 5.2, "So that's it. Right, thanks everyone.", words)
    out = assign_speakers([seg], d)
    assert [(s.text, s.speaker) for s in out] == [
        ("So that's it.", 0),
        ("Right, thanks everyone.", 1),
    ]
    assert out[1].start == 3.1 and out[0].end == 3.0
    # A flicker shorter than half a second stays with the piece before it.
    blip = Diarization([Turn(0, 2.0, 0), Turn(2.0, 2.3, 1), Turn(2.3, 6, 0)], d.speakers)
    out = assign_speakers([seg], blip)
    assert len(out) == 1 and out[0].speaker == 0
    # Subtitle cues (no words) take the speaker under their middle.
    assert assign_speakers([Segment(3.2, 6.0, "cue")], d)[0].speaker == 1


# -- profiles -------------------------------------------------------------------------------


def _voice(label: int, vec: np.ndarray, seconds: float = 20.0) -> SpeakerCluster:
    return SpeakerCluster(label, (vec / np.linalg.norm(vec)).astype(np.float32), seconds)


def test_profiles_match_across_items_rename_merge_and_survive_reingest(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    dana, lee = rng.normal(size=256), rng.normal(size=256)
    with Library(tmp_path / "lib") as lib:
        one = lib.upsert_pending("/one.wav", "one", "audio")
        two = lib.upsert_pending("/two.wav", "two", "audio")
        m1 = store_item_speakers(lib.db, one, [_voice(0, dana), _voice(1, lee)])
        assert m1[0] != m1[1]
        m2 = store_item_speakers(lib.db, two, [_voice(0, lee + 0.3 * rng.normal(size=256))])
        assert m2[0] == m1[1]  # the same voice in another file gets the same profile
        rename_profile(lib.db, m1[0], "Dana")
        assert speaker_names(lib.db, one) == {0: "Dana", 1: f"Speaker {m1[1]}"}
        assert find_profile(lib.db, "dana") == m1[0]
        with pytest.raises(UsageError):
            rename_profile(lib.db, m1[1], "DANA")
        with pytest.raises(NotFoundError):
            find_profile(lib.db, "Nobody")
        # Re-ingest of item one with a shifted voice: the named profile keeps its name and
        # centroid, and the voice is matched to it again.
        before = lib.db.scalar("SELECT centroid FROM speaker_profiles WHERE id=?", (m1[0],))
        again = store_item_speakers(lib.db, one, [_voice(0, dana + 0.3 * rng.normal(size=256))])
        assert again[0] == m1[0]
        after = lib.db.scalar("SELECT centroid FROM speaker_profiles WHERE id=?", (m1[0],))
        assert before == after
        # Lee left item one but still speaks in item two, so the profile stays.
        names = {p.id: p for p in list_profiles(lib.db)}
        assert names[m1[0]].name == "Dana" and names[m1[1]].items == 1
        merged = merge_profiles(lib.db, m1[0], m1[1])
        assert merged.name == "Dana" and merged.items == 2
        assert [p.id for p in list_profiles(lib.db)] == [m1[0]]
        with pytest.raises(UsageError):
            merge_profiles(lib.db, m1[0], m1[0])
        with pytest.raises(NotFoundError):
            merge_profiles(lib.db, m1[0], 999)
        # Split: the merged profile's voice in item two becomes a profile of its own again;
        # Dana, named, keeps her name and her centroid.
        merged_centroid = lib.db.scalar(
            "SELECT centroid FROM speaker_profiles WHERE id=?", (m1[0],)
        )
        split = split_profile(lib.db, m1[0], two)
        assert split.id != m1[0] and split.items == 1
        assert split.name == f"Speaker {split.id}"
        assert speaker_names(lib.db, two) == {0: split.name}
        assert speaker_names(lib.db, one) == {0: "Dana"}
        centroid = lib.db.scalar("SELECT centroid FROM speaker_profiles WHERE id=?", (m1[0],))
        assert centroid == merged_centroid
        with pytest.raises(UsageError, match="only item"):
            split_profile(lib.db, split.id, two)
        with pytest.raises(NotFoundError, match="does not speak in item"):
            split_profile(lib.db, m1[0], two)


def test_transcript_formats_show_speakers_only_when_there_are_several() -> None:
    segs = [Segment(0, 2, "Hello there.", None, 0), Segment(2, 4, "Hi <you>.", None, 1)]
    names = {0: "Dana", 1: "Speaker 7"}
    assert "Dana: Hello there." in to_txt(segs, names)
    assert "Speaker 7: Hi <you>." in to_srt(segs, names)
    assert "<v Dana>Hello there." in to_vtt(segs, names)
    assert "<v Speaker 7>Hi &lt;you&gt;." in to_vtt(segs, names)
    rows = json.loads(to_json(segs, names))
    assert [r["speaker"] for r in rows] == ["Dana", "Speaker 7"]
    single = [Segment(0, 2, "Alone.", None, 0)]
    assert "Dana" not in to_txt(single, names) and "<v" not in to_vtt(single, names)
    assert json.loads(to_json(single, names))[0]["speaker"] == "Dana"
    assert json.loads(to_json([Segment(0, 1, "x")]))[0]["speaker"] is None


# -- end to end through the command line ----------------------------------------------------


def _write_wav(path: Path, audio: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


@pytest.mark.slow
@pytest.mark.shared_data
def test_cli_ingest_names_speakers_in_transcripts_and_search(tmp_path: Path) -> None:
    from tests.core.test_cli import mm

    a = clip("fleurs-en-005")
    b = decode_audio(require_shared("speech", "librispeech", "2412-153948-0000.flac"))
    ha, hb = a.shape[0] // 2, b.shape[0] // 2
    audio, _ = turns_of((0, a[:ha]), (1, b[:hb]), (0, a[ha:]), (1, b[hb:]))
    media = tmp_path / "media"
    media.mkdir()
    _write_wav(media / "talk.wav", audio)
    lib = tmp_path / "lib"
    out = mm("ingest", str(media / "talk.wav"), "--threads", "2", library=lib)
    assert out.returncode == 0, out.stderr
    profiles = json.loads(mm("speakers", "--json", library=lib).stdout)
    assert len(profiles) == 2 and all(p["items"] == 1 for p in profiles)
    assert {p["name"] for p in profiles} == {f"Speaker {p['id']}" for p in profiles}
    rows = json.loads(mm("transcript", "1", "--format", "json", library=lib).stdout)
    assert {r["speaker"] for r in rows} == {p["name"] for p in profiles}
    first = rows[0]["speaker"]
    pid = next(p["id"] for p in profiles if p["name"] == first)
    assert mm("speakers", "rename", str(pid), "Dana", library=lib).returncode == 0
    vtt = mm("transcript", "1", "--format", "vtt", library=lib).stdout
    assert "<v Dana>" in vtt
    txt = mm("transcript", "1", library=lib).stdout
    assert "Dana: " in txt
    # A second file with only the second voice: its profile is the one from the first file.
    _write_wav(media / "reading.wav", b)
    assert mm("ingest", str(media / "reading.wav"), library=lib).returncode == 0
    profiles = json.loads(mm("speakers", "--json", library=lib).stdout)
    assert sorted(p["items"] for p in profiles) == [1, 2]
    query = "reader excuse antecedents native country"
    every = json.loads(mm("search", query, "--json", library=lib).stdout)
    assert {h["media_id"] for h in every} == {1, 2}
    hits = json.loads(mm("search", query, "--json", "--speaker", "dana", library=lib).stdout)
    assert hits and {h["media_id"] for h in hits} == {1}
    assert all("Dana" in h["speakers"] for h in hits)
    missing = mm("search", query, "--speaker", "Nobody", library=lib)
    assert missing.returncode == 1 and "no speaker called 'Nobody'" in missing.stderr
    # Without diarization the same file has no speakers.
    lib2 = tmp_path / "lib2"
    assert mm("ingest", str(media), "--no-speakers", library=lib2).returncode == 0
    rows = json.loads(mm("transcript", "1", "--format", "json", library=lib2).stdout)
    assert rows and all(r["speaker"] is None for r in rows)
    assert json.loads(mm("speakers", "--json", library=lib2).stdout) == []


def test_a_copy_reusing_a_transcript_gets_the_same_voices(tmp_path: Path) -> None:
    from core.speakers import hooks
    from core.store import ItemMetadata

    rng = np.random.default_rng(1)
    voices = [_voice(0, rng.normal(size=256)), _voice(1, rng.normal(size=256))]
    segs = [Segment(0, 2, "Hello.", None, 0), Segment(2, 4, "Hi.", None, 1)]
    meta = ItemMetadata("d" * 64, 10, 1.0, 4.0, "wav", "pcm", "audio", "t", "en", "whisper:x")
    with Library(tmp_path / "lib") as lib:
        first = lib.upsert_pending("/a.wav", "a", "audio")
        diar = Diarization([Turn(0, 2, 0), Turn(2, 4, 1)], voices)
        lib.store_transcript(first, meta, segs, on_complete=hooks.on_complete(lib, first, diar))
        copy = lib.upsert_pending("/b.wav", "b", "audio")
        lib.store_transcript(
            copy, meta, lib.segments(first), on_complete=hooks.reused(lib, "d" * 64, copy)
        )
        assert speaker_names(lib.db, copy) == speaker_names(lib.db, first)
        assert len(set(speaker_names(lib.db, first).values())) == 2
        assert [p.items for p in list_profiles(lib.db)] == [2, 2]


@pytest.mark.slow
@pytest.mark.shared_data
def test_ask_what_a_named_speaker_said_cites_only_their_words(tmp_path: Path) -> None:
    from core.answer import Answerer
    from core.speakers.profiles import speaker_spans, speakers_in_question, spoken_by
    from tests.core.test_cli import mm

    a = clip("fleurs-en-005")  # "the hospital has followed protocol for infection control..."
    b = decode_audio(require_shared("speech", "librispeech", "2412-153948-0000.flac"))
    ha, hb = a.shape[0] // 2, b.shape[0] // 2
    audio, _ = turns_of((0, a[:ha]), (1, b[:hb]), (0, a[ha:]), (1, b[hb:]))
    talk = _write_wav(tmp_path / "talk.wav", audio)
    lib_dir = tmp_path / "lib"
    assert mm("ingest", str(talk), "--threads", "2", library=lib_dir).returncode == 0
    with Library(lib_dir) as lib:
        rows = lib.db.query(
            "SELECT s.start, i.profile_id FROM segments s JOIN item_speakers i "
            "ON i.media_id = s.media_id AND i.label = s.speaker ORDER BY s.start"
        )
        nurse = int(next(r["profile_id"] for r in rows))  # speaks first: the hospital
        reader = next(p.id for p in list_profiles(lib.db) if p.id != nurse)
        rename_profile(lib.db, nurse, "Dana")
        rename_profile(lib.db, reader, "Lee")
        assert speakers_in_question(lib.db, "What did Dana say about infection control?") == (
            nurse,
        )
        assert speakers_in_question(lib.db, "According to Lee, what happened?") == (reader,)
        assert speakers_in_question(lib.db, "What was said about Dana?") == ()
        spans = speaker_spans(lib.db, [1], (nurse,))[1]
        answerer = Answerer(lib, cache=False)
        own = answerer.answer("What did Dana say about infection control at the hospital?")
        assert not own.refused and own.citations
        assert all(spoken_by(spans, c.start, c.end) for c in own.citations)
        # The hospital sentences are in the only chunk Lee speaks in too, but they are Dana's:
        # asked what Lee said, the answer never cites them.
        other = answerer.answer("What did Lee say about infection control at the hospital?")
        assert not any(spoken_by(spans, c.start, c.end) for c in other.citations)
    # The command line restricts the same way with --speaker.
    out = mm("ask", "What about infection control?", "--speaker", "Lee", "--json", library=lib_dir)
    assert out.returncode == 0, out.stderr
    cited = json.loads(out.stdout)["citations"]
    assert not any(spoken_by(spans, c["start"], c["end"]) for c in cited)
