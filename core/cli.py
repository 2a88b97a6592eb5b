"""The ``mediamind`` command line.

Data goes to stdout, progress and errors to stderr. Every engine error is turned into a
message in one place, :func:`main`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from core import __version__
from core.display import printable
from core.errors import MediaMindError, UsageError
from core.taxonomy import MOODS, RATINGS, TOPICS

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]


class Progress:
    """Ingest progress: a rich bar on a terminal; off a terminal only the lines that stay.

    The bar of a file counts seconds of audio, so it shows the time left and the speed in
    "x real time" (audio seconds per second of work); lines that stay (:meth:`line`) print
    above it.
    """

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._bar: Any = None
        self._task: Any = None
        self._label = ""

    def _start(self) -> Any:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            ProgressColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress
        from rich.text import Text

        class RealTime(ProgressColumn):
            """Seconds of audio done per second of work."""

            def render(self, task: Any) -> Text:
                speed = task.finished_speed or task.speed
                if not task.fields.get("audio") or not speed:
                    return Text("")
                return Text(f"{speed:.1f}\u00d7 real time", style="progress.data.speed")

        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("\u00b7"),
            TimeRemainingColumn(),
            TextColumn("left"),
            RealTime(),
            console=Console(file=self.stream),
            transient=True,
        )
        self._bar.start()
        return self._bar

    def bar(self, label: str, fraction: float, duration: float = 0.0) -> None:
        """Show how far the current step is (``duration``: seconds of audio, when known)."""
        fraction = max(0.0, min(1.0, fraction))
        label = printable(label)
        label = label if len(label) <= 48 else "\u2026" + label[-47:]
        if not self.tty:  # a log or a pipe: only the lines that stay, one per file
            return
        bar = self._bar or self._start()
        total = duration if duration > 0 else 1.0
        if self._task is None or label != self._label:
            if self._task is not None:
                bar.remove_task(self._task)
            self._task = bar.add_task(label, total=total, audio=duration > 0)
            self._label = label
        bar.update(self._task, total=total, completed=fraction * total, audio=duration > 0)

    def line(self, text: str) -> None:
        """Print a line that stays (above the bar on a terminal)."""
        if self._bar is not None:
            # The finished step's bar goes; the next step starts a new one.
            self._bar.console.print(printable(text), markup=False, highlight=False)
            self.close()
            return
        self.stream.write(printable(text) + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Remove the bar from the terminal."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
            self._task = None
            self._label = ""


def _speed(seconds: float, duration: float) -> str:
    """The time and speed of a file of ``duration`` s done in ``seconds``: " in 12.3 s, 4.1x..."."""
    if seconds <= 0 or duration <= 0:
        return ""
    return f" in {seconds:.1f} s, {duration / seconds:.1f}\u00d7 real time"


def _library_dir(args: argparse.Namespace) -> Path:
    from core.paths import default_library_dir

    return Path(args.library).expanduser() if args.library else default_library_dir()


def _library(args: argparse.Namespace, *, create: bool = False, check: bool = True) -> Any:
    """Open the library; only ingest creates one, and only reading commands skip the check."""
    from core.store import Library

    return Library(_library_dir(args), create=create, check=check)


def cmd_ingest(args: argparse.Namespace) -> int:
    """``mediamind ingest``: add files and folders, with a progress bar."""
    from core.ingest import IngestOptions, check_language, ingest

    progress = Progress()
    failed = done = skipped = 0
    ray_options = _cluster_options(args) if args.ray is not None else None
    with _library(args, create=True) as lib:
        options = IngestOptions(
            model=args.model,
            language=check_language(args.language),
            prefer_subtitles=args.prefer_subtitles,
            threads=args.threads,
            translate=args.translate,
            speakers=not args.no_speakers,
            multilingual_model=args.multilingual_model,
        )
        events = ingest(lib, args.paths, options)
        if args.ray is not None:
            from core import cluster

            events = cluster.ingest(lib, args.paths, options, ray_options)
        started = time.monotonic()
        try:
            for ev in events:
                tag = f"({ev.index}/{ev.total}) {ev.path.name}"
                if args.ray is not None and ev.kind in ("started", "progress"):
                    # Files run side by side on the cluster: the bar shows the run, not a file.
                    finished = done + skipped + failed
                    progress.bar(f"{finished}/{ev.total} done on Ray", finished / max(1, ev.total))
                elif ev.kind in ("started", "progress"):
                    if ev.kind == "started":
                        started = time.monotonic()
                    progress.bar(tag, ev.fraction, ev.duration)
                elif ev.kind == "done":
                    done += 1
                    silent = ev.item_id is not None and not lib.has_segments(ev.item_id)
                    notes = [ev.warning] if ev.warning else []
                    notes += ["no speech found"] if silent else []
                    routed = f" [{ev.message}]" if ev.message else ""
                    speed = _speed(time.monotonic() - started, ev.duration)
                    progress.line(
                        f"ingested {tag}{routed}"
                        + (f" ({'; '.join(notes)})" if notes else "")
                        + speed
                    )
                elif ev.kind == "skipped":
                    skipped += 1
                    progress.line(f"unchanged {tag}")
                elif ev.kind == "failed":
                    failed += 1
                    progress.line(f"error: {ev.message}")
        finally:
            progress.close()
    progress.line(f"{done} ingested, {skipped} unchanged, {failed} failed")
    return 1 if failed else 0


def _cluster_options(args: argparse.Namespace) -> Any:
    """The Ray options of ``ingest``/``annotate`` (``--ray`` given); Ray must be installed."""
    from core.cluster import ClusterOptions, import_ray

    import_ray()  # say how to install it before any work, whatever there is to do
    return ClusterOptions(
        address=args.ray,
        ship=getattr(args, "ship", False),
        workers=args.workers,
        worker_cpus=args.worker_cpus,
    )


def _add_ray_arguments(p: argparse.ArgumentParser, *, ship: bool) -> None:
    """``--ray [ADDRESS]`` and its companions (Ray is the optional ``cluster`` extra)."""
    p.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        default=None,
        metavar="ADDRESS",
        help="run the heavy work on Ray: auto (default, the cluster of 'ray start --head'), "
        "ray://HOST:PORT, or local (a private Ray for this run); needs mediamind[cluster]",
    )
    if ship:
        p.add_argument(
            "--ship",
            action="store_true",
            help="with --ray: send file bytes through Ray (workers without a shared filesystem)",
        )
    p.add_argument("--workers", type=_count, default=None, help="with --ray: Ray workers at most")
    p.add_argument(
        "--worker-cpus",
        type=_count,
        default=1,
        help="with --ray: CPUs (and threads) of one Ray worker (default 1)",
    )


def cmd_library(args: argparse.Namespace) -> int:
    """``mediamind library``: list the items."""
    from core.transcript import format_timestamp

    with _library(args, check=False) as lib:
        items = [
            replace(i, **dict(zip(("status", "error"), lib.shown_status(i), strict=True)))
            for i in lib.items()
        ]
    if args.json:
        print(json.dumps([i.summary() for i in items], ensure_ascii=False, indent=2))
        return 0
    if not items:
        print("The library is empty. Add media with: mediamind ingest PATH")
        return 0
    for i in items:
        dur = format_timestamp(i.duration) if i.duration else "-"
        print(f"{i.id:>4}  {i.status:<11} {dur:>8}  {i.kind:<8} {printable(i.title)}")
        if i.error:
            print(f"      {printable(i.error)}")
    return 0


def cmd_transcript(args: argparse.Namespace) -> int:
    """``mediamind transcript``: print one item's transcript."""
    from core.speakers.profiles import speaker_names
    from core.transcript import to_json, to_srt, to_txt, to_vtt

    with _library(args, check=False) as lib:
        item = lib.get_item(args.id)
        segments = lib.segments(item.id)
        names = speaker_names(lib.db, item.id)
        if args.translation:
            from core.ingest import stored_translation

            segments = stored_translation(lib, item.id)
            if not segments:
                raise UsageError(
                    f"Item {item.id} ({item.title}) has no English translation.",
                    fix=(
                        "It is in English: leave out --translation."
                        if item.language == "en"
                        else f"Run 'mediamind ingest --translate {item.path}'."
                    ),
                )
    if item.status != "ready" and not segments:
        if item.status == "error":
            # The same ingest would fail the same way: say why, and what must change first.
            gone = item.kind != "transcript" and not Path(item.path).exists()
            raise UsageError(
                f"Item {item.id} ({item.title}) has no transcript: its ingest failed: "
                f"{item.error or 'no reason was recorded'}",
                fix="Its file is gone; 'mediamind prune' removes the item."
                if gone
                else "Fix the file as the error says, then ingest it again.",
            )
        raise UsageError(
            f"Item {item.id} ({item.title}) has no transcript yet (status {item.status}).",
            fix=f"Run 'mediamind ingest {item.path}' to finish it.",
        )
    render = {"txt": to_txt, "srt": to_srt, "vtt": to_vtt, "json": to_json}[args.format]
    sys.stdout.write(render(segments, names))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """``mediamind search``: hybrid search with timestamps."""
    from core.search import RELEVANCE_FLOOR, Searcher, SearchFilters

    filters = SearchFilters(
        media_ids=tuple(args.item or ()),
        kinds=tuple(args.kind or ()),
        added_after=args.since,
        added_before=args.until,
        topics=tuple(args.topic or ()),
        moods=tuple(args.mood or ()),
        max_rating=args.max_rating,
    )
    with _library(args) as lib:
        if args.speaker:
            from dataclasses import replace

            from core.speakers.profiles import find_profile

            ids = tuple(find_profile(lib.db, name) for name in args.speaker)
            filters = replace(filters, speakers=ids)
        floor = 0.0 if args.all else RELEVANCE_FLOOR  # 0.0: every hit, relevance measured
        results = Searcher(lib).search(args.query, k=args.k, filters=filters, floor=floor)
    if args.json:
        print(json.dumps([r.to_json() for r in results], ensure_ascii=False, indent=2))
        return 0
    if not results:
        print("No matches.")
    bold, plain = ("\x1b[1m", "\x1b[0m") if sys.stdout.isatty() else ("", "")
    from core.search import mark_terms, query_terms

    for r in results:
        who = f"  {', '.join(printable(s) for s in r.speakers)}" if r.speakers else ""
        print(
            f"[{printable(r.title)} @ {r.start_display}\u2013{r.end_display}]  (item {r.media_id})"
            + who
        )
        print(
            "   "
            + mark_terms(printable(r.text), query_terms(args.query), bold or "*", plain or "*")
        )
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    """``mediamind ask``: answer from the library with verified, timestamped citations."""
    from core.answer import Answer, Answerer, Token
    from core.search import SearchFilters

    filters = SearchFilters(media_ids=tuple(args.item or ()))
    final: Answer | None = None
    streamed: list[str] = []
    with _library(args) as lib:
        if args.speaker:
            from core.speakers.profiles import find_profile

            ids = tuple(find_profile(lib.db, name) for name in args.speaker)
            filters = replace(filters, speakers=ids)
        answerer = Answerer(lib, llm=args.llm)
        for ev in answerer.ask(args.question, k=args.k, filters=filters):
            if isinstance(ev, Token) and not args.json:
                sys.stdout.write(ev.text)
                sys.stdout.flush()
                streamed.append(ev.text)
            elif isinstance(ev, Answer):
                final = ev
    if final is None:  # pragma: no cover - ask always ends with an Answer
        raise UsageError("No answer was produced.")
    if args.json:
        print(json.dumps(final.to_json(), ensure_ascii=False, indent=2))
        return 0
    print()
    if _reading(streamed) != _reading([final.answer]):
        # Sentences the sources did not support were dropped (or replaced by quotes), or two
        # moments of one streamed passage label got labels of their own; a mere move of the
        # citation marks to the sentence end is not worth a second copy.
        print("\nChecked against the sources:\n" + final.answer)
    if final.citations:
        print()
    for c in final.citations:
        print(printable(f"{c.display} [{c.label}] \u201c{c.quote}\u201d"))
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    """``mediamind prune``: drop items whose files are gone."""
    from core.ingest import prune

    with _library(args) as lib:
        removed = prune(lib)
    print(f"removed {len(removed)} item(s) whose files are gone")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    """``mediamind remove``: take items out of the library (their files stay on disk)."""
    with _library(args) as lib:
        removed = lib.remove_items(args.ids)
    if args.json:
        print(json.dumps([i.summary() for i in removed], ensure_ascii=False, indent=2))
        return 0
    for i in removed:
        print(f"removed {i.id}  {printable(i.title)}  (the file stays: {printable(i.path)})")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """``mediamind models``: the registry and what is installed."""
    from core.registry import model_statuses

    statuses = model_statuses()
    if args.json:
        print(json.dumps([asdict(s) for s in statuses], indent=2))
        return 0
    for s in statuses:
        mark = "installed" if s.installed else "missing  "
        print(
            f"{s.name:<18} {s.task:<10} {mark} {s.size / 1e6:7.1f} MB  {s.license:<11} "
            f"{' + '.join(s.packages)}"
        )
    return 0


