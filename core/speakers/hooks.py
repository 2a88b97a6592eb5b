"""What ingest calls to diarize an item and record its voices.

Kept out of ``core.ingest.pipeline`` so that the pipeline only hooks it in.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from core.transcript import Segment

if TYPE_CHECKING:
    from core.speakers.diarize import Diarization
    from core.store import Library

# Share of an item's progress bar given to diarization (it costs about a tenth of transcription).
PROGRESS_SHARE = 0.05


def diarize_steps(
    audio: npt.NDArray[np.float32], threads: int
) -> Generator[float, None, Diarization]:
    """Diarize ``audio`` with the shipped encoder, yielding the share done."""
    from core.speakers.diarize import diarize_steps as steps
    from core.speakers.encoder import SpeakerEncoder

    return steps(audio, SpeakerEncoder(threads=threads))


def label(segments: Sequence[Segment], diarization: Diarization | None) -> list[Segment]:
    """Segments with speakers (split where the speaker changes), or as they are."""
    if diarization is None or not diarization.turns:
        return list(segments)
    from core.speakers.diarize import assign_speakers

    return assign_speakers(segments, diarization)


def on_complete(
    library: Library, item_id: int, diarization: Diarization | None
) -> Callable[[], None] | None:
    """The write that records the item's voices in the transaction that completes it."""
    if diarization is None:
        return None
    from core.speakers.profiles import remove_orphans, store_item_speakers

    def write() -> None:
        if diarization.speakers:
            store_item_speakers(library.db, item_id, diarization.speakers)
        else:  # no speech: drop what an earlier version of the file had
            library.db.execute("DELETE FROM item_speakers WHERE media_id=?", (item_id,))
            remove_orphans(library.db)

    return write


def reused(library: Library, digest: str, item_id: int) -> Callable[[], None] | None:
    """For a transcript reused from an identical file: copy that file's voices too."""
    from core.speakers.profiles import copy_item_speakers

    row = library.db.query_one(
        "SELECT m.id FROM media_items m WHERE m.sha256=? AND m.id != ? AND m.status='ready' "
        "AND EXISTS (SELECT 1 FROM item_speakers s WHERE s.media_id = m.id) ORDER BY m.id",
        (digest, item_id),
    )
    if row is None:
        return None
    source = int(row["id"])
    return lambda: copy_item_speakers(library.db, source, item_id)
