from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.transcript import (
    Segment,
    format_timestamp,
    make_chunks,
    parse_subtitles,
    to_srt,
    to_txt,
    to_vtt,
)


def segs(*spans: tuple[float, float]) -> list[Segment]:
    return [Segment(a, b, f"words {i}") for i, (a, b) in enumerate(spans)]


def test_chunks_are_about_thirty_seconds_on_segment_boundaries() -> None:
    segments = [Segment(i * 7.0, i * 7.0 + 6.5, f"sentence {i}") for i in range(30)]
    chunks = make_chunks(segments)
    assert [c.idx for c in chunks] == list(range(len(chunks)))
    for c in chunks[:-1]:
        assert 24.0 <= c.end - c.start <= 36.0
    # Every segment lands in exactly one chunk, in order.
    covered = [i for c in chunks for i in range(c.first_segment, c.last_segment + 1)]
    assert covered == list(range(30))
    assert chunks[0].text.startswith("sentence 0 sentence 1")


def test_a_long_segment_is_its_own_chunk_and_blank_segments_are_skipped() -> None:
    segments = [
        Segment(0, 5, "a"),
        Segment(5, 95, "long"),
        Segment(95, 96, "  "),
        Segment(96, 99, "z"),
    ]
    chunks = make_chunks(segments)
    assert [(c.first_segment, c.last_segment) for c in chunks] == [(0, 0), (1, 1), (3, 3)]


def test_timestamps_display() -> None:
    assert format_timestamp(5) == "0:05"
    assert format_timestamp(872.9) == "14:32"
    assert format_timestamp(3 * 3600 + 62) == "3:01:02"


def test_parse_srt_and_vtt_with_real_world_quirks() -> None:
    srt = (
        "\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hello</i> &amp; welcome\r\nback\r\n\r\n"
        "2\r\n00:00:03,000 --> 00:00:04,000\r\nBye\r\n"
    )
    assert parse_subtitles(srt) == [
        Segment(1.0, 2.5, "Hello & welcome back"),
        Segment(3.0, 4.0, "Bye"),
    ]
    vtt = (
        "WEBVTT - title\n\nNOTE a comment\nspanning lines\n\nSTYLE\n::cue { color: red }\n\n"
        "intro\n00:01.000 --> 00:02.000 align:start position:10%\n<v Dana>Q4 goals</v>\n\n"
        "01:00:00.250 --> 01:00:01.000\nlate\n"
    )
    assert parse_subtitles(vtt) == [Segment(1.0, 2.0, "Q4 goals"), Segment(3600.25, 3601.0, "late")]


texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029"),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10_000_000), st.integers(1, 60_000), texts), max_size=12))
def test_srt_and_vtt_round_trip(cues: list[tuple[int, int, str]]) -> None:
    segments = [Segment(ms / 1000, (ms + d) / 1000, " ".join(t.split())) for ms, d, t in cues]
    segments = [s for s in segments if s.text.replace("-->", "->")]
    for render in (to_srt, to_vtt):
        back = parse_subtitles(render(segments))
        assert len(back) == len(segments)
        for a, b in zip(sorted(segments, key=lambda s: (s.start, s.end)), back, strict=True):
            assert abs(a.start - b.start) < 1e-6 and abs(a.end - b.end) < 1e-6
            # Every word comes back, markup-like text ("<b>", "a <x> b", "&amp;") included:
            # only "-->" is rewritten, since it would read as a timing line.
            assert b.text == a.text.replace("-->", "->"), render.__name__


@pytest.mark.parametrize("render", [to_srt, to_vtt])
@pytest.mark.parametrize("text", ["<b>", "a <x> b", "&amp; &lt;", "{\\an8}up", "x < y > z"])
def test_text_that_looks_like_markup_survives_a_round_trip(render, text: str) -> None:  # type: ignore[no-untyped-def]
    assert [s.text for s in parse_subtitles(render([Segment(1.0, 2.0, text)]))] == [text]


def test_styling_markup_in_a_subtitle_file_is_removed() -> None:
    srt = (
        "1\n00:00:01,000 --> 00:00:02,000\n"
        '<font color="red">Hi</font> <i>there</i>, {\\an8}<B>you</B> &amp; <c.yellow>me</c>\n\n'
        "2\n00:00:03,000 --> 00:00:04,000\n<v Dana>a <x> b <00:00:03.500>c</v>\n"
    )
    assert [s.text for s in parse_subtitles(srt)] == ["Hi there, you & me", "a <x> b c"]


@pytest.mark.parametrize("render,ext", [(to_srt, "srt"), (to_vtt, "vtt")])
def test_ffmpeg_reads_our_subtitles(tmp_path: Path, render, ext) -> None:  # type: ignore[no-untyped-def]
    """FFmpeg's own SRT/WebVTT demuxers (as used by players) parse what we write."""
    import av

    segments = [
        Segment(0.0, 1.5, "First line"),
        Segment(2.0, 3.25, "Second <b>bold</b> & more"),
        Segment(3725.5, 3727.0, "After an hour"),
    ]
    path = tmp_path / f"t.{ext}"
    path.write_text(render(segments), encoding="utf-8")
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        packets = [p for p in container.demux(stream) if p.size]
    assert len(packets) == 3
    starts = [float(p.pts * p.time_base) for p in packets]
    ends = [float((p.pts + p.duration) * p.time_base) for p in packets]
    assert starts == pytest.approx([0.0, 2.0, 3725.5], abs=1e-3)
    assert ends == pytest.approx([1.5, 3.25, 3727.0], abs=1e-3)


def test_txt_has_timestamps() -> None:
    assert to_txt([Segment(65, 70, " hi ")]) == "[1:05] hi\n"