def _count(text: str) -> int:
    """A ``-k`` value: a whole number of at least 1 (argparse reports anything else)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


_CITE_MARK = re.compile(r"\[S\d+\]")


def _reading(texts: list[str]) -> tuple[list[str], list[str]]:
    """The words of some text and, apart, its citation marks in order: what a reader compares."""
    text = "".join(texts)
    return re.findall(r"\w+", _CITE_MARK.sub(" ", text).lower()), _CITE_MARK.findall(text)


def cmd_watch(args: argparse.Namespace) -> int:
    """``mediamind watch``: record a viewing of N seconds from the item's current position."""
    from core.recommend.events import watch
    from core.transcript import format_timestamp

    with _library(args) as lib:
        written = watch(lib, args.id, args.seconds, args.at)
        title = lib.get_item(args.id).title
    first, last = written[0], written[-1]
    where = "to the end" if last.kind == "complete" else f"to {format_timestamp(last.position)}"
    print(
        f"watched {printable(title)} from {format_timestamp(first.position)} {where} "
        f"(session {last.session_id}, {len(written)} events)"
    )
    return 0


def cmd_home(args: argparse.Namespace) -> int:
    """``mediamind home``: what to watch now, in rows."""
    from core.recommend.home import Recommendations

    with _library(args) as lib:
        result = Recommendations(lib).home(args.at)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return 0
    if not result.rows:
        print("Nothing to recommend yet. Add media with: mediamind ingest PATH")
        return 0
    for row in result.rows:
        print(row.title)
        for item in row.items:
            print(printable(f"  {item.media_id:>4}  {item.title}  \u2014 {item.reason}"))
        print()
    return 0


