"""Evaluate the embedding model: ``python -m models.embedding.evaluate [--data DIR] [--json]``.

Three questions, answered on real meeting transcripts (QMSum):

1. Fidelity: how close are int8 embeddings to fp32 ones (mean cosine), and does retrieval
   return the same passages (top-10 overlap for the QMSum queries)? The shipped block-wise int8
   is compared with the earlier dynamic (``MatMulInteger``) recipes.
2. Correctness: does the hand-built fp32 graph match sentence-transformers on torch?
3. Speed: passages per second of int8 ONNX, fp32 ONNX and sentence-transformers fp32 on torch,
   same texts, batch size and thread count; runs interleaved, median of several.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import re
import statistics
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.search import FP32_FILENAME, INT8_FILENAME, Embedder, EmbeddingConfig, default_threads
from models.embedding.build import QuantSettings, build_embedding_model, locate_source_zip

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "retrieval" / "qmsum"
PASSAGE_WORDS = 75  # ~30 s of speech at 150 words/min, the chunk size the app indexes
TOP_K = 10

Vectors = NDArray[np.float32]
EncodeFn = Callable[[Sequence[str]], Vectors]

# Always compared with the shipped default (QuantSettings()): the previous default (dynamic
# int8, per-channel weights, per-token row scaling, 7-bit weights; its speed is measured too),
# the plain recipe quantize_dynamic(per_channel=True) and plain per-tensor dynamic int8.
BASELINES: list[QuantSettings] = [
    QuantSettings(blockwise=()),
    QuantSettings(blockwise=(), row_scaled=False, reduce_range=False),
    QuantSettings(blockwise=(), per_channel=False, row_scaled=False, reduce_range=False),
]
# Further variants measured with --sweep: other block sizes, block-wise only where the
# dynamic recipe loses most (QKV, FFN-in), and the dynamic recipe's own options.
SWEEP: list[QuantSettings] = [
    QuantSettings(block_size=32),
    QuantSettings(block_size=64),
    QuantSettings(block_size=128),
    QuantSettings(blockwise=("qkv", "ffn_in"), block_size=32),
    QuantSettings(blockwise=(), reduce_range=False),
    QuantSettings(blockwise=(), quantize_attention=False),
    QuantSettings(blockwise=(), quantize_embeddings=False),
]


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

_MARKER = re.compile(r"\{[^}]*\}")
_SPACE_BEFORE = re.compile(r"\s+([,.?!;:%]|'\w|n't\b)")


def clean_turn(text: str) -> str:
    """Strip ``{vocalsound}``-style markers and the tokenised spacing (``I 've , yes``)."""
    text = _MARKER.sub(" ", text)
    text = " ".join(text.split())
    return _SPACE_BEFORE.sub(r"\1", text)


@dataclass(frozen=True)
class Passage:
    """About 30 s of a meeting: consecutive turns ``first``..``last`` (inclusive)."""

    meeting: str
    first: int
    last: int
    text: str


@dataclass(frozen=True)
class Query:
    """A QMSum specific query and its gold turn spans (inclusive)."""

    meeting: str
    text: str
    spans: tuple[tuple[int, int], ...]


def group_passages(meeting: str, turns: Sequence[str], words: int = PASSAGE_WORDS) -> list[Passage]:
    """Join consecutive turns into passages of about ``words`` words; split very long turns.

    Args:
        meeting: Meeting name stored in each passage.
        turns: Cleaned turn texts in meeting order (index = QMSum turn index).
        words: Target passage length in words.

    Returns:
        The passages, in order.
    """
    passages: list[Passage] = []
    buf: list[str] = []
    first = 0
    for idx, turn in enumerate(turns):
        if not buf:
            first = idx
        buf.extend(turn.split())
        # A monologue longer than 1.5 passages is cut so no passage dwarfs the others.
        while len(buf) >= words * 3 // 2:
            passages.append(Passage(meeting, first, idx, " ".join(buf[:words])))
            buf = buf[words:]
            first = idx
        if len(buf) >= words:
            passages.append(Passage(meeting, first, idx, " ".join(buf)))
            buf = []
    if buf:
        passages.append(Passage(meeting, first, len(turns) - 1, " ".join(buf)))
    return passages


def load_qmsum(data_dir: Path) -> tuple[list[Passage], list[Query]]:
    """Passages and specific queries of every QMSum meeting file in ``data_dir``.

    Args:
        data_dir: Folder of QMSum ``*.json`` meeting files.

    Returns:
        ``(passages, queries)``.
    """
    passages: list[Passage] = []
    queries: list[Query] = []
    files = sorted(data_dir.glob("*.json"))
    if not files:
        raise SystemExit(f"no QMSum *.json files in {data_dir}")
    for path in files:
        meeting = json.loads(path.read_text(encoding="utf-8"))
        turns = [clean_turn(t["content"]) for t in meeting["meeting_transcripts"]]
        passages.extend(group_passages(path.stem, turns))
        for q in meeting.get("specific_query_list", []):
            spans = tuple((int(a), int(b)) for a, b in q.get("relevant_text_span", []))
            queries.append(Query(path.stem, q["query"], spans))
    return passages, queries


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def row_cosine(a: Vectors, b: Vectors) -> NDArray[np.float64]:
    """Cosine similarity of matching rows of two embedding matrices."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    num = np.sum(a64 * b64, axis=1)
    den = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    return np.asarray(num / np.maximum(den, 1e-12), dtype=np.float64)


def top_k(queries: Vectors, passages: Vectors, k: int = TOP_K) -> NDArray[np.int64]:
    """Indices of the ``k`` most similar passages per query (unordered within the k)."""
    sims = queries @ passages.T
    return np.argpartition(-sims, k, axis=1)[:, :k].astype(np.int64)


def topk_overlap(a: NDArray[np.int64], b: NDArray[np.int64]) -> float:
    """Mean fraction of shared passages between two top-k result lists."""
    k = a.shape[1]
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(a, b, strict=True)]))


def gold_hit_rate(
    top: NDArray[np.int64], passages: Sequence[Passage], queries: Sequence[Query]
) -> float:
    """Fraction of queries with at least one gold-span passage among their top-k results.

    A passage is gold for a query when it is from the same meeting and its turns overlap one
    of the query's annotated spans.
    """
    hits = 0
    for row, query in zip(top, queries, strict=True):
        for i in row:
            p = passages[int(i)]
            if p.meeting == query.meeting and any(
                p.first <= end and start <= p.last for start, end in query.spans
            ):
                hits += 1
                break
    return hits / max(1, len(queries))


def cosine_summary(cos: NDArray[np.float64]) -> dict[str, float]:
    """Mean, 1st percentile and minimum of a cosine array."""
    return {
        "mean": round(float(cos.mean()), 5),
        "p1": round(float(np.percentile(cos, 1)), 5),
        "min": round(float(cos.min()), 5),
    }


# --------------------------------------------------------------------------------------------
# Encoders
# --------------------------------------------------------------------------------------------


def torch_encoder(threads: int, batch_size: int, workdir: Path) -> tuple[EncodeFn | None, str]:
    """sentence-transformers on torch fp32 with the same thread count, if installed.

    Returns:
        ``(encode function, description)``, or ``(None, reason)`` when unavailable.
    """
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        return None, f"skipped: {exc.name or exc} not importable"
    torch.set_num_threads(threads)
    # Only settable before torch's first parallel work, hence the suppress.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    st_dir = workdir / "st"
    with zipfile.ZipFile(locate_source_zip()) as zf:
        zf.extractall(st_dir)
    model = SentenceTransformer(str(st_dir), device="cpu")

    def encode(texts: Sequence[str]) -> Vectors:
        with torch.inference_mode():
            out = model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True)
        return np.asarray(out, dtype=np.float32)

    note = f"sentence-transformers {_version('sentence-transformers')}, torch {torch.__version__}"
    return encode, note


def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def throughput(
    encoders: dict[str, EncodeFn], texts: Sequence[str], runs: int
) -> dict[str, dict[str, Any]]:
    """Passages/s per encoder; runs are interleaved so machine noise hits all encoders alike."""
    times: dict[str, list[float]] = {name: [] for name in encoders}
    for fn in encoders.values():  # warm-up: arena allocation, lazy kernels
        fn(texts[:64])
    for _ in range(runs):
        for name, fn in encoders.items():
            start = time.perf_counter()
            fn(texts)
            times[name].append(time.perf_counter() - start)
    return {
        name: {
            "chunks_per_s": round(len(texts) / statistics.median(t), 1),
            "runs_s": [round(x, 2) for x in t],
        }
        for name, t in times.items()
    }


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def evaluate(
    data_dir: Path,
    *,
    model_dir: Path | None,
    max_passages: int,
    bench_passages: int,
    batch_size: int,
    threads: int,
    runs: int,
    sweep: bool,
    with_torch: bool,
    workdir: Path,
) -> dict[str, Any]:
    """Run all measurements and return them as one JSON-able dict."""
    passages, queries = load_qmsum(data_dir)
    # Every n-th passage so all meetings are represented when capped.
    stride = max(1, -(-len(passages) // max_passages))
    passages = passages[::stride][:max_passages]
    texts = [p.text for p in passages]
    qtexts = [q.text for q in queries]

    if model_dir is None:
        model_dir = build_embedding_model(workdir / "model")
    default_tag = EmbeddingConfig.load(model_dir).quantization
    variants: dict[str, Path] = {default_tag: model_dir}
    for settings in BASELINES + (SWEEP if sweep else []):
        if settings.tag not in variants:
            variants[settings.tag] = build_embedding_model(
                workdir / settings.tag, keep_fp32=False, quant=settings
            )

    fp32 = Embedder(model_dir, precision="fp32", threads=threads)
    ref_p = fp32.encode(texts, batch_size)
    ref_q = fp32.encode(qtexts, batch_size)
    ref_top = top_k(ref_q, ref_p)
    results: dict[str, Any] = {
        "data": {
            "dir": str(data_dir),
            "passages": len(passages),
            "queries": len(queries),
            "passage_words": PASSAGE_WORDS,
        },
        "machine": {
            "cpu_count": _cpu_count(),
            "threads": threads,
            "batch_size": batch_size,
            "python": platform.python_version(),
            "onnxruntime": _version("onnxruntime"),
            "note": "shared machine; throughput runs interleaved, medians reported",
        },
        "default": default_tag,
        "sizes_mb": {"fp32": round((model_dir / FP32_FILENAME).stat().st_size / 1e6, 1)},
        "gold_hit_rate_at_10": {"fp32": round(gold_hit_rate(ref_top, passages, queries), 4)},
        "fidelity": {},
    }
    encoders: dict[str, EncodeFn] = {}
    for name, directory in variants.items():
        emb = Embedder(directory, precision="int8", threads=threads)
        vec_p = emb.encode(texts, batch_size)
        vec_q = emb.encode(qtexts, batch_size)
        top = top_k(vec_q, vec_p)
        results["fidelity"][name] = {
            "passage_cosine_vs_fp32": cosine_summary(row_cosine(vec_p, ref_p)),
            "query_cosine_vs_fp32": cosine_summary(row_cosine(vec_q, ref_q)),
            f"top{TOP_K}_overlap_vs_fp32": round(topk_overlap(top, ref_top), 4),
        }
        results["gold_hit_rate_at_10"][name] = round(gold_hit_rate(top, passages, queries), 4)
        results["sizes_mb"][name] = round((directory / INT8_FILENAME).stat().st_size / 1e6, 1)
        if name in (default_tag, BASELINES[0].tag):
            encoders[f"onnx-{name}"] = _bound(emb, batch_size)
    encoders["onnx-fp32"] = _bound(fp32, batch_size)

    bench = texts[:: max(1, len(texts) // bench_passages)][:bench_passages]
    torch_fn: EncodeFn | None = None
    if with_torch:
        torch_fn, torch_note = torch_encoder(threads, batch_size, workdir)
    else:
        torch_note = "skipped: --no-torch"
    results["torch"] = {"status": torch_note}
    if torch_fn is not None:
        st_vec = torch_fn(bench)
        results["torch"]["fp32_onnx_cosine_vs_torch"] = cosine_summary(
            row_cosine(fp32.encode(bench, batch_size), st_vec)
        )
        int8 = Embedder(model_dir, threads=threads)
        results["torch"]["int8_onnx_cosine_vs_torch"] = cosine_summary(
            row_cosine(int8.encode(bench, batch_size), st_vec)
        )
        encoders["torch-fp32"] = torch_fn

    speed = throughput(encoders, bench, runs)
    base = "torch-fp32" if "torch-fp32" in speed else "onnx-fp32"
    for entry in speed.values():
        entry[f"x_vs_{base}"] = round(entry["chunks_per_s"] / speed[base]["chunks_per_s"], 2)
    results["throughput"] = {"texts": len(bench), "runs": runs, "baseline": base, **speed}
    return results


def _bound(emb: Embedder, batch_size: int) -> EncodeFn:
    def encode(texts: Sequence[str]) -> Vectors:
        return emb.encode(texts, batch_size)

    return encode


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1


def print_report(r: dict[str, Any]) -> None:
    """Human-readable summary of :func:`evaluate`'s result."""
    d, m = r["data"], r["machine"]
    print(f"data: {d['passages']} passages (~{d['passage_words']} words), {d['queries']} queries")
    print(
        f"machine: {m['cpu_count']} CPUs, {m['threads']} threads, batch {m['batch_size']}, "
        f"onnxruntime {m['onnxruntime']} ({m['note']})"
    )
    print(
        f"\nint8 fidelity vs fp32 ONNX (default: {r['default']}); cosine mean / p1 / min; "
        f"top-{TOP_K} overlap; gold-span hit rate@{TOP_K} (fp32: "
        f"{r['gold_hit_rate_at_10']['fp32']:.3f})"
    )
    for name, f in r["fidelity"].items():
        pc, qc = f["passage_cosine_vs_fp32"], f["query_cosine_vs_fp32"]
        print(
            f"  {name:<16} passages {pc['mean']:.4f} / {pc['p1']:.4f} / {pc['min']:.4f}  "
            f"queries {qc['mean']:.4f}  top{TOP_K} {f[f'top{TOP_K}_overlap_vs_fp32']:.3f}  "
            f"gold@{TOP_K} {r['gold_hit_rate_at_10'][name]:.3f}"
        )
    print("\nsentence-transformers (torch) agreement:", r["torch"]["status"])
    for key in ("fp32_onnx_cosine_vs_torch", "int8_onnx_cosine_vs_torch"):
        if key in r["torch"]:
            c = r["torch"][key]
            print(f"  {key}: mean {c['mean']:.6f}  min {c['min']:.6f}")
    t = r["throughput"]
    print(f"\nthroughput ({t['texts']} passages, median of {t['runs']}):")
    for name, v in t.items():
        if isinstance(v, dict):
            print(
                f"  {name:<28} {v['chunks_per_s']:8.1f} chunks/s  "
                f"x{v['x_vs_' + t['baseline']]:.2f} vs {t['baseline']}  runs {v['runs_s']}"
            )
    print("\nsizes (MB):", ", ".join(f"{k} {v}" for k, v in r["sizes_mb"].items()))


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: Command-line arguments (``sys.argv[1:]`` when ``None``).

    Returns:
        Process exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="QMSum folder")
    parser.add_argument("--model-dir", type=Path, help="built model dir (default: build anew)")
    parser.add_argument("--max-passages", type=int, default=5000)
    parser.add_argument("--bench-passages", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sweep", action="store_true", help="also measure other int8 settings")
    parser.add_argument("--no-torch", action="store_true", help="skip sentence-transformers")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="mm-embed-eval-") as tmp:
        results = evaluate(
            args.data,
            model_dir=args.model_dir,
            max_passages=args.max_passages,
            bench_passages=args.bench_passages,
            batch_size=args.batch_size,
            threads=args.threads,
            runs=args.runs,
            sweep=args.sweep,
            with_torch=not args.no_torch,
            workdir=Path(tmp),
        )
    if args.json:
        print(json.dumps(results))
    else:
        print_report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
