"""Batch ingest and annotation on a Ray cluster; the library is written only here, by the driver.

The driver (the process that runs ``mediamind ingest --ray``) does what local ingest does up to
the point where a file needs Whisper: it discovers the files, skips unchanged ones by size,
mtime and sha256, probes the rest and takes subtitle files, sidecars and already transcribed
bytes itself (:class:`core.ingest.pipeline.Ingestor` does all of that, as for a local run).
What needs Whisper goes to Ray actors, each pinned to a node, that load Whisper and the
embedding model once and return a file's segments and chunk vectors; the driver commits each
result as it arrives with the same one-transaction :meth:`Library.store_transcript` as local
ingest, so the library stays consistent and searchable during the run and a dead driver
leaves whole items.

Annotation is split the same way: actors run the language model over an item's windows (the
expensive part); the driver reads the item, and scores and stores the tags.

Faults: an actor whose process dies is restarted in place by Ray and its call retried
(``max_restarts``/``max_task_retries``, bounded); a node that disappears takes its actors with
it and the driver gives their files to actors elsewhere, at most ``retries`` times per file. A
file that fails for its own reasons (corrupt, unreadable) comes back as one error line and is
never retried. Ray is imported lazily, only by this module (an optional extra).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import pickle
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from core.errors import DiskFullError, MediaMindError, ModelError, UsageError
from core.ingest.pipeline import (
    IngestEvent,
    IngestOptions,
    Ingestor,
    Prepared,
    discover,
    disk_full,
)
from core.speakers import hooks as speaker_hooks
from core.store import Chunk, Library
from core.transcript import Segment, make_chunks

if TYPE_CHECKING:
    from core.annotate import AnnotateEvent, AnnotateSettings, Annotator
    from core.annotate.annotator import LLMVotes
    from core.search import TextEncoder
    from core.speakers.diarize import Diarization

log = logging.getLogger(__name__)

INSTALL_FIX = (
    "Install the cluster extra: pip install 'mediamind[cluster]' "
    "(in a source checkout: pip install -e '.[cluster]')."
)


class ClusterError(MediaMindError):
    """Ray cannot be reached, or it has no worker left to run the remaining work."""


@dataclass(frozen=True)
class ClusterOptions:
    """How a run uses Ray.

    Attributes:
        address: What ``ray.init(address=...)`` accepts: ``auto`` joins the cluster started on
            this machine with ``ray start --head``, ``ray://host:10001`` a remote one, ``local``
            starts a private Ray for this run only.
        ship: Send each file's bytes through Ray's object store (workers that do not share a
            filesystem with the driver); otherwise workers read the driver's path.
        workers: Actors at most (default: one per ``worker_cpus`` CPUs of every node).
        worker_cpus: CPUs reserved by one actor, and its Whisper/ONNX Runtime threads.
        retries: How often a file whose worker was lost (its node died) is run elsewhere.
        per_worker: Calls queued on one actor, so the next file's bytes arrive while one runs.
        local_cpus: CPUs of the private Ray that ``local`` starts (default: this machine's).
        start_timeout: Seconds to wait for a first actor before giving up on the cluster.
    """

    address: str = "auto"
    ship: bool = False
    workers: int | None = None
    worker_cpus: int = 1
    retries: int = 2
    per_worker: int = 2
    local_cpus: int | None = None
    start_timeout: float = 300.0


@dataclass
class ClusterStats:
    """What a run measured; filled in by :func:`ingest` when given one (bench, the CLI)."""

    files: int = 0  # transcribed on the cluster and committed
    media_seconds: float = 0.0  # audio those files hold
    worker_seconds: float = 0.0  # summed compute time inside actors
    commit_seconds: float = 0.0  # driver time spent writing results to the library
    shipped_bytes: int = 0  # file bytes put in the object store (--ship)
    result_bytes: int = 0  # pickled results sent back to the driver
    lost: int = 0  # calls lost with a worker and run again
    nodes: set[str] = field(default_factory=set)  # nodes that returned a result


def import_ray() -> Any:
    """Import Ray, or say in one line how to install it.

    Raises:
        UsageError: Ray is not installed.
    """
    try:
        import ray
    except ImportError as exc:
        raise UsageError("--ray needs Ray, which is not installed.", fix=INSTALL_FIX) from exc
    return ray


@contextmanager
def connect(options: ClusterOptions) -> Iterator[Any]:
    """Join (or, for ``local``, start) Ray for the block; reuse a connection already open.

    Raises:
        UsageError: Ray is not installed.
        ClusterError: No cluster answers at the address.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if options.address == "local":
        kwargs["include_dashboard"] = False
        if options.local_cpus is not None:
            kwargs["num_cpus"] = options.local_cpus
    try:
        ray.init(address=options.address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(
            f"Cannot reach a Ray cluster at {options.address!r} ({str(exc).splitlines()[0]}).",
            fix="Start one with 'ray start --head' and use --ray (auto), give its address "
            "(--ray ray://HOST:10001), or run on this machine only with --ray local.",
        ) from exc
    try:
        yield ray
    finally:
        ray.shutdown()


# -- what runs on the workers -------------------------------------------------------------------


@dataclass(frozen=True)
class Transcribed:
    """A file's transcript and chunk vectors, as an ingest worker returns them.

    ``segments`` are labelled with their speakers already (by the same step as local ingest);
    ``speakers`` is the diarization whose voices the driver stores with the item, and
    ``translation`` the English segments and their model, with ``--translate``.
    """

    duration: float
    language: str
    model_id: str
    segments: list[Segment]
    encoder_id: str | None
    vectors: npt.NDArray[np.float32] | None  # one per chunk of make_chunks(segments)
    node: str
    seconds: float
    speakers: Diarization | None = None
    translation: tuple[list[Segment], str] | None = None


@dataclass(frozen=True)
class Failed:
    """A file (or item) that failed for its own reasons; ``fatal`` stops the run (a model)."""

    message: str
    fatal: bool = False


def embed_chunks(
    encoder: TextEncoder, segments: Sequence[Segment], batch_chunks: int
) -> npt.NDArray[np.float32]:
    """Vectors of the chunks of ``segments``, encoded in the batches local ingest uses.

    Local ingest embeds each batch of ``batch_chunks`` finished chunks as the transcript
    grows; encoding the same batches keeps the vectors the same (the int8 encoder's activation
    scale depends on what else is in a batch).
    """
    texts = [c.text for c in make_chunks(segments)]
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    step = max(1, batch_chunks)
    for i in range(0, len(texts), step):
        out[i : i + step] = encoder.encode(texts[i : i + step])
    return out


class IngestWorker:
    """A Ray actor: Whisper and the embedding model, loaded once, run on one file at a time.

    It transcribes with the driver's :class:`IngestOptions` through the same steps as local
    ingest (language routing, ``--language``, diarization, ``--translate``).
    """

    def __init__(self, options: IngestOptions) -> None:
        """Load the models (a failure is reported by :meth:`ready`, not raised)."""
        import ray

        self.node = ray.get_runtime_context().get_node_id()
        self.options = options
        self.batch_chunks = options.batch_chunks
        self.error: str | None = None
        self.scratch = Path(tempfile.mkdtemp(prefix="mediamind-ray-"))
        try:
            from core.ingest.language import LanguageRouter
            from core.ingest.pipeline import make_transcriber
            from core.ingest.transcribe import load_whisper

            self.transcriber = make_transcriber(options)
            first = (
                self.transcriber.english
                if isinstance(self.transcriber, LanguageRouter)
                else self.transcriber
            )
            load_whisper(first.model_dir, first.threads)
            self.encoder: TextEncoder | None = None
            if options.index:
                from core.search.embedding import Embedder

                self.encoder = Embedder(threads=self.transcriber.threads)
        except MediaMindError as exc:
            self.error = f"on Ray node {self.node[:12]}: {exc}"

    def ready(self) -> tuple[str, str | None]:
        """The node this actor runs on, and why its models cannot load (None when they can)."""
        return self.node, self.error

    def transcribe(
        self, source: str | bytes, display: str, probed_duration: float
    ) -> Transcribed | Failed:
        """Transcribe and embed one file, read from ``source`` (a path, or the file's bytes)."""
        from core.ingest.pipeline import transcribe_file

        if self.error is not None:
            return Failed(self.error, fatal=True)
        t0 = time.perf_counter()
        path = Path(source) if isinstance(source, str) else self.scratch / Path(display).name
        try:
            if isinstance(source, bytes):
                path.write_bytes(source)
            run = transcribe_file(self.transcriber, path, probed_duration, self.options)
            segments = [s for _, new in run.steps() for s in new]
            translation = run.translation()
            vectors = (
                embed_chunks(self.encoder, segments, self.batch_chunks)
                if self.encoder is not None
                else None
            )
        except ModelError as exc:
            return Failed(str(exc).replace(str(path), display), fatal=True)
        except MediaMindError as exc:
            return Failed(str(exc).replace(str(path), display))
        except OSError as exc:
            return Failed(f"{display}: {exc.strerror or exc}.")
        finally:
            if isinstance(source, bytes):
                path.unlink(missing_ok=True)
        return Transcribed(
            run.duration,
            run.language,
            run.model_id,
            segments,
            self.encoder.model_id if self.encoder is not None else None,
            vectors,
            self.node,
            time.perf_counter() - t0,
            run.speakers,
            translation,
        )

    def __del__(self) -> None:
        shutil.rmtree(getattr(self, "scratch", ""), ignore_errors=True)


class _Vectors:
    """A :class:`TextEncoder` that answers with vectors a worker already computed.

    Handed to :class:`core.search.EmbeddingStore`, so the driver stores vectors exactly as local
    ingest does: cached ones win, new ones go into the embedding cache.
    """

    def __init__(self, model_id: str, texts: Sequence[str], vectors: npt.NDArray[np.float32]):
        self._model_id = model_id
        self._by_text = dict(zip(texts, vectors, strict=True))
        self._dim = int(vectors.shape[1]) if vectors.ndim == 2 else 384

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> npt.NDArray[np.float32]:
        return np.stack([self._by_text[t] for t in texts]).astype(np.float32)


# -- the driver -----------------------------------------------------------------------------------


@dataclass
class _Job:
    n: int
    path: Path
    item_id: int
    prep: Prepared
    source: Any  # the path as text, or an ObjectRef of the file's bytes
    lost: int = 0


@dataclass
class _Actor:
    handle: Any
    node: str
    ready: bool = False
    busy: int = 0


class _Pool:
    """Actors pinned one node each, refreshed as nodes come and go."""

    def __init__(self, ray: Any, cls: Any, args: tuple[Any, ...], options: ClusterOptions):
        self.ray = ray
        self.options = options
        self.args = args
        self.remote_cls = ray.remote(
            num_cpus=options.worker_cpus, max_restarts=1, max_task_retries=1
        )(cls)
        self.actors: list[_Actor] = []
        self.starting: dict[Any, _Actor] = {}  # ready() ref -> actor
        self.last_refresh = 0.0
        self.started_at = time.monotonic()

    def refresh(self, force: bool = False) -> None:
        """Start actors on nodes that have room for more (new nodes join a running job)."""
        now = time.monotonic()
        if not force and now - self.last_refresh < 5.0:
            return
        self.last_refresh = now
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        cap = self.options.workers
        nodes = self.ray.nodes()
        alive = {n["NodeID"] for n in nodes if n.get("Alive")}
        # Actors of a node that died are gone; giving them work would only lose it again.
        for actor in [a for a in self.actors if a.node not in alive]:
            self.drop(actor)
        for node in nodes:
            if not node.get("Alive"):
                continue
            node_id = node["NodeID"]
            want = int(node.get("Resources", {}).get("CPU", 0) // self.options.worker_cpus)
            have = sum(a.node == node_id for a in self.actors)
            for _ in range(max(0, want - have)):
                if cap is not None and len(self.actors) >= cap:
                    return
                handle = self.remote_cls.options(
                    scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)
                ).remote(*self.args)
                actor = _Actor(handle, node_id)
                self.actors.append(actor)
                self.starting[handle.ready.remote()] = actor

    def started(self, ref: Any) -> _Actor | None:
        """An actor's ``ready`` call returned: it takes work from now on (or stops the run).

        Returns:
            The actor, or None when it was lost with its node before it started.
        """
        actor = self.starting.pop(ref)
        try:
            _, error = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            self.drop(actor)
            alive = {n["NodeID"] for n in self.ray.nodes() if n.get("Alive")}
            if actor.node in alive and "creation task" in str(exc):
                # Not a lost node: the actor itself cannot start there (e.g. no MediaMind).
                reason = next(
                    (line for line in reversed(str(exc).splitlines()) if "Error" in line),
                    type(exc).__name__,
                )
                raise ClusterError(
                    f"A MediaMind worker cannot start on Ray node {actor.node[:12]} "
                    f"({reason.strip()}).",
                    fix="Install the same MediaMind with its cluster extra on every node "
                    "(pip install 'mediamind[cluster]') and start Ray from that environment.",
                ) from exc
            return None
        if error is not None:
            raise ModelError(error)
        actor.ready = True
        return actor

    def drop(self, actor: _Actor) -> None:
        """Forget an actor that died with its node; look for room elsewhere at the next turn."""
        if actor in self.actors:
            self.actors.remove(actor)
        for ref, a in list(self.starting.items()):
            if a is actor:
                del self.starting[ref]
        self.last_refresh = 0.0

    def free(self) -> _Actor | None:
        """The ready actor with the fewest queued calls, if it has room for one more."""
        return self.free_below(self.options.per_worker)

    def free_below(self, limit: int) -> _Actor | None:
        """The ready actor with the fewest queued calls, if it has fewer than ``limit``."""
        ready = [a for a in self.actors if a.ready and a.busy < limit]
        return min(ready, key=lambda a: a.busy) if ready else None

    def check_alive(self, waiting: int) -> None:
        """Give up when work is waiting and no actor came up in time.

        Raises:
            ClusterError: No actor is ready and none started within ``start_timeout``.
        """
        if any(a.ready for a in self.actors) or not waiting:
            self.started_at = time.monotonic()
            return
        if time.monotonic() - self.started_at > self.options.start_timeout:
            cpus = self.options.worker_cpus
            raise ClusterError(
                f"No Ray worker is running and none started within "
                f"{self.options.start_timeout:.0f} s; {waiting} file(s) are left.",
                fix=f"Give the cluster a node with {cpus} free CPU(s) (ray status shows them), "
                "and run the same command again to finish.",
            )


def ingest(
    library: Library,
    paths: Iterable[Path | str] | Path | str,
    options: IngestOptions | None = None,
    cluster: ClusterOptions | None = None,
    *,
    encoder: TextEncoder | None = None,
    stats: ClusterStats | None = None,
) -> Iterator[IngestEvent]:
    """Ingest files and folders into ``library`` with Whisper running on a Ray cluster.

    Yields the same events as :func:`core.ingest.ingest` (without per-file ``progress``):
    ``skipped`` and ``failed`` as files are checked, ``started`` when one is admitted,
    ``done`` when its transcript is committed. ``encoder`` embeds what the driver stores itself
    (subtitle files, sidecars).

    Raises:
        UsageError: Ray is not installed.
        ClusterError: No cluster answers, or none of its nodes can run a worker.
        ModelError: The Whisper or embedding model is missing on a worker (raised once).
    """
    options = options or IngestOptions()
    cluster = cluster or ClusterOptions()
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files, failures = discover(Path(p) for p in paths)
    total = len(files) + len(failures)
    for n, event in enumerate(failures, start=1):
        yield IngestEvent("failed", event.path, n, total, message=event.message)
    if not files:
        return
    with connect(cluster) as ray:
        driver = _Driver(Ingestor(library, options, encoder), ray, cluster, total, stats)
        yield from driver.run(list(enumerate(files, start=len(failures) + 1)))


class _Driver:
    """Feeds files to the actor pool and commits what comes back, one item at a time."""

    def __init__(
        self,
        ing: Ingestor,
        ray: Any,
        cluster: ClusterOptions,
        total: int,
        stats: ClusterStats | None,
    ) -> None:
        options = replace(ing.options, threads=ing.options.threads or cluster.worker_cpus)
        self.ing, self.ray, self.cluster, self.total, self.stats = ing, ray, cluster, total, stats
        self.pool = _Pool(ray, IngestWorker, (options,), cluster)

    def run(self, files: list[tuple[int, Path]]) -> Iterator[IngestEvent]:
        """Check, dispatch and commit ``(index, path)`` pairs; yield their events."""
        ray, pool = self.ray, self.pool
        todo = deque(files)
        queue: deque[_Job] = deque()  # admitted, waiting for an actor
        running: dict[Any, tuple[_Job, _Actor]] = {}
        current: list[_Job] = []
        try:
            while todo or queue or running:
                pool.refresh()
                # Admit files while actors have room: checking and probing is the driver's.
                while todo and len(queue) < max(1, len(pool.actors)):
                    n, path = todo.popleft()
                    try:
                        job, events = self._admit(path, n)
                    except DiskFullError as exc:
                        yield IngestEvent(
                            "failed", path, n, self.total, message=f"{path}: not stored: {exc}"
                        )
                        yield from self._disk_full(todo, queue, running)
                        return
                    yield from events
                    if job is not None:
                        queue.append(job)
                while queue and (actor := pool.free()) is not None:
                    job = queue.popleft()
                    ref = actor.handle.transcribe.remote(
                        job.source, str(job.path), job.prep.probed_duration
                    )
                    actor.busy += 1
                    running[ref] = (job, actor)
                pool.check_alive(len(queue) + len(todo))
                refs = list(running) + list(pool.starting)
                if not refs:
                    if todo or queue:
                        time.sleep(0.2)
                    continue
                ready, _ = ray.wait(refs, num_returns=1, timeout=1.0)
                for ref in ready:
                    if ref in pool.starting:
                        pool.started(ref)
                        continue
                    job, actor = running.pop(ref)
                    actor.busy -= 1
                    current.append(job)
                    try:
                        event = self._collect(ref, job, actor)
                    except DiskFullError as exc:
                        yield IngestEvent(
                            "failed",
                            job.path,
                            job.n,
                            self.total,
                            0.0,
                            job.item_id,
                            f"{job.path}: not stored: {exc}",
                        )
                        current.clear()
                        yield from self._disk_full(todo, queue, running)
                        return
                    current.clear()
                    if event is None:  # lost with its worker: run it elsewhere
                        queue.appendleft(job)
                    else:
                        yield event
        except BaseException:
            # Ctrl-C, a kill or a fatal error: what is not committed is redone by the next run.
            for job in [*current, *(j for j, _ in running.values()), *queue]:
                self.ing.library.mark_failed(
                    job.item_id, "interrupted; run ingest again to finish it"
                )
            raise

    def _disk_full(
        self,
        todo: deque[tuple[int, Path]],
        queue: deque[_Job],
        running: dict[Any, tuple[_Job, _Actor]],
    ) -> Iterator[IngestEvent]:
        """Every later file would fail at its first write: report each, as local ingest does."""
        jobs = sorted([*queue, *(j for j, _ in running.values())], key=lambda j: j.n)
        for job in jobs:
            with contextlib.suppress(DiskFullError):
                self.ing.library.mark_failed(job.item_id, "not ingested: the disk is full")
        left = sorted([(j.n, j.path) for j in jobs] + list(todo))
        queue.clear()
        running.clear()
        todo.clear()
        for n, path in left:
            message = f"{path}: not ingested: the disk is full."
            yield IngestEvent("failed", path, n, self.total, message=message)

    def _admit(self, path: Path, n: int) -> tuple[_Job | None, list[IngestEvent]]:
        """Check one file as local ingest does; a job when it needs Whisper, and its events."""
        ing, total = self.ing, self.total
        st = ing.precheck(path, n, total)
        if isinstance(st, IngestEvent):
            return None, [st]
        item_id = ing.start(path)
        events = [IngestEvent("started", path, n, total, 0.0, item_id)]
        try:
            prep = ing.prepare(path, item_id, st)
            if prep.transcript is not None:
                chunks = ing.store_prepared(item_id, prep)
                language = ing.library.get_item(item_id).language or ""
                events.append(
                    IngestEvent(
                        "done",
                        path,
                        n,
                        total,
                        1.0,
                        item_id,
                        language,
                        len(chunks),
                        warning=prep.warning,
                    )
                )
                return None, events
            source: Any = str(path)
            if self.cluster.ship:
                data = path.read_bytes()
                source = self.ray.put(data)
                if self.stats is not None:
                    self.stats.shipped_bytes += len(data)
        except ModelError as exc:
            ing.library.mark_failed(item_id, str(exc))
            raise
        except DiskFullError as exc:
            with contextlib.suppress(DiskFullError):  # recording the failure needs room too
                ing.library.mark_failed(item_id, str(exc))
            raise
        except (MediaMindError, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                raise disk_full(exc, path) from exc
            message = str(exc) if isinstance(exc, MediaMindError) else f"{path}: {exc.strerror}."
            ing.library.mark_failed(item_id, message)
            events.append(IngestEvent("failed", path, n, total, 0.0, item_id, message))
            return None, events
        return _Job(n, path, item_id, prep, source), events

    def _collect(self, ref: Any, job: _Job, actor: _Actor) -> IngestEvent | None:
        """Commit one worker result; ``None`` when the call was lost with its worker."""
        ray, stats, retries = self.ray, self.stats, self.cluster.retries
        path, item_id, lib = job.path, job.item_id, self.ing.library
        try:
            result = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            # An exception inside the worker's code is this file's failure; not retried.
            result = Failed(f"{path}: the worker failed ({type(exc.cause).__name__}: {exc.cause}).")
        except ray.exceptions.RayError as exc:
            self.pool.drop(actor)
            job.lost += 1
            if stats is not None:
                stats.lost += 1
            log.warning("%s: worker lost (%s); retry %d of %d", path, exc, job.lost, retries)
            if job.lost <= retries:
                return None
            result = Failed(
                f"{path}: its Ray worker was lost {job.lost} times ({type(exc).__name__}); "
                "not tried again."
            )
        if isinstance(result, Failed):
            lib.mark_failed(item_id, result.message)
            if result.fatal:
                raise ModelError(result.message)
            return IngestEvent("failed", path, job.n, self.total, 0.0, item_id, result.message)
        t0 = time.perf_counter()
        try:
            chunks = commit(lib, item_id, job.prep, result)
            self.ing.store_translation(item_id, result.translation)
        except DiskFullError as exc:
            with contextlib.suppress(DiskFullError):  # recording the failure needs room too
                lib.mark_failed(item_id, str(exc))
            raise
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise disk_full(exc, path) from exc
            raise
        if stats is not None:
            stats.files += 1
            stats.media_seconds += result.duration
            stats.worker_seconds += result.seconds
            stats.commit_seconds += time.perf_counter() - t0
            stats.result_bytes += len(pickle.dumps(result, protocol=5))
            stats.nodes.add(result.node)
        return IngestEvent(
            "done", path, job.n, self.total, 1.0, item_id, result.language, len(chunks)
        )


def commit(library: Library, item_id: int, prep: Prepared, result: Transcribed) -> list[Chunk]:
    """Store a worker's transcript and vectors for an item in one transaction (the driver's job).

    Vectors go through :class:`core.search.EmbeddingStore` as in local ingest: a text already in
    the embedding cache keeps its cached vector, new ones are added to the cache. The item's
    voices (``result.speakers``) are stored in the same transaction, as local ingest does.

    Returns:
        The item's new chunks.
    """
    meta = prep.metadata(result.duration, result.language, result.model_id)
    embed = None
    if result.vectors is not None and result.encoder_id is not None:
        from core.search import EmbeddingStore

        texts = [c.text for c in make_chunks(result.segments)]
        embed = EmbeddingStore(library, _Vectors(result.encoder_id, texts, result.vectors)).embed
    on_complete = speaker_hooks.on_complete(library, item_id, result.speakers)
    return library.store_transcript(item_id, meta, result.segments, embed, on_complete=on_complete)


# -- annotation -----------------------------------------------------------------------------------


class AnnotateWorker:
    """A Ray actor: the language model, loaded once, run over the windows of one item at a time."""

    def __init__(self, llm: str | None, settings: AnnotateSettings, threads: int) -> None:
        """Load the model (a failure is reported by :meth:`ready`, not raised)."""
        import ray

        self.node = ray.get_runtime_context().get_node_id()
        self.settings = settings
        self.error: str | None = None
        try:
            from core.llm import LocalLLM, model_identity, resolve_model_path

            path = resolve_model_path(llm)
            self.identity = model_identity(path)
            self.llm = LocalLLM(path, n_threads=threads)
        except MediaMindError as exc:
            self.error = f"on Ray node {self.node[:12]}: {exc}"

    def ready(self) -> tuple[str, str | None]:
        """The node this actor runs on, and why its model cannot load (None when it can)."""
        return self.node, self.error

    def model_identity(self) -> str:
        """Identity of the model file this worker runs (it must be the driver's)."""
        return self.identity

    def votes(self, chunks: list[Chunk]) -> LLMVotes | Failed:
        """The language model's votes over an item's windows (``llm_votes``)."""
        from core.annotate.annotator import llm_votes

        if self.error is not None:
            return Failed(self.error, fatal=True)
        try:
            return llm_votes(self.llm, self.settings, chunks)
        except MediaMindError as exc:
            return Failed(str(exc))


def annotate(
    library: Library,
    annotator: Annotator,
    ids: Sequence[int] | None = None,
    cluster: ClusterOptions | None = None,
    *,
    force: bool = False,
    ahead: int = 4,
) -> Iterator[AnnotateEvent]:
    """Annotate items with the language model running on Ray; the driver stores the tags.

    The same run as :func:`core.annotate.annotate` (events, skips, failure records, run
    bookkeeping); only the language model's votes come from the workers, which work
    ``ahead`` items per worker in advance of the item being stored.

    Raises:
        UsageError: Ray is not installed.
        ClusterError: No cluster answers, or an item's worker was lost too often.
        ModelError: A worker's language model is missing or is not the driver's.
    """
    from core.annotate import annotate as local_annotate
    from core.annotate.annotator import content_hash

    cluster = cluster or ClusterOptions()
    items = [library.get_item(i) for i in ids] if ids else library.items(status="ready")
    model_id = annotator.model_id
    wanted: list[tuple[int, list[Chunk]]] = []
    for item in items:
        chunks = library.chunks(item.id)
        if chunks and (
            force or annotator.needs_annotation(item.id, content_hash(chunks), model_id)
        ):
            wanted.append((item.id, chunks))
    if not annotator.settings.use_llm or not wanted:
        yield from local_annotate(library, ids, annotator=annotator, force=force)
        return
    llm = str(annotator.llm_path) if annotator.llm_path is not None else None
    with connect(cluster) as ray:
        pool = _Pool(ray, AnnotateWorker, (llm, annotator.settings, cluster.worker_cpus), cluster)
        votes = _Votes(ray, pool, wanted, ahead, annotator)
        yield from local_annotate(library, ids, annotator=annotator, force=force, votes=votes)


class _Votes:
    """Keeps the pool busy ahead of the driver's item-by-item loop; hands out votes in order."""

    def __init__(
        self,
        ray: Any,
        pool: _Pool,
        wanted: list[tuple[int, list[Chunk]]],
        ahead: int,
        annotator: Annotator,
    ) -> None:
        self.ray, self.pool, self.ahead = ray, pool, ahead
        self.identity = annotator.model_id.split("|")[0]
        self.todo = deque(wanted)
        self.running: dict[int, tuple[Any, _Actor, list[Chunk]]] = {}

    def __call__(self, media_id: int, chunks: list[Chunk]) -> LLMVotes:
        """The votes of one item, waiting for its worker if need be.

        Raises:
            ClusterError: Its worker was lost more than ``retries`` times, or failed.
            ModelError: The workers' language model is missing or not the driver's.
        """
        if media_id not in self.running:
            self.todo = deque(w for w in self.todo if w[0] != media_id)
            self.todo.appendleft((media_id, chunks))
        lost = 0
        while True:
            self._fill(media_id)
            ref, actor, item_chunks = self.running.pop(media_id)
            actor.busy -= 1
            try:
                out = self.ray.get(ref)
            except self.ray.exceptions.RayTaskError as exc:
                raise ClusterError(f"Item {media_id}: the worker failed ({exc.cause}).") from exc
            except self.ray.exceptions.RayError as exc:
                self.pool.drop(actor)
                lost += 1
                if lost > self.pool.options.retries:
                    raise ClusterError(
                        f"Item {media_id}: its Ray worker was lost {lost} times; not tried again.",
                        fix="Run the same command again to finish the remaining items.",
                    ) from exc
                self.todo.appendleft((media_id, item_chunks))
                continue
            if isinstance(out, Failed):
                if out.fatal:
                    raise ModelError(out.message)
                raise ClusterError(out.message)
            result: LLMVotes = out
            return result

    def _fill(self, media_id: int) -> None:
        """Submit items until ``media_id`` runs and every worker has ``ahead`` of them."""
        pool = self.pool
        while True:
            pool.refresh()
            need = media_id not in self.running  # then it is first in ``todo``
            room = bool(self.todo) and len(self.running) < self.ahead * max(1, len(pool.actors))
            if not need and not room:
                return
            # The item the driver waits for may go to a worker that is full of later ones.
            actor = pool.free_below(self.ahead if not need else 1 << 30) if self.todo else None
            if actor is not None:
                mid, chunks = self.todo.popleft()
                actor.busy += 1
                self.running[mid] = (actor.handle.votes.remote(chunks), actor, chunks)
                continue
            if not need:
                return
            pool.check_alive(len(self.todo))
            if pool.starting:
                ready, _ = self.ray.wait(list(pool.starting), num_returns=1, timeout=1.0)
                for ref in ready:
                    self._check_model(pool.started(ref))
            else:
                pool.refresh(force=True)
                time.sleep(0.2)

    def _check_model(self, actor: _Actor | None) -> None:
        if actor is None:
            return
        identity = self.ray.get(actor.handle.model_identity.remote())
        if identity != self.identity:
            raise ModelError(
                f"The Ray worker on node {actor.node[:12]} has another language model "
                f"({identity}) than this machine ({self.identity}).",
                fix="Install the same model package on every node, or pass --llm with a "
                "path that holds the same file everywhere.",
            )
