"""English translations of non-English transcripts, stored beside them and used by search.

``mediamind ingest --translate`` runs Whisper's translate task (multilingual model, each
window in its own language) over a non-English item and stores the timed English text in
``translations``. The item's chunk vectors are then embedded from the English translation of
each chunk's time span followed by the original text: the search model (all-MiniLM-L6-v2) is
trained on English, so an English question finds a German recording through its vector,
while the original words stay in the full-text index for a query in the recording's language.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from core.ingest.transcribe import (
    Transcriber,
    _WindowDecoder,
    load_whisper,
    speech_windows,
    words_to_segments,
)
from core.store import Library
from core.transcript import Segment


def translate(
    transcriber: Transcriber, audio: npt.NDArray[np.float32], language: str
) -> list[Segment]:
    """English segments of ``audio`` (speech in ``language``, the fallback per window)."""
    t = transcriber
    decoder = _WindowDecoder(load_whisper(t.model_dir, t.threads, t.compute_type), t.options)
    windows = speech_windows(audio, t.options.max_window, t.options.pause)
    segments: list[Segment] = []
    for i in range(0, len(windows), t.options.batch_size):
        texts = decoder.decode_windows(
            audio,
            windows[i : i + t.options.batch_size],
            language,
            per_window=True,
            task="translate",
        )
        segments.extend(words_to_segments([w for x in texts for w in x.words]))
    return segments


def store_translation(
    library: Library,
    item_id: int,
    segments: Sequence[Segment],
    model_id: str,
    embed: Callable[[list[str]], Any] | None,
) -> None:
    """Replace an item's translation and re-embed its chunks from it, in one transaction."""
    from core.store import write_vectors

    chunks = library.chunks(item_id)
    texts = [
        (" ".join(s.text for s in segments if s.end > c.start and s.start < c.end) + "\n" + c.text)
        for c in chunks
    ]
    vectors = embed(texts) if embed is not None and chunks else None
    item = library.get_item(item_id)
    db = library.db
    with db.atomic():
        db.execute("DELETE FROM translations WHERE media_id=?", (item_id,))
        db.executemany(
            "INSERT INTO translations (media_id, idx, start, end, text, model_id) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(item_id, i, s.start, s.end, s.text, model_id) for i, s in enumerate(segments)],
        )
        if vectors is not None:
            ids = [c.id for c in chunks]
            marks = ",".join("?" * len(ids))
            for table in ("chunk_vec", "chunk_vec_bits", "chunk_vec_int8"):
                db.execute(f"DELETE FROM {table} WHERE chunk_id IN ({marks})", ids)
            write_vectors(
                db,
                [
                    (c.id, v, item_id, item.kind, item.added_at)
                    for c, v in zip(chunks, vectors, strict=True)
                ],
            )
        library._bump_content_version()


def stored_translation(library: Library, item_id: int) -> list[Segment]:
    """An item's stored English translation (empty when it has none)."""
    rows = library.db.query(
        "SELECT start, end, text FROM translations WHERE media_id=? ORDER BY idx", (item_id,)
    )
    return [Segment(r["start"], r["end"], r["text"]) for r in rows]
