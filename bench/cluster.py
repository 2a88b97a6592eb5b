"""Cluster benchmark: ingest on Ray (``--ray local``, a 2-node one-machine cluster) against
plain local ingest of the same files in the same run, and the single writer's commit rate.

Run ``python -m bench.cluster [--clips 4] [--repeat 6] [--json]``. It starts Ray only inside a
private network namespace (``unshare -rn``, loopback up) that it creates by re-running itself,
so Ray binds 127.0.0.1 and never the machine's interfaces.

Media: ``clips`` recordings made from the JFK fixture (11 s), each the clip ``repeat`` times
at a different gain (different bytes and sha256, real speech). Measured:

* throughput (seconds of media per wall second) of local ingest with every core, Ray with a
  private local head (one 1-CPU worker per core) and Ray on a one-machine cluster of 2 nodes
  of 1 CPU each; for Ray, with and without starting Ray itself (a cluster is started once and
  then runs for days, so the second figure is the one that scales);
* the driver's commit rate: synthetic one-hour items (unique text, real segment and chunk
  shapes, random unit vectors) stored with the driver's exact commit code, items/s;
* object-store traffic per hour of media: file bytes with ``--ship`` and the results that come
  back (pickled segments and vectors).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from core import cluster
from core.ingest.media import SAMPLE_RATE, MediaInfo, decode_audio
from core.ingest.pipeline import IngestOptions, Prepared, ingest
from core.store import Library
from core.transcript import Segment, make_chunks

REPO = Path(__file__).resolve().parents[1]
JFK = REPO / "tests" / "fixtures" / "jfk.flac"


def make_media(directory: Path, clips: int, repeat: int) -> float:
    """Write the benchmark recordings; return their total duration in seconds."""
    import av

    base = decode_audio(JFK)
    total = 0.0
    for i in range(clips):
        parts = [np.clip(base * (0.6 + 0.1 * ((i * repeat + k) % 9)), -1, 1) for k in range(repeat)]
        audio = np.concatenate(parts)
        total += audio.shape[0] / SAMPLE_RATE
        with av.open(str(directory / f"clip{i:02d}.flac"), "w") as out:
            stream = out.add_stream("flac", rate=SAMPLE_RATE, layout="mono")
            frame = av.AudioFrame.from_ndarray(
                (audio * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
            )
            frame.rate = SAMPLE_RATE
            for p in [*stream.encode(frame), *stream.encode(None)]:
                out.mux(p)
    return total


def timed_local(media: Path, work: Path) -> float:
    """Wall seconds of plain local ingest (all cores) into a fresh library."""
    with Library(work / f"local-{time.monotonic_ns()}") as lib:
        t0 = time.perf_counter()
        events = list(ingest(lib, [media], IngestOptions()))
        seconds = time.perf_counter() - t0
    assert all(e.kind in ("started", "progress", "done") for e in events), events
    return seconds


def timed_ray(
    media: Path, work: Path, options: cluster.ClusterOptions
) -> tuple[float, cluster.ClusterStats]:
    """Wall seconds of a cluster ingest on the Ray this process is connected to."""
    stats = cluster.ClusterStats()
    with Library(work / f"ray-{time.monotonic_ns()}") as lib:
        t0 = time.perf_counter()
        events = list(cluster.ingest(lib, [media], IngestOptions(), options, stats=stats))
        seconds = time.perf_counter() - t0
    assert all(e.kind in ("started", "done") for e in events), events
    return seconds, stats


def hour_item(sample: list[Segment], k: int) -> cluster.Transcribed:
    """A synthetic one-hour transcript: the sample's segments repeated with unique text."""
    span = sample[-1].end + 1.0
    segments = []
    t = 0.0
    n = 0
    while t < 3600.0:
        for s in sample:
            segments.append(
                Segment(t + s.start, t + s.end, f"{s.text} (item {k} part {n})", s.words)
            )
            n += 1
        t += span
    chunks = make_chunks(segments)
    rng = np.random.default_rng(k)
    vectors = rng.standard_normal((len(chunks), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return cluster.Transcribed(
        segments[-1].end, "en", "whisper:tiny.en", segments, "bench-random", vectors, "-", 0.0
    )


def writer_rate(work: Path, sample: list[Segment], items: int) -> dict[str, float]:
    """Items/s (one hour each) that the driver commits, with its exact commit code."""
    info = MediaInfo(JFK, "audio", "flac", "flac", None, 3600.0, "bench", {})
    results = [hour_item(sample, k) for k in range(items)]
    with Library(work / "writer") as lib:
        t0 = time.perf_counter()
        for k, result in enumerate(results):
            item_id = lib.upsert_pending(f"/bench/item{k}.flac", f"item{k}", "audio")
            prep = Prepared(f"{k:064x}", 1, 1.0, info)
            cluster.commit(lib, item_id, prep, result)
        seconds = time.perf_counter() - t0
        chunks = lib.db.scalar("SELECT count(*) FROM chunks")
    return {
        "items": items,
        "seconds": seconds,
        "items_per_s": items / seconds,
        "chunks_per_item": chunks / items,
        "segments_per_item": len(results[0].segments),
        "result_bytes_per_hour": float(len(pickle.dumps(results[0], protocol=5))),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import ray
    from ray.cluster_utils import Cluster

    work = Path(tempfile.mkdtemp(prefix="mmbench-", dir="/tmp"))
    media = work / "media"
    media.mkdir()
    try:
        seconds_of_media = make_media(media, args.clips, args.repeat)
        out: dict[str, Any] = {
            "files": args.clips,
            "media_seconds": seconds_of_media,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": os.getloadavg(),
        }
        # Warm the model files and page cache once, outside every timing.
        timed_local(media, work)
        runs: dict[str, list[float]] = {"local": [], "ray_local": [], "ray_local_with_start": []}
        runs.update({"two_nodes": [], "two_nodes_ship": []})
        last: dict[str, cluster.ClusterStats] = {}
        cpus = os.cpu_count() or 2
        for _ in range(args.rounds):
            runs["local"].append(timed_local(media, work))
            t0 = time.perf_counter()
            ray.init(
                address="local",
                num_cpus=cpus,
                include_dashboard=False,
                logging_level="WARNING",
                log_to_driver=False,
                _temp_dir=str(work / "ray"),
            )
            started = time.perf_counter() - t0
            seconds, last["ray_local"] = timed_ray(media, work, cluster.ClusterOptions())
            runs["ray_local"].append(seconds)
            runs["ray_local_with_start"].append(seconds + started)
            ray.shutdown()
            c = Cluster(
                initialize_head=True,
                head_node_args={
                    "num_cpus": 0,
                    "include_dashboard": False,
                    "temp_dir": str(work / "ray2"),
                },
            )
            for _ in range(2):
                c.add_node(num_cpus=1)
            c.wait_for_nodes()
            ray.init(address=c.address, logging_level="WARNING", log_to_driver=False)
            seconds, last["two_nodes"] = timed_ray(media, work, cluster.ClusterOptions())
            runs["two_nodes"].append(seconds)
            seconds, last["two_nodes_ship"] = timed_ray(
                media, work, cluster.ClusterOptions(ship=True)
            )
            runs["two_nodes_ship"].append(seconds)
            ray.shutdown()
            c.shutdown()
        med = {k: float(np.median(v)) for k, v in runs.items()}
        out["wall_seconds"] = runs
        out["median_seconds"] = med
        out["throughput_x_realtime"] = {k: seconds_of_media / v for k, v in med.items()}
        out["overhead_vs_local"] = {k: v / med["local"] - 1 for k, v in med.items() if k != "local"}
        ship = last["two_nodes_ship"]
        hours = ship.media_seconds / 3600
        out["object_store"] = {
            "shipped_bytes_per_hour": ship.shipped_bytes / hours,
            "result_bytes_per_hour": ship.result_bytes / hours,
        }
        out["worker_seconds_per_media_second"] = ship.worker_seconds / ship.media_seconds
        out["driver_commit_seconds_per_item"] = ship.commit_seconds / max(1, ship.files)
        with Library(work / "sample") as lib:
            list(ingest(lib, [JFK], IngestOptions()))
            sample = lib.segments(lib.items()[0].id)
        out["writer"] = writer_rate(work, sample, args.writer_items)
        out["load_after"] = os.getloadavg()
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(r: dict[str, Any]) -> str:
    lines = [
        f"{r['files']} files, {r['media_seconds']:.0f} s of media, {r['cpus']} CPUs; "
        f"load {r['load_before'][0]:.1f} before, {r['load_after'][0]:.1f} after",
        f"{'run':<22}{'median s':>9}{'x real time':>12}{'vs local':>10}",
    ]
    for k, v in r["median_seconds"].items():
        over = r["overhead_vs_local"].get(k)
        lines.append(
            f"{k:<22}{v:>9.1f}{r['throughput_x_realtime'][k]:>12.2f}"
            f"{'' if over is None else f'{over:+.0%}':>10}"
        )
    w, store = r["writer"], r["object_store"]
    commit_ms = r["driver_commit_seconds_per_item"] * 1000
    lines += [
        f"worker CPU per media second: {r['worker_seconds_per_media_second']:.3f} s",
        f"driver commit per item (this run's items): {commit_ms:.1f} ms",
        f"writer: {w['items_per_s']:.1f} one-hour items/s ({w['chunks_per_item']:.0f} chunks, "
        f"{w['segments_per_item']} segments each)",
        f"object store per hour of media: files {store['shipped_bytes_per_hour'] / 1e6:.1f} MB "
        f"(--ship, FLAC 16 kHz mono), results {store['result_bytes_per_hour'] / 1e6:.2f} MB "
        f"(measured), {w['result_bytes_per_hour'] / 1e6:.2f} MB (synthetic hour item)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=6, help="JFK repeats per clip (11 s each)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--writer-items", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if os.environ.get("MEDIAMIND_BENCH_NETNS") != "1":
        # Re-run inside a private network namespace: Ray binds only its loopback there.
        env = {
            **os.environ,
            "MEDIAMIND_BENCH_NETNS": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        cmd = [
            "unshare",
            "-rn",
            "sh",
            "-c",
            'ip link set lo up && exec "$0" -m bench.cluster "$@"',
            sys.executable,
            *(argv if argv is not None else sys.argv[1:]),
        ]
        return subprocess.run(cmd, env=env, cwd=REPO, check=False).returncode
    result = run(args)
    print(json.dumps(result, indent=2, default=list) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
