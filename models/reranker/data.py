"""Training and evaluation data of the ranker: spoken_squad, split by article.

Even article index: training (``train``); odd: held back for reporting (``held_back``), the
same split as ``bench.answers``. A sentence is a positive when it contains a gold answer.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.search import Question, load_spoken_squad, retrieval_dir
from core.answer import AnswerSettings
from core.answer._evidence import candidate_passages
from core.answer._rank import unit_features
from core.search import Searcher, default_encoder
from core.store import Library

HEURISTIC = AnswerSettings(ranker="heuristic")
SQUAD_FILE = Path("spoken_squad") / "spoken_test-v1.1.json"


def squad_questions(split: str, seed: int = 0) -> list[Question]:
    """The questions of one half (``train`` or ``held_back``), shuffled with ``seed``."""
    data = json.loads((retrieval_dir() / SQUAD_FILE).read_text())
    out = []
    for a, article in enumerate(data["data"]):
        if (a % 2 == 1) != (split == "held_back"):
            continue
        for p, para in enumerate(article["paragraphs"]):
            key = f"transcript:spoken_squad/{a}/{p}"
            for qa in para["qas"]:
                answers = tuple({x["text"].lower() for x in qa["answers"]})
                out.append(Question(qa["question"], key, answers=answers))
    random.Random(seed).shuffle(out)
    return out


def open_library(work: Path) -> Library:
    """The spoken_squad library (every paragraph), imported once into ``work/squad``."""
    lib = Library(work / "squad")
    if not lib.items():
        load_spoken_squad(lib, retrieval_dir(), 1)
    return lib


@dataclass
class Features:
    """Feature rows of candidate sentences, their labels and question groups."""

    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.float32]
    group: npt.NDArray[np.int32]
    heuristic: npt.NDArray[np.float32]


def featurize(lib: Library, questions: list[Question], k: int = 8, limit: int = 0) -> Features:
    """Candidate sentences of each question's retrieved passages, as the pipeline builds them.

    Questions whose paragraph is not in ``lib`` are skipped (a partly imported library).
    """
    searcher = Searcher(lib, default_encoder)
    present = {i.path for i in lib.items()}
    xs, ys, gs, hs = [], [], [], []
    usable = [q for q in questions if q.media_key in present]
    for i, q in enumerate(usable[:limit] if limit else usable):
        results = searcher.search(q.text, k=k)
        passages = candidate_passages(lib, searcher, HEURISTIC, question=q.text, results=results)
        units = [u for p in passages for u in p.units]
        if not units:
            continue
        xs.append(unit_features(q.text, units, searcher))
        ys.append([float(any(g in u.text.lower() for g in q.answers)) for u in units])
        gs.append([i] * len(units))
        hs.append([u.score for u in units])
    return Features(
        np.concatenate(xs).astype(np.float32),
        np.concatenate([np.asarray(y, dtype=np.float32) for y in ys]),
        np.concatenate([np.asarray(g, dtype=np.int32) for g in gs]),
        np.concatenate([np.asarray(h, dtype=np.float32) for h in hs]),
    )


def save(features: Features, path: Path) -> None:
    """Write features to an ``.npz``."""
    np.savez(path, x=features.x, y=features.y, group=features.group, heuristic=features.heuristic)


def load(path: Path) -> Features:
    """Read features written by :func:`save`."""
    d = np.load(path)
    return Features(d["x"], d["y"], d["group"], d["heuristic"])


def top1(scores: npt.NDArray[np.float32], features: Features) -> float:
    """Share of questions (with a positive candidate) whose best-scored sentence is positive."""
    hits = total = 0
    for g in np.unique(features.group):
        m = features.group == g
        if not features.y[m].any():
            continue
        total += 1
        hits += bool(features.y[m][int(np.argmax(scores[m]))])
    return hits / total if total else 0.0