def _topic_arg(text: str) -> str:
    from core.taxonomy import canonical_topic

    label = canonical_topic(text)
    if label is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a topic; choose from: {', '.join(TOPICS)}"
        )
    return label


def cmd_annotate(args: argparse.Namespace) -> int:
    """``mediamind annotate``: tag items (or print the quality report), with a progress bar."""
    from core.annotate import AnnotateSettings, Annotator, annotate, quality_report, rescore_topics

    ray_options = _cluster_options(args) if args.ray is not None else None
    with _library(args) as lib:
        if args.report:
            report = quality_report(lib)
            if args.json:
                print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
            else:
                print(report.to_text())
            return 0
        if not args.ids and not args.all:
            raise UsageError(
                "Say which items to annotate.",
                fix="Give item ids (see 'mediamind library') or --all.",
            )
        annotator = Annotator(lib, llm=args.llm, settings=AnnotateSettings(use_llm=not args.no_llm))
        progress = Progress()
        failed = 0
        results = []
        ids = None if args.all else args.ids
        events = annotate(lib, ids, annotator=annotator, force=args.force)
        if args.ray is not None:
            from core import cluster

            events = cluster.annotate(lib, annotator, ids, ray_options, force=args.force)
        for ev in events:
            tag = f"({ev.index}/{ev.total}) {ev.title}"
            if ev.kind == "started":
                progress.bar(tag, ev.fraction)
            elif ev.kind == "done":
                progress.line(f"annotated {tag} in {ev.seconds:.1f} s")
            elif ev.kind == "skipped":
                progress.line(f"unchanged {tag}")
            elif ev.kind == "failed":
                failed += 1
                progress.line(f"error: {ev.message}")
            elif ev.kind == "finished":
                progress.line(ev.message)
            if ev.kind in ("done", "skipped", "failed"):
                results.append({"id": ev.media_id, "status": ev.kind, "error": ev.message or None})
        rescored = rescore_topics(annotator)
        if rescored:
            progress.line(f"re-scored the topics of {rescored} item(s) with the reviewed labels")
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    return 1 if failed else 0


