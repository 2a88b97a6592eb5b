"""Property tests (hypothesis): the subtitle parsers and the command line's argument parsing.

Whatever the input, the answer is a result or a MediaMind error with its one clear line, never
another exception; well-formed input written in any of the usual ways reads back the same.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core import cli
from core.errors import MediaMindError
from core.transcript import Segment, parse_subtitles, read_subtitle_file

# -- subtitle parsers ----------------------------------------------------------------------------

words = (
    st.text(
        alphabet=st.characters(
            blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="<>&{"
        ),
        min_size=1,
        max_size=20,
    )
    .map(lambda s: " ".join(s.split()))
    .filter(bool)
    .filter(lambda s: "-->" not in s)
)


@st.composite
def cue_lists(draw: st.DrawFn) -> list[tuple[int, int, list[str]]]:
    """Cues as (start ms, end ms, text lines), valid times under 100 hours."""
    cues = []
    for _ in range(draw(st.integers(1, 8))):
        start = draw(st.integers(0, 99 * 3_600_000))
        end = start + draw(st.integers(0, 600_000))
        lines = draw(st.lists(words, min_size=1, max_size=3))
        cues.append((start, end, lines))
    return cues


def _stamp(ms: int, sep: str, short_hours: bool) -> str:
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, frac = divmod(rem, 1000)
    if short_hours and h == 0:
        return f"{m:02d}:{s:02d}{sep}{frac:03d}"
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{frac:03d}"


@st.composite
def subtitle_files(draw: st.DrawFn) -> tuple[str, list[tuple[int, int, list[str]]]]:
    """One cue list written as SRT or WebVTT, in any of the layouts files come in."""
    cues = draw(cue_lists())
    vtt = draw(st.booleans())
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    gap = draw(st.sampled_from(["\n", "\n\n", "\n \n", "\n\t\n"]))
    blocks = []
    for n, (start, end, lines) in enumerate(cues, start=1):
        sep = "." if vtt else ","
        timing = f"{_stamp(start, sep, vtt)} --> {_stamp(end, sep, vtt)}"
        if vtt and draw(st.booleans()):
            timing += " align:start position:10%"
        number = [] if (vtt and draw(st.booleans())) else [str(n)]
        blocks.append("\n".join([*number, timing, *lines]))
    text = ("WEBVTT\n\n" if vtt else "") + gap.join(b + "\n" for b in blocks)
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text.replace("\n", newline), cues


def _expected(cues: list[tuple[int, int, list[str]]]) -> list[tuple[float, float, str]]:
    rows = [(s / 1000, e / 1000, " ".join(" ".join(lines).split())) for s, e, lines in cues]
    return sorted(rows, key=lambda r: (r[0], r[1]))


@settings(max_examples=150, deadline=None)
@given(subtitle_files())
def test_well_formed_files_in_any_layout_read_back_every_cue(
    case: tuple[str, list[tuple[int, int, list[str]]]],
) -> None:
    text, cues = case
    got = [(s.start, s.end, s.text) for s in parse_subtitles(text)]
    want = _expected(cues)
    assert len(got) == len(want)
    for (a, b, t), (x, y, u) in zip(got, want, strict=True):
        assert math.isclose(a, x, abs_tol=1e-9) and math.isclose(b, y, abs_tol=1e-9)
        assert t == u


@settings(max_examples=80, deadline=None)
@given(subtitle_files(), st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
def test_files_read_the_same_in_the_encodings_they_come_in(
    tmp_path_factory: pytest.TempPathFactory,
    case: tuple[str, list[tuple[int, int, list[str]]]],
    encoding: str,
) -> None:
    text, _ = case
    try:
        data = text.lstrip("\ufeff").encode(encoding)
    except UnicodeEncodeError:
        assume(False)
        return
    path = tmp_path_factory.mktemp("enc") / "cues.srt"
    path.write_bytes(data)
    assert read_subtitle_file(path) == parse_subtitles(text)


@settings(max_examples=20, deadline=None)
@given(subtitle_files(), st.sampled_from(["utf-16", "utf-16-le", "utf-16-be"]))
def test_utf16_files_read_like_utf8(
    tmp_path_factory: pytest.TempPathFactory,
    case: tuple[str, list[tuple[int, int, list[str]]]],
    encoding: str,
) -> None:
    text, _ = case
    path = tmp_path_factory.mktemp("enc") / "cues.srt"
    path.write_bytes(text.lstrip("\ufeff").encode(encoding))
    assert read_subtitle_file(path) == parse_subtitles(text)


def _check_segments(segments: list[Segment]) -> None:
    for seg in segments:
        assert math.isfinite(seg.start) and math.isfinite(seg.end)
        assert 0 <= seg.start <= seg.end
        assert seg.text and seg.text == seg.text.strip()
    assert segments == sorted(segments, key=lambda s: (s.start, s.end))


timing_noise = st.text(alphabet="0123456789:,.-> \n\r\tWEBVT<b>i/{}\\&;", max_size=300)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), timing_noise))
def test_any_text_parses_to_sane_cues_or_a_clear_error(text: str) -> None:
    try:
        segments = parse_subtitles(text)
    except MediaMindError as exc:
        assert str(exc).strip()
        return
    _check_segments(segments)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_read_to_cues_or_one_clear_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("bytes") / "x.srt"
    path.write_bytes(data)
    try:
        segments = read_subtitle_file(path)
    except MediaMindError as exc:
        assert str(path) in str(exc)
        return
    _check_segments(segments)
    assert segments


# -- command-line arguments ----------------------------------------------------------------------

PARSER = cli.build_parser()  # built once: argparse parsers are reusable
COMMANDS = [name for name in PARSER._subparsers._group_actions[0].choices]  # type: ignore[union-attr]
TOKENS = st.one_of(
    st.sampled_from(
        [
            *COMMANDS,
            *("--json", "-k", "--kind", "--item", "--since", "--until", "--mood", "--topic"),
            *("--max-rating", "--seconds", "--at", "--format", "--all", "--no-llm", "-n", "-v"),
            *("--prefer-subtitles", "--model", "--threads", "--", "-", "0", "-1", "3", "1e3"),
            *("audio", "subtitle", "nan", "inf", "PG", "calm", "srt", "2024-01-01", "--x"),
        ]
    ),
    st.text(max_size=12),
)


@contextlib.contextmanager
def _quiet() -> Iterator[io.StringIO]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        yield err


@settings(max_examples=300, deadline=None)
@given(st.lists(TOKENS, max_size=8))
def test_any_argument_list_parses_or_is_a_usage_error(argv: list[str]) -> None:
    with _quiet() as err:
        try:
            PARSER.parse_args(argv)
        except SystemExit as exc:
            # 0 only for --help/--version; a usage error is exit 2 with a one-line reason.
            assert exc.code in (0, 2), exc.code
            if exc.code == 2:
                assert "error:" in err.getvalue()


@settings(max_examples=100, deadline=None)
@given(st.integers(-(10**6), 10**6))
def test_k_accepts_exactly_the_positive_whole_numbers(k: int) -> None:
    with _quiet():
        try:
            args = PARSER.parse_args(["search", "q", "-k", str(k)])
        except SystemExit as exc:
            assert k < 1 and exc.code == 2
            return
    assert k >= 1 and args.k == k


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12))
def test_k_rejects_text_that_is_not_a_number(text: str) -> None:
    try:
        int(text)
    except ValueError:
        pass
    else:
        assume(False)
    assume(not text.startswith("-"))  # argparse reads "-x" as an option: a usage error too
    with _quiet(), pytest.raises(SystemExit) as exc:
        PARSER.parse_args(["search", "q", "-k", text])
    assert exc.value.code == 2


@pytest.fixture(scope="module")
def one_item_library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A library with one two-minute subtitle item (no model needed to add it)."""
    from core.ingest.pipeline import import_transcript
    from core.store import Library

    directory = tmp_path_factory.mktemp("props-library")
    with Library(directory) as lib:
        item = import_transcript(
            lib, "transcript:props/talk", "talk", [Segment(0, 60, "hi"), Segment(60, 120, "bye")]
        )
    return directory, item


