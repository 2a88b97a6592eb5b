"""Ask your library: short answers with verified, timestamped citations, all on this machine.

:meth:`Answerer.ask` is a generator for the GUI and the CLI. It yields a :class:`Sources` event
(the passages the model will read), :class:`Token` events as the model writes, and finally the
:class:`Answer`. The pipeline:

1. **Retrieve** the best chunks with hybrid search and widen each with its previous and next
   chunk; overlapping windows of one item merge into one passage, split into sentences that
   carry their own times from the word timestamps (``_evidence``).
2. **Refuse** when retrieval found nothing relevant: the answer says so and lists the closest
   items instead of guessing.
3. **Pack** the passages into a token budget (counted with the model's own tokenizer), keeping
   the sentences that best match the question, each passage labelled ``[S1]``... Passage text
   is untrusted: bracket markers and control-token spellings are removed and it is tokenized
   with special tokens disabled.
4. **Generate** under a GBNF grammar built for this question (``_grammar``), so citations are
   valid by construction and the format cannot be changed by what a transcript says.
5. **Verify** every sentence against the passages it cites (``_verify``); unsupported
   sentences and citations are dropped.
6. **Fall back** to quoting whole passage sentences when no generated sentence survives.

A citation's ``start``/``end`` bound the quoted sentence, not the chunk around it. Finished
answers are cached by (normalised question, options, model, library content version), in
memory and in the library database (``_cache``).

Modules: ``_text`` (sentences, stems, sound-alikes), ``_types`` (results and events),
``_settings``, ``_evidence`` (retrieval for answers), ``_grammar`` (prompt grammars, parsing),
``_verify``, ``_cache``, ``_pipeline`` (:class:`Answerer`). Only the names below are public.
"""

from core.answer._evidence import timed_sentences
from core.answer._grammar import (
    build_copy_grammar,
    build_grammar,
    number_citations,
    parse_answer,
)
from core.answer._pipeline import Answerer, answerable
from core.answer._settings import (
    PIPELINE_VERSION,
    QUOTE_PREAMBLE,
    SYSTEM_PROMPT,
    USER_PREFIX,
    AnswerSettings,
)
from core.answer._text import (
    content_stems,
    normalise_question,
    overlap,
    sanitize,
    sound_key,
    sounds_like,
    split_sentences,
    stem,
)
from core.answer._types import (
    Answer,
    AskEvent,
    Citation,
    Relevance,
    SentenceCheck,
    Sources,
    Timings,
    Token,
)

__all__ = [
    "PIPELINE_VERSION",
    "QUOTE_PREAMBLE",
    "SYSTEM_PROMPT",
    "USER_PREFIX",
    "Answer",
    "AnswerSettings",
    "Answerer",
    "AskEvent",
    "Citation",
    "Relevance",
    "SentenceCheck",
    "Sources",
    "Timings",
    "Token",
    "answerable",
    "build_copy_grammar",
    "build_grammar",
    "content_stems",
    "normalise_question",
    "number_citations",
    "overlap",
    "parse_answer",
    "sanitize",
    "sound_key",
    "sounds_like",
    "split_sentences",
    "stem",
    "timed_sentences",
]