def cmd_tags(args: argparse.Namespace) -> int:
    """``mediamind tags``: an item's tags with confidence and provenance."""
    from core.annotate import item_tags

    with _library(args, check=False) as lib:
        tags = item_tags(lib, args.id)
    data = tags.to_json()
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    if tags.status is None:
        print(
            f"Item {tags.media_id} ({printable(tags.title)}) is not annotated yet. "
            f"Run: mediamind annotate {tags.media_id}"
        )
        return 0

    def mark(t: Any) -> str:
        return " [reviewed]" if t is not None and t.gold else ""

    print(f"{printable(tags.title)}  (item {tags.media_id})")
    if tags.status == "error":
        print(f"  error: {tags.error}")
    if tags.summary:
        print(f"  summary{mark(tags.summary)}: {tags.summary.value}")
    for t in tags.topics:
        print(f"  topic: {t.value} ({t.confidence:.2f}){mark(t)}")
    if tags.mood:
        print(f"  mood: {tags.mood.value} ({tags.mood.confidence:.2f}){mark(tags.mood)}")
    for t in tags.entities:
        print(f"  entity: {t.value} [{t.detail.get('type')}] ({t.confidence:.2f}){mark(t)}")
    if tags.safety:
        s = tags.safety
        print(f"  safety: {s.value} ({s.confidence:.2f}){mark(s)}")
        for r in s.detail.get("reasons", []):
            print(f"    {r['reason']}: {', '.join(r['terms'])} in chunks {r['chunk_ids']}")
    print(f"  by {tags.model_id}, prompt {tags.prompt_version}, at {tags.annotated_at}")
    return 0


