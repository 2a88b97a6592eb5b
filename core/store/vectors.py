"""Writing chunk vectors: the float index and its quantized companions, kept in step.

The tables are created by the migrations in :mod:`core.store.db`; the library (when it stores a
transcript's chunks) and search (when it indexes chunks that have none) both write through
:func:`write_vectors`, so this sits below both of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from core.store.db import Database


def write_vectors(db: Database, rows: Iterable[tuple[int, Any, int, str, str | None]]) -> int:
    """Store chunk vectors in the float index and in its quantized companions, atomically.

    Every writer of chunk vectors goes through here, so ``chunk_vec``, ``chunk_vec_bits`` and
    ``chunk_vec_int8`` always hold the same chunks (deletes are kept in step by triggers).

    Args:
        db: The library database.
        rows: ``(chunk_id, vector, media_id, kind, added_at)``; vectors are unit float32.

    Returns:
        The number of vectors written.
    """
    blobs = [
        (cid, np.asarray(vec, dtype=np.float32).tobytes(), mid, kind, added)
        for cid, vec, mid, kind, added in rows
    ]
    if not blobs:
        return 0
    with db.atomic():
        db.executemany(
            "INSERT INTO chunk_vec (chunk_id, embedding, media_id, kind, added_at) "
            "VALUES (?, ?, ?, ?, ?)",
            blobs,
        )
        db.executemany(
            "INSERT INTO chunk_vec_bits (chunk_id, media_id, bits) "
            "VALUES (?, ?, vec_quantize_binary(?))",
            [(cid, mid, blob) for cid, blob, mid, _, _ in blobs],
        )
        db.executemany(
            "INSERT INTO chunk_vec_int8 (chunk_id, vector) "
            "VALUES (?, vec_quantize_int8(?, 'unit'))",
            [(cid, blob) for cid, blob, _, _, _ in blobs],
        )
    return len(blobs)
