"""From a file to a stored transcript.

Probing and decoding media, language routing, transcription and translation, subtitle
import, and the ingest pipeline.

The names below are the package's public API; its modules are private to it. A
submodule is imported when one of its names is first used (PEP 562), so importing
one part of the package does not load the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.lazy import lazy_exports

if TYPE_CHECKING:
    from core.ingest.language import check_language as check_language
    from core.ingest.media import decode_audio as decode_audio
    from core.ingest.media import video_frame as video_frame
    from core.ingest.pipeline import IngestOptions as IngestOptions
    from core.ingest.pipeline import discover as discover
    from core.ingest.pipeline import ingest as ingest
    from core.ingest.pipeline import prune as prune
    from core.ingest.translation import stored_translation as stored_translation

_EXPORTS = {
    "IngestOptions": "core.ingest.pipeline",
    "check_language": "core.ingest.language",
    "decode_audio": "core.ingest.media",
    "discover": "core.ingest.pipeline",
    "ingest": "core.ingest.pipeline",
    "prune": "core.ingest.pipeline",
    "stored_translation": "core.ingest.translation",
    "video_frame": "core.ingest.media",
}
__all__ = [
    "IngestOptions",
    "check_language",
    "decode_audio",
    "discover",
    "ingest",
    "prune",
    "stored_translation",
    "video_frame",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)