def _read_key(stream: TextIO) -> str:
    """One keypress from a terminal (raw mode), or one line's first character otherwise."""
    if stream.isatty():
        import termios
        import tty

        fd = stream.fileno()
        old = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)
            return stream.read(1)
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)
    line = stream.readline()
    return line.strip()[:1] if line else "q"


def cmd_review(args: argparse.Namespace) -> int:
    """``mediamind review``: the review queue, one key per decision."""
    from core.annotate import record_review, review_queue
    from core.transcript import format_timestamp

    stdin = sys.stdin
    counts = {"accept": 0, "reject": 0, "edit": 0, "skip": 0}
    with _library(args) as lib:
        tasks = review_queue(lib, args.n)
        if not tasks:
            print("Nothing to review. Annotate items first: mediamind annotate --all")
            return 0
        for i, task in enumerate(tasks, start=1):
            t = task.tag
            title = printable(task.title)
            print(f"\n[{i}/{len(tasks)}] {title}  (item {t.media_id}, {task.source} sample)")
            print(f"  {t.type}: {t.display}   confidence {t.confidence:.2f}")
            for cid, start, text in task.context:
                snippet = text if len(text) <= 240 else text[:237] + "..."
                print(f"    @{format_timestamp(start)} (chunk {cid}) {snippet}")
            while True:
                print("  [a]ccept  [r]eject  [e]dit  [s]kip  [q]uit > ", end="", flush=True)
                key = _read_key(stdin).lower()
                print(key)
                if key == "q":
                    print(_review_summary(counts))
                    return 0
                if key in ("s", "", " "):
                    counts["skip"] += 1
                    break
                if key in ("a", "r"):
                    decision = "accept" if key == "a" else "reject"
                    record_review(lib, t.id, decision)
                    counts[decision] += 1
                    break
                if key == "e":
                    if task.choices:
                        print("  choices: " + ", ".join(task.choices))
                    print("  new value: ", end="", flush=True)
                    value = stdin.readline().strip()
                    etype = None
                    if t.type == "entity":
                        print(
                            "  type (person/organization/place/work, empty = keep): ",
                            end="",
                            flush=True,
                        )
                        etype = stdin.readline().strip() or None
                    try:
                        record_review(lib, t.id, "edit", value or None, entity_type=etype)
                    except MediaMindError as exc:
                        print(f"  {exc}")
                        continue
                    counts["edit"] += 1
                    break
    print(_review_summary(counts))
    return 0


