"""Embedding classifiers over the fixed taxonomy, and the head trained on human reviews.

Zero-shot: every label has several descriptions (``taxonomy``), embedded once with the same
MiniLM model that indexes the chunks. A text's score for a label is its best cosine similarity
to one of the label's descriptions; a softmax with a temperature fitted on data turns the
scores into probabilities (``TOPIC_CALIBRATION``).

After reviews: :class:`ReviewHead` is a multinomial logistic regression on item embeddings
whose logits are *added* to the zero-shot logits (numpy only). With no reviews it is zero; with
a few it corrects the labels the reviewer fixed, and L2 regularisation keeps it from drifting
far from the zero-shot prior on the labels it has not seen.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.search import TextEncoder
from core.taxonomy import MOOD_DESCRIPTIONS, TOPIC_DESCRIPTIONS

log = logging.getLogger(__name__)

Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Calibration:
    """Softmax settings fitted on data (``python -m bench.annotation --fit``).

    Attributes:
        temperature: Divides the cosine scores before the softmax.
        llm_weight: Logit added per unit of the language model's vote share for a label.
    """

    temperature: float
    llm_weight: float


# Fitted by bench/annotation.py on the BBC dev split (docs/annotation.md): the temperature
# minimises the negative log-likelihood of the gold topic on the dev articles only.
TOPIC_CALIBRATION = Calibration(temperature=0.04, llm_weight=0.5)
# The language model's mood vote is off: SmolLM2-135M mostly repeats its prompt example's
# "upbeat" (the demo library was nearly all upbeat), and no measurement shows it adds anything.
MOOD_CALIBRATION = Calibration(temperature=0.05, llm_weight=0.0)


class LabelSpace:
    """The labels of one vocabulary with their embedded descriptions.

    A label's score is its best description cosine minus the label's *bias*: how close its
    descriptions come to texts about the *other* labels (the mean of its best cosine over the
    other labels' descriptions). A label whose descriptions are near everything (True Crime
    near any news story, "upbeat" near any lively text) would otherwise win on texts about
    something else. The bias comes from the vocabulary alone, so it does not depend on the
    corpus the temperature was fitted on.
    """

    def __init__(
        self,
        descriptions: Mapping[str, Sequence[str]],
        encoder: TextEncoder,
        *,
        centered: bool = True,
        reference: Sequence[str] | None = None,
    ) -> None:
        """Embed every description of every label (once per process, see :func:`label_space`).

        Args:
            descriptions: Label -> its descriptions.
            encoder: The MiniLM encoder (must be the one that embedded the chunks).
            centered: Subtract each label's bias (off: the plain best cosine).
            reference: Texts that are about none of the labels in particular; a label's bias
                is then its mean score over them instead of over the other labels'
                descriptions (moods use the topic descriptions: plain statements of subject
                matter, which no mood should win).
        """
        self.labels: tuple[str, ...] = tuple(descriptions)
        texts: list[str] = []
        owner: list[int] = []
        for i, label in enumerate(self.labels):
            for d in descriptions[label]:
                texts.append(d)
                owner.append(i)
        self.vectors: Matrix = encoder.encode(texts)
        self.owner = np.asarray(owner, dtype=np.intp)
        self.model_id = encoder.model_id
        self.bias: Matrix = np.zeros(len(self.labels), dtype=np.float32)
        if centered and reference:
            self.bias = self.raw_scores(encoder.encode(list(reference))).mean(axis=0)
        elif centered and len(self.labels) > 1:
            own = self.raw_scores(self.vectors)
            for j in range(len(self.labels)):
                self.bias[j] = own[self.owner != j, j].mean()

    def raw_scores(self, vectors: Matrix) -> Matrix:
        """Per row of ``vectors`` (unit), the best description cosine of each label."""
        sims = np.atleast_2d(vectors) @ self.vectors.T  # [n, descriptions]
        out = np.full((sims.shape[0], len(self.labels)), -1.0, dtype=np.float32)
        for j in range(len(self.labels)):
            out[:, j] = sims[:, self.owner == j].max(axis=1)
        return out

    def scores(self, vectors: Matrix) -> Matrix:
        """Per row of ``vectors`` (unit), each label's best description cosine minus its bias."""
        out: Matrix = self.raw_scores(vectors) - self.bias
        return out


_spaces: dict[tuple[str, str], LabelSpace] = {}
_spaces_lock = threading.Lock()


def label_space(kind: str, encoder: TextEncoder) -> LabelSpace:
    """The process-wide label space ``topic`` or ``mood`` for ``encoder``."""
    key = (kind, encoder.model_id)
    with _spaces_lock:
        space = _spaces.get(key)
        if space is None:
            # Centring helps moods (one mood was near everything) but not topics: on the dev
            # data (BBC dev, half of Spoken-SQuAD's articles) it cost 2-4 points of macro-F1.
            if kind == "topic":
                space = LabelSpace(TOPIC_DESCRIPTIONS, encoder, centered=False)
            else:
                space = LabelSpace(MOOD_DESCRIPTIONS, encoder, centered=True)
            _spaces[key] = space
        return space


