"""Ingest on a real Ray: a local head, a multi-node cluster, a node lost mid-run.

Run by ``test_netns.py`` inside a private network namespace; never directly on the host.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core import cluster
from core.ingest import IngestOptions, ingest
from core.store import Library
from tests.core.test_ingest import louder_copy

pytestmark = pytest.mark.slow

# Plain local ingest (all cores) is the reference; the workers run on one thread each.
OPTIONS = IngestOptions()
GAINS = (1.0, 1.5, 0.7, 1.2, 0.85, 1.35)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory, jfk: Path, netns: None) -> Path:
    """Six short real recordings (different bytes each), a corrupt file, a truncated one."""
    d = tmp_path_factory.mktemp("media")
    for i, gain in enumerate(GAINS):
        louder_copy(jfk, d / f"clip{i}.flac", gain)
    (d / "zz_corrupt.mp3").write_bytes(b"this is not audio " * 200)
    return d


@pytest.fixture(scope="module")
def truncated(tmp_path_factory: pytest.TempPathFactory, media: Path) -> Path:
    """A FLAC whose header announces 11 s but whose data stops after a third of it."""
    d = tmp_path_factory.mktemp("truncated")
    data = (media / "clip1.flac").read_bytes()
    (d / "cut.flac").write_bytes(data[: len(data) // 3])
    return d / "cut.flac"


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory, media: Path, shared_models: Path
) -> dict[str, Any]:
    """Local ingest of the same files: what every cluster run must reproduce."""
    with Library(tmp_path_factory.mktemp("reference")) as lib:
        events = list(ingest(lib, [media], OPTIONS))
        assert Counter(e.kind for e in events)["done"] == len(GAINS)
        got = snapshot(lib)
        # Speakers are on (the default): the comparison covers their labels and voices.
        assert all(s.speaker is not None for v in got.values() for s in v["segments"])
        assert all(v["voices"] for v in got.values())
        return got


def snapshot(lib: Library) -> dict[str, Any]:
    """Per file name: item metadata, segments (with words and speakers), chunks and their
    vectors, and the item's voices (label, seconds, centroid; profile ids follow commit order).
    """
    out = {}
    for item in lib.items(status="ready"):
        vecs = lib.db.query(
            "SELECT v.embedding FROM chunks c JOIN chunk_vec v ON v.chunk_id = c.id "
            "WHERE c.media_id=? ORDER BY c.idx",
            (item.id,),
        )
        out[Path(item.path).name] = {
            "meta": (item.title, item.duration, item.language, item.transcript_source, item.sha256),
            "segments": lib.segments(item.id),
            "chunks": [(c.idx, c.start, c.end, c.text) for c in lib.chunks(item.id)],
            "vectors": [np.frombuffer(r["embedding"], dtype=np.float32) for r in vecs],
            "voices": [
                (r["label"], r["seconds"], np.frombuffer(r["centroid"], dtype=np.float32))
                for r in lib.db.query(
                    "SELECT label, seconds, centroid FROM item_speakers WHERE media_id=? "
                    "ORDER BY label",
                    (item.id,),
                )
            ],
        }
    return out


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert sorted(got) == sorted(want)
    for name, w in want.items():
        g = got[name]
        assert g["meta"] == w["meta"], name
        assert [s.text for s in g["segments"]] == [s.text for s in w["segments"]], name
        assert g["segments"] == w["segments"], f"{name}: word timings or probabilities differ"
        assert g["chunks"] == w["chunks"], name
        assert len(g["vectors"]) == len(w["vectors"]) == len(w["chunks"]), name
        for a, b in zip(g["vectors"], w["vectors"], strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)
        # Diarization ran on the worker; the driver stored its voices as local ingest does.
        assert [v[:2] for v in g["voices"]] == [v[:2] for v in w["voices"]], name
        for (_, _, a), (_, _, b) in zip(g["voices"], w["voices"], strict=True):
            np.testing.assert_allclose(a, b, atol=1e-5)


def assert_each_item_once(lib: Library) -> None:
    """No item, segment or chunk twice; every chunk has exactly one vector."""
    paths = [i.path for i in lib.items()]
    assert len(paths) == len(set(paths))
    for item in lib.items(status="ready"):
        idx = [c.idx for c in lib.chunks(item.id)]
        assert idx == list(range(len(idx)))
        seg = lib.db.query("SELECT idx FROM segments WHERE media_id=? ORDER BY idx", (item.id,))
        assert [r["idx"] for r in seg] == list(range(len(seg)))
    assert lib.db.scalar("SELECT count(*) FROM chunks") == lib.db.scalar(
        "SELECT count(*) FROM chunk_vec"
    )


@pytest.fixture
def multinode(ray_tmp: Path, shared_models: Path) -> Iterator[Any]:
    """A head with no CPU for work and worker nodes of 1 CPU each, on one machine."""
    import ray
    from ray.cluster_utils import Cluster

    c = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "include_dashboard": False,
            "temp_dir": str(ray_tmp),
            # Notice a removed node within seconds, not the default half minute.
            "_system_config": {
                "health_check_initial_delay_ms": 0,
                "health_check_period_ms": 1000,
                "health_check_failure_threshold": 3,
            },
        },
    )
    ray.init(address=c.address, logging_level="WARNING", log_to_driver=False)
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


def test_local_head_matches_local_ingest_and_a_repeat_run_skips_everything(
    tmp_path: Path, media: Path, truncated: Path, reference: dict[str, Any]
) -> None:
    opts = cluster.ClusterOptions(address="local", local_cpus=2)
    stats = cluster.ClusterStats()
    with Library(tmp_path / "lib") as lib:
        events = list(cluster.ingest(lib, [media, truncated], OPTIONS, opts, stats=stats))
        kinds = Counter(e.kind for e in events)
        assert kinds["done"] == len(GAINS) and kinds["failed"] == 2, events
        assert stats.files == len(GAINS) and stats.lost == 0
        failed = {e.path.name: e.message for e in events if e.kind == "failed"}
        # Each bad file is one line naming it; the truncated one failed on a worker, once.
        assert set(failed) == {"zz_corrupt.mp3", "cut.flac"}
        for name, message in failed.items():
            assert "\n" not in message and name in message
        assert "truncated" in failed["cut.flac"] and str(truncated) in failed["cut.flac"]
        assert lib.item_by_path(str(truncated)).status == "error"
        assert_same(snapshot(lib), reference)
        assert_each_item_once(lib)

        again = list(cluster.ingest(lib, [media], OPTIONS, opts))
        assert [e.kind for e in again if e.path.suffix == ".flac"] == ["skipped"] * len(GAINS)
        assert_same(snapshot(lib), reference)


def test_two_node_cluster_ships_bytes_and_uses_both_nodes(
    tmp_path: Path, media: Path, reference: dict[str, Any], multinode: Any
) -> None:
    import ray

    nodes = [multinode.add_node(num_cpus=1) for _ in range(2)]
    multinode.wait_for_nodes()
    # Everything Ray started listens on the namespace's loopback only.
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    stats = cluster.ClusterStats()
    opts = cluster.ClusterOptions(ship=True)
    with Library(tmp_path / "lib") as lib:
        events = list(cluster.ingest(lib, [media], OPTIONS, opts, stats=stats))
        assert Counter(e.kind for e in events) == Counter(
            {"started": len(GAINS) + 1, "done": len(GAINS), "failed": 1}
        )
        assert_same(snapshot(lib), reference)
        assert_each_item_once(lib)
    assert stats.nodes == {n.node_id for n in nodes}
    assert stats.shipped_bytes == sum(p.stat().st_size for p in media.glob("*.flac"))


def test_a_node_removed_mid_run_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, media: Path, reference: dict[str, Any], multinode: Any
) -> None:
    nodes = [multinode.add_node(num_cpus=1) for _ in range(3)]
    multinode.wait_for_nodes()
    stats = cluster.ClusterStats()
    done: list[str] = []
    removed = False
    with Library(tmp_path / "lib") as lib:
        for ev in cluster.ingest(lib, [media], OPTIONS, cluster.ClusterOptions(), stats=stats):
            if ev.kind == "done":
                done.append(ev.path.name)
                if not removed:
                    # Every node still has a file queued or running (2 per worker, 6 files).
                    multinode.remove_node(nodes[0], allow_graceful=False)
                    removed = True
            assert ev.kind != "failed" or ev.path.name == "zz_corrupt.mp3", ev
        assert sorted(done) == sorted(reference)  # each file committed exactly once
        assert stats.lost >= 1, "the removed node had no work: the test proved nothing"
        assert_same(snapshot(lib), reference)
        assert_each_item_once(lib)


def test_cli_ingest_on_a_local_ray_prints_one_line_per_file(
    tmp_path: Path, media: Path, reference: dict[str, Any], ray_tmp: Path
) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    result = subprocess.run(
        [
            *(sys.executable, "-m", "core.cli", "--library", str(tmp_path / "lib"), "ingest"),
            *(str(media), "--ray", "local", "--workers", "2"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
        check=False,
    )
    assert result.returncode == 1, result.stderr  # the corrupt file
    lines = [ln for ln in result.stderr.splitlines() if not ln.startswith(("[", "20"))]
    assert sum(ln.startswith("ingested (") for ln in lines) == len(GAINS), result.stderr
    assert sum(ln.startswith("error: ") and "zz_corrupt.mp3" in ln for ln in lines) == 1
    assert lines[-1] == f"{len(GAINS)} ingested, 0 unchanged, 1 failed"
    with Library(tmp_path / "lib") as lib:
        assert_same(snapshot(lib), reference)


def test_german_is_routed_and_translated_on_a_worker_as_in_local_ingest(
    tmp_path: Path, jfk: Path, shared_models: Path
) -> None:
    from core.ingest import stored_translation
    from tests.conftest import require_shared

    german = require_shared("speech", "fleurs", "fleurs-de-001.ogg")
    options = IngestOptions(translate=True)
    with Library(tmp_path / "local") as lib:
        kinds = [e.kind for e in ingest(lib, [german, jfk], options)]
        assert kinds.count("done") == 2
        want = snapshot(lib)
        want_translations = {
            Path(i.path).name: stored_translation(lib, i.id) for i in lib.items(status="ready")
        }
    # Routing ran: the German item is base's and has a translation, the English one has none.
    assert want[german.name]["meta"][2:4] == ("de", "whisper:base")
    assert want[jfk.name]["meta"][2:4] == ("en", "whisper:tiny.en")
    assert want_translations[german.name] and not want_translations[jfk.name]
    opts = cluster.ClusterOptions(address="local", local_cpus=2)
    with Library(tmp_path / "ray") as lib:
        events = list(cluster.ingest(lib, [german, jfk], options, opts))
        assert [e.kind for e in events].count("done") == 2, events
        assert_same(snapshot(lib), want)
        got = {Path(i.path).name: stored_translation(lib, i.id) for i in lib.items(status="ready")}
        assert got == want_translations