def _review_summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in counts.items())


def _date_arg(text: str) -> str:
    """A ``--since``/``--until`` value: an ISO date or time, as the UTC text items are stored with.

    A date alone means midnight UTC; a time without an offset is local time (as ``--at``).
    """
    from datetime import date

    from core.recommend.events import to_utc

    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        pass
    try:
        return to_utc(text).isoformat()
    except MediaMindError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date or time; write it like 2024-05-01 or 2024-05-01T20:30:00Z"
        ) from None


def cmd_check(args: argparse.Namespace) -> int:
    """``mediamind check``: SQLite's full integrity check of the library, read-only."""
    from core.paths import DB_FILENAME
    from core.store import check_file, list_backups

    directory = _library_dir(args)
    path = directory / DB_FILENAME
    problems = check_file(path)
    if not problems:
        print(f"{printable(path)}: ok")
        return 0
    print(f"{printable(path)}: damaged")
    for problem in problems[:20]:
        print(f"  {printable(problem)}")
    if len(problems) > 20:
        print(f"  (and {len(problems) - 20} more)")
    backups = list_backups(directory)
    if backups:
        print(
            f"Restore the newest backup ({printable(backups[0].name)}) with: "
            f"mediamind --library {printable(directory)} restore"
        )
    else:
        print("There is no backup to restore; move the library directory away and ingest again.")
    return 1


def cmd_backup(args: argparse.Namespace) -> int:
    """``mediamind backup``: a consistent copy of the library database, taken while it is open."""
    from core.store import take_backup

    with _library(args) as lib:
        dest = take_backup(lib.db, "manual")
    print(printable(dest))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """``mediamind restore``: go back to a backup (the newest unless one is named)."""
    from core.store import find_backup, list_backups, restore_backup

    directory = _library_dir(args)
    if args.list:
        backups = list_backups(directory)
        if not backups:
            print(f"The library {printable(directory)} has no backups yet.")
        for b in backups:
            print(f"{printable(b.name)}  {b.stat().st_size / 1e6:8.1f} MB")
        return 0
    backup = find_backup(directory, args.backup)
    aside = restore_backup(directory, backup)
    print(f"restored {printable(backup.name)}; the replaced files are in {printable(aside)}")
    return 0


def cmd_speakers(args: argparse.Namespace) -> int:
    """``mediamind speakers``: list profiles (id, name, items, seconds), or rename / merge them."""
    from core.speakers.profiles import list_profiles, merge_profiles, rename_profile, split_profile
    from core.transcript import format_timestamp

    with _library(args) as lib:
        if args.action == "rename":
            profile = rename_profile(lib.db, args.id, args.name)
            print(f"speaker {profile.id} is now {profile.name!r} ({profile.items} items)")
            return 0
        if args.action == "merge":
            profile = merge_profiles(lib.db, args.keep, args.other)
            print(
                f"merged speaker {args.other} into {profile.id} ({profile.name}, "
                f"{profile.items} items)"
            )
            return 0
        if args.action == "split":
            profile = split_profile(lib.db, args.id, args.item)
            print(f"the voice of speaker {args.id} in item {args.item} is now {profile.name}")
            return 0
        profiles = list_profiles(lib.db)
    if args.json:
        print(json.dumps([p.to_json() for p in profiles], ensure_ascii=False, indent=2))
        return 0
    if not profiles:
        print("No speakers yet: they are found when audio or video is ingested.")
        return 0
    for p in profiles:
        print(f"{p.id:>4}  {p.name:<24} {p.items:>4} items  {format_timestamp(p.seconds):>8}")
    return 0


