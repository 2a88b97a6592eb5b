"""The events and results of an answer: citations, sentence checks, timings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from core.transcript import format_timestamp

if TYPE_CHECKING:
    from core.store import Chunk


@dataclass(frozen=True)
class Citation:
    """A cited moment: the chunk's item, title and time span, and the supporting quote.

    Attributes:
        media_id: The library item.
        title: The item's title.
        start: Start of the cited chunk, seconds.
        end: End of the cited chunk, seconds.
        quote: The sentence of the chunk that supports the answer (or the passage text, in a
            :class:`Sources` event).
        label: Its marker in the answer text, e.g. ``S1``: one per cited moment, so two
            moments of one passage get two labels (in a :class:`Sources` event: the passage id).
        chunk_id: The cited chunk.
    """

    media_id: int
    title: str
    start: float
    end: float
    quote: str
    label: str = ""
    chunk_id: int = 0

    @property
    def display(self) -> str:
        """``[Town Hall Q4 @ 14:32]``."""
        return f"[{self.title} @ {format_timestamp(self.start)}]"

    def to_json(self) -> dict[str, Any]:
        """The citation fields of ``mediamind ask --json``."""
        return {
            "media_id": self.media_id,
            "title": self.title,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "quote": self.quote,
            "label": self.label,
            "chunk_id": self.chunk_id,
        }


@dataclass(frozen=True)
class SentenceCheck:
    """One sentence of a generated answer and how well its cited passages support it.

    Attributes:
        text: The sentence without its citation markers.
        labels: What it cites: for a kept sentence the labels of its citations, for a dropped
            one the passage ids the model gave.
        lexical: Share of its content words found in the cited passages.
        cosine: Best MiniLM cosine between it and a sentence of a cited passage.
        support: ``(lexical + cosine) / 2``.
        supported: Whether it passed both thresholds (unsupported sentences are dropped).
        reason: Why it was dropped, if it was.
    """

    text: str
    labels: tuple[str, ...]
    lexical: float
    cosine: float
    support: float
    supported: bool
    reason: str = ""


@dataclass(frozen=True)
class Timings:
    """Where the time of one answer went.

    Attributes:
        retrieve_ms: Search, neighbour widening and the relevance check.
        rank_ms: The part of ``retrieve_ms`` spent scoring passage sentences (MiniLM of each
            sentence, then the evidence ranker's features and model).
        prompt_tokens: Tokens of the prompt (0 when the model did not run).
        evaluated_tokens: Prompt tokens actually evaluated (the cached prefix is not).
        ttft_ms: From the call to the first token event.
        generate_ms: Time in the model.
        total_ms: From the call to the final answer.
        cached: The answer came from the answer cache.
    """

    retrieve_ms: float = 0.0
    prompt_tokens: int = 0
    evaluated_tokens: int = 0
    ttft_ms: float = 0.0
    generate_ms: float = 0.0
    total_ms: float = 0.0
    cached: bool = False
    rank_ms: float = 0.0


@dataclass(frozen=True)
class Answer:
    """The final event of :meth:`Answerer.ask`.

    Attributes:
        question: As asked.
        answer: The text, with inline citation markers like ``[S1]``.
        refused: True when the library holds nothing relevant; ``closest`` lists the nearest.
        citations: Every cited moment, in order of first mention.
        sentences: The generated sentences with their support scores (dropped ones included).
        timings: Where the time went.
        mode: ``generated``, ``extractive`` (quotes; the model's sentences were unsupported)
            or ``refused``.
        closest: For a refusal, the closest items found.
        model: The model file that wrote it.
    """

    question: str
    answer: str
    refused: bool
    citations: list[Citation]
    sentences: list[SentenceCheck]
    timings: Timings
    mode: str
    closest: list[Citation] = field(default_factory=list)
    model: str = ""

    def to_json(self) -> dict[str, Any]:
        """The fields of ``mediamind ask --json``."""
        return {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "mode": self.mode,
            "citations": [c.to_json() for c in self.citations],
            "closest": [c.to_json() for c in self.closest],
            "sentences": [asdict(s) for s in self.sentences],
            "timings": asdict(self.timings),
            "model": self.model,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Answer:
        """Rebuild an answer stored by :meth:`to_json`."""
        return cls(
            question=data["question"],
            answer=data["answer"],
            refused=bool(data["refused"]),
            citations=[Citation(**c) for c in data["citations"]],
            sentences=[
                SentenceCheck(**{**s, "labels": tuple(s["labels"])}) for s in data["sentences"]
            ],
            timings=Timings(**data["timings"]),
            mode=data["mode"],
            closest=[Citation(**c) for c in data.get("closest", [])],
            model=data.get("model", ""),
        )


@dataclass(frozen=True)
class Sources:
    """First event of an answer that uses the model: the passages it reads, by label."""

    passages: list[Citation]


@dataclass(frozen=True)
class Token:
    """A piece of generated text, as the model writes it (before verification)."""

    text: str


AskEvent = Sources | Token | Answer


@dataclass(frozen=True)
class Relevance:
    """Whether retrieval found material that can answer the question (see ``relevance``)."""

    cosine: float
    coverage: float
    missing: tuple[str, ...]
    answerable: bool
    names_missing: tuple[str, ...] = ()


@dataclass
class _Unit:
    """A sentence of a passage, with the chunk it belongs to and its own time span."""

    chunk: Chunk
    text: str
    core: bool
    start: float = 0.0
    end: float = 0.0
    score: float = 0.0
    question_cosine: float = 0.0
    tokens: int = 0
    selected: bool = False

    def citation(self, media_id: int, title: str, label: str, quote: str = "") -> Citation:
        """A citation of this sentence: its own start and end, its text as the quote."""
        return Citation(
            media_id, title, self.start, self.end, quote or self.text, label, self.chunk.id
        )
