"""The answer cache: finished answers by question, options, model and library version.

Kept in an in-memory LRU and in the library database (table ``answer_cache``); rows of an
older library content version never match and are purged on the next write.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from typing import Any

from core.answer._settings import PIPELINE_VERSION, SYSTEM_PROMPT
from core.answer._text import normalise_question
from core.answer._types import Answer
from core.search import LRUCache, SearchFilters
from core.store import Library, utcnow

log = logging.getLogger(__name__)

_DB_CACHE_ROWS = 2000
_MEMORY_CACHE_ANSWERS = 256


class AnswerCache:
    """Answers of one library, in memory and in its database."""

    def __init__(self, library: Library, *, enabled: bool = True) -> None:
        self.library = library
        self.enabled = enabled
        self.memory: LRUCache = LRUCache(_MEMORY_CACHE_ANSWERS)

    @staticmethod
    def key(
        question: str,
        k: int,
        filters: SearchFilters,
        *,
        model_id: str,
        settings: Any,
        version: int,
    ) -> str:
        """The cache key: sha256 over everything that changes an answer."""
        raw = json.dumps(
            [
                normalise_question(question),
                k,
                asdict(filters),
                model_id,
                repr(settings),
                SYSTEM_PROMPT,
                PIPELINE_VERSION,
                version,
            ],
            sort_keys=True,
        )
        return hashlib.sha256(raw.encode()).hexdigest()

    def get(self, key: str, version: int) -> Answer | None:
        """The cached answer, or ``None``."""
        hit: Answer | None = self.memory.get(key)
        if hit is not None:
            return hit
        row = self.library.db.query_one(
            "SELECT answer FROM answer_cache WHERE key = ? AND content_version = ?",
            (key, version),
        )
        if row is None:
            return None
        try:
            answer = Answer.from_json(json.loads(row["answer"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.debug("ignoring an unreadable cached answer: %s", exc)
            return None
        self.memory.put(key, answer)
        return answer

    def put(self, key: str, version: int, answer: Answer) -> None:
        """Store an answer (nothing when the cache is off)."""
        if not self.enabled:
            return
        self.memory.put(key, answer)
        db = self.library.db
        with db.atomic():
            db.execute("DELETE FROM answer_cache WHERE content_version <> ?", (version,))
            db.execute(
                "INSERT OR REPLACE INTO answer_cache (key, content_version, question, answer, "
                "created_at) VALUES (?, ?, ?, ?, ?)",
                (key, version, answer.question, json.dumps(answer.to_json()), utcnow()),
            )
            db.execute(
                "DELETE FROM answer_cache WHERE key IN (SELECT key FROM answer_cache "
                "ORDER BY created_at DESC LIMIT -1 OFFSET ?)",
                (_DB_CACHE_ROWS,),
            )