def softmax(logits: npt.NDArray[np.floating], axis: int = -1) -> Matrix:
    """Numerically stable softmax."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    out: Matrix = (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)
    return out


def unit(vector: npt.NDArray[np.floating]) -> Matrix:
    """``vector`` scaled to length 1 (a zero vector stays zero)."""
    v = np.asarray(vector, dtype=np.float32)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


@dataclass
class ReviewHead:
    """Multinomial logistic regression on item embeddings, added to the zero-shot logits.

    Attributes:
        labels: The label order of the logits (the full vocabulary).
        weights: ``[dim, labels]``.
        bias: ``[labels]``.
        n_examples: Reviewed labels it was trained on (recorded in the tag's model id).
    """

    labels: tuple[str, ...]
    weights: Matrix
    bias: Matrix
    n_examples: int

    def logits(self, vectors: Matrix) -> Matrix:
        """The additive correction for each row of ``vectors``."""
        out: Matrix = np.atleast_2d(vectors) @ self.weights + self.bias
        return out

    @classmethod
    def train(
        cls,
        labels: Sequence[str],
        vectors: Matrix,
        targets: Sequence[Sequence[str]],
        prior_logits: Matrix,
        *,
        l2: float = 0.0001,
        steps: int = 1000,
        lr: float = 6.0,
    ) -> ReviewHead | None:
        """Fit the head by full-batch gradient descent on the softmax cross-entropy.

        Args:
            labels: The vocabulary (column order of ``prior_logits``).
            vectors: ``[n, dim]`` unit item embeddings of the reviewed items.
            targets: Per item, its gold labels (several share the target mass evenly).
            prior_logits: ``[n, labels]`` zero-shot logits of the same items (fixed offsets).
            l2: Weight decay; pulls the correction back to zero where data is thin.
            steps: Gradient steps.
            lr: Step size.

        Returns:
            The head, or ``None`` when there is nothing to learn from (no labelled item).
        """
        index = {label: i for i, label in enumerate(labels)}
        rows = [i for i, t in enumerate(targets) if any(x in index for x in t)]
        if not rows:
            return None
        x = np.asarray(vectors, dtype=np.float64)[rows]
        prior = np.asarray(prior_logits, dtype=np.float64)[rows]
        y = np.zeros((len(rows), len(labels)))
        for r, i in enumerate(rows):
            gold = [index[t] for t in targets[i] if t in index]
            y[r, gold] = 1.0 / len(gold)
        w = np.zeros((x.shape[1], len(labels)))
        b = np.zeros(len(labels))
        n = len(rows)
        for _ in range(steps):
            z = prior + x @ w + b
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            g = (p - y) / n
            w -= lr * (x.T @ g + l2 * w)
            b -= lr * (g.sum(axis=0) + l2 * b)
        return cls(tuple(labels), w.astype(np.float32), b.astype(np.float32), n)


@dataclass(frozen=True)
class TopicScores:
    """What the topic classifier saw for one item, before thresholds.

    Attributes:
        labels: The taxonomy.
        probabilities: Calibrated combined probability per label.
        embedding: Probability per label from the embeddings alone.
        llm_votes: Share of the language model's windows that chose each label.
        chunk_best: Per chunk, the index of its best label (for supporting chunk ids).
        chunk_scores: ``[chunks, labels]`` description cosines per chunk.
    """

    labels: tuple[str, ...]
    probabilities: Matrix
    embedding: Matrix
    llm_votes: Matrix
    chunk_best: npt.NDArray[np.intp]
    chunk_scores: Matrix


def score_topics(
    space: LabelSpace,
    item_vector: Matrix,
    chunk_vectors: Matrix,
    llm_votes: Matrix | None = None,
    *,
    head: ReviewHead | None = None,
    calibration: Calibration = TOPIC_CALIBRATION,
) -> TopicScores:
    """Combine the zero-shot embedding scores, the LLM's votes and the review head.

    Args:
        space: The topic label space.
        item_vector: The item's unit embedding (mean of its chunk vectors, renormalised).
        chunk_vectors: ``[chunks, dim]`` unit chunk vectors.
        llm_votes: Share of LLM windows per label (sums to 1), or ``None`` without the LLM.
        head: Review-trained correction, if any.
        calibration: Temperature and LLM weight.
    """
    base = space.scores(item_vector)[0] / calibration.temperature
    votes = (
        np.zeros(len(space.labels), dtype=np.float32) if llm_votes is None else llm_votes
    ).astype(np.float32)
    logits = base + calibration.llm_weight * votes
    if head is not None:
        logits = logits + head.logits(item_vector)[0]
    chunk_scores = (
        space.scores(chunk_vectors)
        if len(chunk_vectors)
        else np.zeros((0, len(space.labels)), np.float32)
    )
    return TopicScores(
        labels=space.labels,
        probabilities=softmax(logits),
        embedding=softmax(base),
        llm_votes=votes,
        chunk_best=np.argmax(chunk_scores, axis=1) if len(chunk_scores) else np.zeros(0, np.intp),
        chunk_scores=chunk_scores,
    )


def supporting_chunks(
    scores: TopicScores, label_index: int, chunk_ids: Sequence[int], limit: int = 5
) -> list[int]:
    """Chunk ids that support a label: those whose best label it is, else its best chunks."""
    if not len(chunk_ids):
        return []
    col = scores.chunk_scores[:, label_index]
    mine = [i for i in np.argsort(-col) if scores.chunk_best[i] == label_index]
    picked = mine[:limit] or list(np.argsort(-col)[: min(2, len(chunk_ids))])
    return sorted(int(chunk_ids[i]) for i in picked)
