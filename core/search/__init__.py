"""Finding moments.

The embedding runtime, the vector index and hybrid (vector + BM25) search.

The names below are the package's public API; its modules are private to it. A
submodule is imported when one of its names is first used (PEP 562), so importing
one part of the package does not load the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.lazy import lazy_exports

if TYPE_CHECKING:
    from core.search.embedding import CONFIG_FILENAME as CONFIG_FILENAME
    from core.search.embedding import FP32_FILENAME as FP32_FILENAME
    from core.search.embedding import INT8_FILENAME as INT8_FILENAME
    from core.search.embedding import MODEL_DIRNAME as MODEL_DIRNAME
    from core.search.embedding import MODEL_NAME as MODEL_NAME
    from core.search.embedding import SOURCE_PACKAGE as SOURCE_PACKAGE
    from core.search.embedding import TOKENIZER_FILENAME as TOKENIZER_FILENAME
    from core.search.embedding import Embedder as Embedder
    from core.search.embedding import EmbeddingConfig as EmbeddingConfig
    from core.search.embedding import default_threads as default_threads
    from core.search.hybrid import RELEVANCE_FLOOR as RELEVANCE_FLOOR
    from core.search.hybrid import EmbeddingStore as EmbeddingStore
    from core.search.hybrid import LRUCache as LRUCache
    from core.search.hybrid import Searcher as Searcher
    from core.search.hybrid import SearchFilters as SearchFilters
    from core.search.hybrid import SearchResult as SearchResult
    from core.search.hybrid import TextEncoder as TextEncoder
    from core.search.hybrid import default_encoder as default_encoder
    from core.search.hybrid import fts_query as fts_query
    from core.search.hybrid import mark_terms as mark_terms
    from core.search.hybrid import query_terms as query_terms
    from core.search.hybrid import text_sha256 as text_sha256

_EXPORTS = {
    "CONFIG_FILENAME": "core.search.embedding",
    "Embedder": "core.search.embedding",
    "EmbeddingConfig": "core.search.embedding",
    "EmbeddingStore": "core.search.hybrid",
    "FP32_FILENAME": "core.search.embedding",
    "INT8_FILENAME": "core.search.embedding",
    "LRUCache": "core.search.hybrid",
    "RELEVANCE_FLOOR": "core.search.hybrid",
    "MODEL_DIRNAME": "core.search.embedding",
    "MODEL_NAME": "core.search.embedding",
    "SOURCE_PACKAGE": "core.search.embedding",
    "SearchFilters": "core.search.hybrid",
    "SearchResult": "core.search.hybrid",
    "Searcher": "core.search.hybrid",
    "TOKENIZER_FILENAME": "core.search.embedding",
    "TextEncoder": "core.search.hybrid",
    "default_encoder": "core.search.hybrid",
    "default_threads": "core.search.embedding",
    "fts_query": "core.search.hybrid",
    "mark_terms": "core.search.hybrid",
    "query_terms": "core.search.hybrid",
    "text_sha256": "core.search.hybrid",
}
__all__ = [
    "CONFIG_FILENAME",
    "FP32_FILENAME",
    "INT8_FILENAME",
    "MODEL_DIRNAME",
    "MODEL_NAME",
    "RELEVANCE_FLOOR",
    "SOURCE_PACKAGE",
    "TOKENIZER_FILENAME",
    "Embedder",
    "EmbeddingConfig",
    "EmbeddingStore",
    "LRUCache",
    "SearchFilters",
    "SearchResult",
    "Searcher",
    "TextEncoder",
    "default_encoder",
    "default_threads",
    "fts_query",
    "mark_terms",
    "query_terms",
    "text_sha256",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)