def _add_speaker_commands(sub: Any) -> None:
    p = sub.add_parser(
        "speakers", help="list, rename, merge and split the voices found in the library"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_speakers, action="list")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    r = actions.add_parser("rename", help="name a speaker: speakers rename ID NAME")
    r.add_argument("id", type=int, metavar="ID")
    r.add_argument("name", metavar="NAME")
    m = actions.add_parser("merge", help="same person: speakers merge KEEP_ID OTHER_ID")
    m.add_argument("keep", type=int, metavar="KEEP_ID")
    m.add_argument("other", type=int, metavar="OTHER_ID")
    t = actions.add_parser(
        "split", help="two people taken as one: speakers split ID --item ITEM_ID"
    )
    t.add_argument("id", type=int, metavar="ID")
    t.add_argument("--item", type=int, required=True, metavar="ITEM_ID")


def _add_maintenance_commands(sub: Any) -> None:
    p = sub.add_parser("check", help="check the library database for damage (read-only)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("backup", help="write a consistent backup of the library database")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser(
        "restore", help="replace the library database by a backup (the newest by default)"
    )
    p.add_argument("backup", nargs="?", metavar="BACKUP", help="a backup's file name or path")
    p.add_argument("--list", action="store_true", help="list the backups, newest first")
    p.set_defaults(func=cmd_restore)


