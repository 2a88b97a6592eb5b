"""The learned evidence ranker: which passage sentence answers the question.

Sentence features (:func:`unit_features`) are scored by a logistic model trained in
``models/reranker`` (``python -m models.reranker.train|export|evaluate``) on one half of
spoken_squad (split by article) and exported to ONNX. Core runs it with onnxruntime only, on
one thread; the file is located and checked (sha256) through :mod:`core.registry`.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from core.answer._facts import names, numbers
from core.answer._text import _GENERIC, _STOPWORDS, _WORD, content_stems, sounds_like, stem

if TYPE_CHECKING:
    from core.answer._types import _Unit
    from core.search import Searcher

FEATURES = (
    "question_cosine",
    "cosine_below_best",
    "overlap",
    "overlap_below_best",
    "idf_overlap",
    "in_retrieved_chunk",
    "short",
    "log_words",
    "answer_type_match",
    "typed_question",
    "new_content_share",
    "question_names_heard",
)
_SHORT_WORDS = 4
_MONTHS = frozenset(
    re.findall(
        r"\w+",
        "january february march april may june july august september october november december",
    )
)
_NUMBER_QUESTION = re.compile(
    r"\b(how (many|much|long|old|far|big|large|often)|what (year|percent\w*|number|date|age)|"
    r"when|which year|in what year)\b",
    re.I,
)
_NAME_QUESTION = re.compile(r"\b(who|whom|whose|where|which (city|country|company|person))\b", re.I)


def _answer_type(question: str) -> str:
    if _NUMBER_QUESTION.search(question):
        return "number"
    if _NAME_QUESTION.search(question):
        return "name"
    return ""


def _has_type(text: str, kind: str) -> bool:
    if kind == "number":
        return bool(numbers(text)) or any(w in _MONTHS for w in _WORD.findall(text.lower()))
    if kind == "name":
        return bool(names(text))
    return False


def unit_features(
    question: str, units: Sequence[_Unit], searcher: Searcher
) -> npt.NDArray[np.float32]:
    """One row of :data:`FEATURES` per unit (``question_cosine`` must be set on the units)."""
    q = content_stems(question, generic=False) or content_stems(question)
    q_words = [
        w
        for w in dict.fromkeys(_WORD.findall(question.lower()))
        if w not in _STOPWORDS and w not in _GENERIC and len(w) >= 3
    ]
    n = max(1, searcher.library.db.scalar("SELECT count(*) FROM chunks") or 1)
    idf = {w: math.log((n + 1) / (searcher.doc_freq(w) + 1)) + 1.0 for w in q_words}
    idf_total = sum(idf.values()) or 1.0
    kind = _answer_type(question)
    q_names = [w for w in names(question) if w not in _STOPWORDS]
    q_stems = set(q)
    rows: list[list[float]] = []
    for u in units:
        words = _WORD.findall(u.text.lower())
        have = {stem(w) for w in words}
        stems = content_stems(u.text)
        overlap = sum(s in have for s in q) / len(q) if q else 0.0
        idf_overlap = sum(v for w, v in idf.items() if stem(w) in have) / idf_total
        new = sum(s not in q_stems for s in stems) / len(stems) if stems else 0.0
        word_set = set(words)
        heard = (
            sum(w in word_set or any(sounds_like(w, x) for x in word_set) for w in q_names)
            / len(q_names)
            if q_names
            else 1.0
        )
        rows.append(
            [
                u.question_cosine,
                0.0,
                overlap,
                0.0,
                idf_overlap,
                1.0 if u.core else 0.0,
                1.0 if len(words) < _SHORT_WORDS else 0.0,
                math.log1p(len(words)),
                1.0 if kind and _has_type(u.text, kind) else 0.0,
                1.0 if kind else 0.0,
                new,
                heard,
            ]
        )
    x = np.asarray(rows, dtype=np.float32).reshape(len(rows), len(FEATURES))
    if rows:
        x[:, 1] = x[:, 0] - x[:, 0].max()
        x[:, 3] = x[:, 2] - x[:, 2].max()
    return x


class Ranker:
    """The exported ranker graph: features in, probability that a sentence answers out."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # a few dozen rows: threads cost more than they save
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def score(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Probabilities, one per row."""
        if not len(features):
            return np.zeros(0, dtype=np.float32)
        out: Any = self.session.run(None, {self.input: features.astype(np.float32)})[0]
        return np.asarray(out, dtype=np.float32).reshape(-1)


_LOCK = threading.Lock()
_LOADED: dict[str, Ranker] = {}


def default_ranker() -> Ranker:
    """The shipped ranker, loaded once per process (checked against its registry sha256)."""
    with _LOCK:
        if "default" not in _LOADED:
            from core.registry import answer_ranker_file

            _LOADED["default"] = Ranker(answer_ranker_file())
        return _LOADED["default"]