def _iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    at=st.one_of(
        st.datetimes().map(lambda d: d.isoformat()),
        st.text(alphabet="0123456789-:T+Z. ", max_size=25),
        st.text(max_size=10),
    ),
    seconds=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).map(str),
        st.sampled_from(["0", "-5", "abc", "30"]),
    ),
)
def test_watch_takes_valid_times_and_refuses_the_rest_with_exit_2(
    one_item_library: tuple[Path, int], at: str, seconds: str
) -> None:
    directory, item = one_item_library
    argv = ["--library", str(directory), "watch", str(item), "--seconds", seconds, "--at", at]
    with _quiet() as err:
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code  # argparse: --seconds is not a number
    try:
        good_seconds = float(seconds) > 0 and math.isfinite(float(seconds))
    except ValueError:
        good_seconds = False
    if good_seconds and _iso(at.strip()):
        assert code == 0, err.getvalue()
    else:
        assert code == 2, (at, seconds, err.getvalue())
        assert "error" in err.getvalue()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    option=st.sampled_from(["--since", "--until"]),
    value=st.one_of(
        st.dates().map(lambda d: (d.isoformat(), True)),
        st.sampled_from(["notadate", "2020-13-45", "2020-02-30", "yesterday", "20xx-01-01"]).map(
            lambda v: (v, False)
        ),
    ),
)
def test_since_and_until_take_dates_and_refuse_the_rest_with_exit_2(
    one_item_library: tuple[Path, int], option: str, value: tuple[str, bool]
) -> None:
    directory, _ = one_item_library
    text, valid = value
    with _quiet() as err:
        try:
            code = cli.main(["--library", str(directory), "search", "hello", option, text])
        except SystemExit as exc:
            code = exc.code
    assert code == (0 if valid else 2), (option, text, err.getvalue())