if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def build_parser(
    extra_commands: Sequence[Callable[[SubParsers], None]] = (),
) -> argparse.ArgumentParser:
    """Build the argument parser (public so docs and tests can inspect the contract).

    Args:
        extra_commands: Each adds subcommands that live outside the engine (the ``mediamind``
            console script adds ``gui`` and ``train-recsys``: :mod:`mediamind.cli`).
    """
    parser = argparse.ArgumentParser(
        prog="mediamind",
        description="Search, ask and browse your media library, entirely on this machine.",
    )
    parser.add_argument("--version", action="version", version=f"mediamind {__version__}")
    parser.add_argument(
        "--library",
        metavar="DIR",
        help="library directory (default: $MEDIAMIND_LIBRARY or the user data dir)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("ingest", help="add media, subtitle files and folders to the library")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument(
        "--model",
        default="auto",
        metavar="auto|tiny.en|base|DIR",
        help="Whisper model (default auto: tiny.en for English, base for other languages); "
        "a model given here re-transcribes items made with another",
    )
    p.add_argument(
        "--language",
        default=None,
        metavar="CODE",
        help="spoken language, e.g. de (default: detected per file)",
    )
    p.add_argument(
        "--multilingual-model",
        default="base",
        metavar="base|DIR",
        help="the model --model auto uses for speech that is not English (default base)",
    )
    p.add_argument(
        "--translate",
        action="store_true",
        help="also store an English translation of non-English speech (searchable)",
    )
    p.add_argument(
        "--prefer-subtitles",
        action="store_true",
        help="use a same-named .srt/.vtt beside a media file instead of transcribing",
    )
    p.add_argument("--threads", type=int, default=None, help="CPU threads for transcription")
    p.add_argument(
        "--no-speakers", action="store_true", help="do not find who speaks (diarization)"
    )
    _add_ray_arguments(p, ship=True)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("library", help="list the items in the library")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_library)

    p = sub.add_parser("transcript", help="print an item's transcript")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--format", choices=["txt", "srt", "vtt", "json"], default="txt")
    p.add_argument(
        "--translation", action="store_true", help="the English translation (ingest --translate)"
    )
    p.set_defaults(func=cmd_transcript)

    p = sub.add_parser("search", help="find moments by meaning and by words")
    p.add_argument("query", metavar="QUERY")
    p.add_argument("-k", type=_count, default=10, help="number of results (default 10)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--item", type=int, action="append", metavar="ID", help="only this item")
    p.add_argument(
        "--kind",
        action="append",
        choices=["audio", "video", "subtitle", "transcript"],
        help="only this kind",
    )
    p.add_argument(
        "--since", type=_date_arg, metavar="DATE", help="only items added on or after DATE (ISO)"
    )
    p.add_argument(
        "--until", type=_date_arg, metavar="DATE", help="only items added before DATE (ISO)"
    )
    p.add_argument(
        "--topic", action="append", type=_topic_arg, metavar="TOPIC", help="only items on TOPIC"
    )
    p.add_argument(
        "--mood", action="append", type=str.lower, choices=MOODS, help="only items of this mood"
    )
    p.add_argument(
        "--max-rating",
        choices=RATINGS,
        type=str.upper,
        help="only items rated at most this (family filter; unrated items are left out)",
    )
    p.add_argument(
        "--speaker", action="append", metavar="NAME", help="only where this speaker talks"
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="also hits below the relevance floor (the best k, however weak)",
    )
    p.set_defaults(func=cmd_search)

    _add_speaker_commands(sub)

    p = sub.add_parser("ask", help="answer a question from the library, citing timestamps")
    p.add_argument("question", metavar="QUESTION")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--llm",
        metavar="PATH",
        help="a GGUF model file (default: $MEDIAMIND_LLM or the built-in SmolLM2-135M)",
    )
    p.add_argument("-k", type=_count, default=None, help="chunks to retrieve (default 8)")
    p.add_argument("--item", type=int, action="append", metavar="ID", help="only this item")
    p.add_argument("--speaker", action="append", metavar="NAME", help="only what this speaker says")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("annotate", help="tag items: summary, topics, mood, entities, safety")
    p.add_argument("ids", nargs="*", type=int, metavar="ID")
    p.add_argument("--all", action="store_true", help="every ready item of the library")
    p.add_argument(
        "--report", action="store_true", help="print the quality report from the reviews"
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--force", action="store_true", help="annotate even unchanged items")
    p.add_argument(
        "--llm",
        metavar="PATH",
        help="a GGUF model file (default: $MEDIAMIND_LLM or the built-in SmolLM2-135M)",
    )
    p.add_argument(
        "--no-llm", action="store_true", help="embeddings and lexicon only (no entities)"
    )
    _add_ray_arguments(p, ship=False)
    p.set_defaults(func=cmd_annotate)

    p = sub.add_parser("tags", help="show an item's tags with confidence and provenance")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tags)

    p = sub.add_parser("review", help="review tags: a accept, r reject, e edit, s skip, q quit")
    p.add_argument("-n", type=int, default=20, help="tags to review (default 20)")
    p.set_defaults(func=cmd_review)

    p = sub.add_parser("prune", help="remove items whose files are gone")
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser(
        "remove", help="remove items with their transcripts, tags and history (files stay)"
    )
    p.add_argument("ids", nargs="+", type=int, metavar="ID")
    p.add_argument("--json", action="store_true", help="print the removed items")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("models", help="list the models and whether they are installed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("watch", help="record that you watched part of an item")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--seconds", type=float, required=True, help="how long you watched")
    p.add_argument("--at", metavar="ISO_TIME", help="when playback started (default: now)")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("home", help="what to watch now, in rows")
    p.add_argument("--json", action="store_true")
    p.add_argument("--at", metavar="ISO_TIME", help="recommend for this moment (default: now)")
    p.set_defaults(func=cmd_home)

    _add_maintenance_commands(sub)
    for add in extra_commands:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    """Run the CLI (``parser``: :func:`build_parser`'s by default); return the exit status."""
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    import apsw

    try:
        return int(args.func(args))
    except MediaMindError as exc:
        log.info("details", exc_info=True)
        print(f"mediamind: error: {printable(exc)}", file=sys.stderr)
        return exc.exit_code
    except apsw.Error as exc:
        # A database error raised below the Database layer (a cursor read directly) is still
        # one line naming the library and what to do, never a traceback.
        from core.paths import DB_FILENAME
        from core.store import library_error

        error = library_error(str(_library_dir(args) / DB_FILENAME), exc)
        log.info("details", exc_info=True)
        print(f"mediamind: error: {printable(error)}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("\nmediamind: interrupted; run the same command again to finish.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `mediamind library --json | head` closes stdout early; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
