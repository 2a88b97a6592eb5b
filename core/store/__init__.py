"""The library on disk.

The SQLite database and its migrations, backups, items, transcripts, chunks and their vectors.

The names below are the package's public API; its modules are private to it. A
submodule is imported when one of its names is first used (PEP 562), so importing
one part of the package does not load the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.lazy import lazy_exports

if TYPE_CHECKING:
    from core.store.backup import check_file as check_file
    from core.store.backup import find_backup as find_backup
    from core.store.backup import list_backups as list_backups
    from core.store.backup import restore_backup as restore_backup
    from core.store.backup import take_backup as take_backup
    from core.store.db import Database as Database
    from core.store.db import library_error as library_error
    from core.store.db import utcnow as utcnow
    from core.store.library import Chunk as Chunk
    from core.store.library import ItemMetadata as ItemMetadata
    from core.store.library import Library as Library
    from core.store.library import MediaItem as MediaItem
    from core.store.vectors import write_vectors as write_vectors

_EXPORTS = {
    "Chunk": "core.store.library",
    "Database": "core.store.db",
    "ItemMetadata": "core.store.library",
    "Library": "core.store.library",
    "MediaItem": "core.store.library",
    "check_file": "core.store.backup",
    "find_backup": "core.store.backup",
    "library_error": "core.store.db",
    "list_backups": "core.store.backup",
    "restore_backup": "core.store.backup",
    "take_backup": "core.store.backup",
    "utcnow": "core.store.db",
    "write_vectors": "core.store.vectors",
}
__all__ = [
    "Chunk",
    "Database",
    "ItemMetadata",
    "Library",
    "MediaItem",
    "check_file",
    "find_backup",
    "library_error",
    "list_backups",
    "restore_backup",
    "take_backup",
    "utcnow",
    "write_vectors",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)
