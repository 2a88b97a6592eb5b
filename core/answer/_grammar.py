"""Prompting and grammars: the GBNF an answer is generated under and how it is parsed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from core.answer._settings import SYSTEM_PROMPT
from core.answer._text import _WORD
from core.answer._types import Citation
from core.errors import UsageError


def build_grammar(
    labels: Sequence[str],
    *,
    max_sentences: int = 2,
    min_chars: int = 8,
    max_chars: int = 150,
    max_citations: int = 2,
) -> str:
    """The GBNF grammar of a free-text answer citing ``labels``.

    Every sentence is ``[Sx] Text.`` or ``[Sx][Sy] Text.``: one or ``max_citations`` distinct
    ids, all from ``labels``, then a body of ``min_chars``..``max_chars`` characters with no
    brackets, sentence ends or line breaks, then a full stop. At most ``max_sentences``.

    Raises:
        UsageError: ``labels`` is empty.
    """
    if not labels:
        raise UsageError("An answer needs at least one passage to cite.")
    alts: list[str] = []
    for a in labels:
        alts.append(f'"[{a}]"')
        if max_citations >= 2:
            alts.extend(f'"[{a}][{b}]"' for b in labels if b != a)
    body_min = max(0, min_chars - 1)
    body_max = max(body_min, max_chars - 1)
    return "\n".join(
        [
            _root(max_sentences),
            'sent ::= cite " " body "."',
            "cite ::= " + " | ".join(alts),
            f"body ::= [A-Z0-9] bc{{{body_min},{body_max}}}",
            r"bc ::= [^\[\]\n.!?<>{}|\\()]",
        ]
    )


def build_copy_grammar(
    passages: dict[str, Sequence[str]],
    *,
    max_sentences: int = 2,
    min_words: int = 3,
    max_chars: int = 150,
    whole: bool = False,
) -> str:
    """The GBNF grammar of an answer whose sentences quote the passage they cite.

    Every sentence is ``[Sx] words.`` where the words are a contiguous run of at least
    ``min_words`` words from one sentence of passage ``Sx`` (at most ``max_chars`` characters).
    Small models then cannot invent facts: they choose which words of which passage answer.
    Consecutive answer sentences quote different passage sentences, so the model cannot say
    the same thing twice (greedy decoding of a small model otherwise often does).

    Args:
        passages: Label to the passage's sentences, as shown to the model.
        max_sentences: Sentences allowed.
        min_words: Shortest quote.
        max_chars: Longest quote.
        whole: Each quote is a whole passage sentence (a piece of ``max_chars``), not a run of
            its clauses.

    Raises:
        UsageError: No passage has a sentence of ``min_words`` words.
    """
    from core.llm import gbnf_literal

    rules: list[str] = []
    quotes: list[str] = []  # one rule per quotable passage sentence
    for label, sentences in passages.items():
        for si, sentence in enumerate(_pieces(sentences, max_chars)):
            words, marks = _clauses(sentence)
            base = f"{label.lower()}-{si}"
            # A quote keeps every negation of its sentence: it starts at or before the first
            # ("Ask not what your country can do for you" never loses "Ask not") and stops
            # at or after the last.
            negations = [k for k, w in enumerate(words) if is_negation(w)]
            first_neg = negations[0] if negations else len(words)
            last_neg = negations[-1] if negations else -1
            # {base}-{j}: the quote goes on with word j, or may stop before it when word j-1
            # ends a clause. So a quote is a run of whole clauses ("so the company gives
            # everyone a password manager"), never a fragment ("password on a website").
            for j in range(1, len(words)):
                nxt = f" {base}-{j + 1}" if j + 1 < len(words) else ""
                body = f"{gbnf_literal(marks[j - 1] + ' ')} {gbnf_literal(words[j])}{nxt}"
                may_stop = bool(marks[j - 1]) and j > last_neg and not whole
                rules.append(f"{base}-{j} ::= " + (f"({body})?" if may_stop else body))
            starts = []
            for i in range(len(words) - min_words + 1):
                if (i and not marks[i - 1]) or i > first_neg or (i and whole):
                    continue  # quotes start at the sentence's start or a clause's
                head = [gbnf_literal(words[i][:1].upper() + words[i][1:])]
                for j in range(i + 1, i + min_words):
                    head += [gbnf_literal(marks[j - 1] + " "), gbnf_literal(words[j])]
                tail = f" {base}-{i + min_words}" if i + min_words < len(words) else ""
                starts.append(" ".join(head) + tail)
            if not starts:
                continue
            rules.append(f'q-{base} ::= "[{label}] " ({" | ".join(starts)}) "."')
            quotes.append(base)
    if not quotes:
        raise UsageError("An answer needs at least one passage sentence to quote.")
    # at{k}-{q}: sentence k quotes q, then optionally sentence k+1 quotes another one.
    n = max(1, max_sentences)
    for k in range(1, n + 1):
        for q in quotes:
            others = [o for o in quotes if o != q]
            tail = (
                f' (" " ({" | ".join(f"at{k + 1}-{o}" for o in others)}))?'
                if k < n and others
                else ""
            )
            rules.append(f"at{k}-{q} ::= q-{q}{tail}")
    root = "root ::= " + " | ".join(f"at1-{q}" for q in quotes)
    return "\n".join([root, *rules])


def only_quote(
    passages: dict[str, Sequence[str]], *, min_words: int = 3, max_chars: int = 150
) -> str | None:
    """The one answer ``build_copy_grammar(passages, whole=True, ...)`` admits, if only one.

    That is the case when exactly one piece of one passage sentence is long enough to quote
    (consecutive quotes differ, so it cannot be quoted twice). Returns ``[Sx] Words.`` as
    the grammar spells it, or ``None`` when the model has a choice (or nothing to quote).
    """
    found: list[str] = []
    for label, sentences in passages.items():
        for sentence in _pieces(sentences, max_chars):
            words, marks = _clauses(sentence)
            if len(words) < min_words:
                continue
            text = words[0][:1].upper() + words[0][1:]
            text += "".join(f"{marks[j - 1]} {words[j]}" for j in range(1, len(words)))
            found.append(f"[{label}] {text}.")
    return found[0] if len(found) == 1 else None


def _root(max_sentences: int) -> str:
    more = f' (" " sent){{0,{max_sentences - 1}}}' if max_sentences > 1 else ""
    return f"root ::= sent{more}"


_CLAUSE_MARK = re.compile(r"[,;:]+$")
_NEGATIONS = frozenset(
    re.findall(
        r"\w+",
        "not no never nor neither none nobody nothing nowhere without cannot dont doesnt didnt "
        "isnt arent wasnt werent wont cant couldnt shouldnt wouldnt havent hasnt hadnt aint "
        "mustnt neednt",
    )
)


def is_negation(word: str) -> bool:
    """Whether a word negates its clause ("not", "never", "don't", "can't"...)."""
    return re.sub(r"[^a-z]", "", word.lower().replace("’", "'")) in _NEGATIONS


def _pieces(sentences: Sequence[str], max_chars: int) -> list[str]:
    """Sentences cut into pieces of at most ``max_chars``, after a clause where one allows.

    A cut at a comma keeps each piece a run of whole clauses; a word boundary is the fallback
    when the piece's last clause mark is in its first third.
    """
    out: list[str] = []
    for sentence in sentences:
        piece: list[str] = []
        for word in sentence.split():
            if piece and len(" ".join([*piece, word])) > max_chars:
                ends = [k for k, w in enumerate(piece) if _CLAUSE_MARK.search(w)]
                cut = ends[-1] + 1 if ends and ends[-1] >= len(piece) // 3 else len(piece)
                out.append(" ".join(piece[:cut]))
                piece = piece[cut:]
            piece.append(word)
        if piece:
            out.append(" ".join(piece))
    return out


def _clauses(sentence: str) -> tuple[list[str], list[str]]:
    """A sentence's words without trailing clause marks, and each word's mark ("" for none).

    The last word's mark and full stop are dropped (the grammar adds the full stop); a token
    that is only punctuation is joined to the word before it.
    """
    tokens: list[str] = []
    for token in sentence.split():
        if tokens and not re.search(r"\w", token):
            tokens[-1] += token
        else:
            tokens.append(token)
    if tokens:
        tokens[-1] = tokens[-1].rstrip(".!?,;:") or tokens[-1]
    found = [_CLAUSE_MARK.search(t) for t in tokens]
    marks = [m.group(0) if m and m.start() else "" for m in found]
    words = [t[: len(t) - len(m)] if m else t for t, m in zip(tokens, marks, strict=True)]
    return words, marks


_CITES = re.compile(r"((?:\[S\d+\])+)")


def parse_answer(text: str, allowed: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """Split ``[Sx] body. [Sy] body.`` into (body, cited labels); unknown labels are ignored."""
    parts = _CITES.split(text)
    out = []
    for i in range(1, len(parts) - 1, 2):
        labels = tuple(dict.fromkeys(re.findall(r"\[(S\d+)\]", parts[i])))
        labels = tuple(x for x in labels if x in allowed)
        body = parts[i + 1].strip().rstrip(".,;:!? ").strip()
        if body and labels:
            out.append((body, labels))
    return out


def number_citations(
    cited: Sequence[Sequence[Citation]],
) -> tuple[list[Citation], list[tuple[str, ...]]]:
    """Label each distinct cited moment ``S1``, ``S2``... in order of first use.

    The model cites *passages*, but two sentences can rest on different moments of one
    passage; its label would then stand for two timestamps. Numbered by moment, every marker
    names exactly one citation, as footnotes do.

    Args:
        cited: For each sentence, the citations that support it.

    Returns:
        The distinct citations, relabelled, and each sentence's labels.
    """
    citations: list[Citation] = []
    index: dict[Citation, str] = {}
    marks: list[tuple[str, ...]] = []
    for cites in cited:
        labels = []
        for c in cites:
            key = replace(c, label="")
            if key not in index:
                index[key] = f"S{len(citations) + 1}"
                citations.append(replace(c, label=index[key]))
            labels.append(index[key])
        marks.append(tuple(dict.fromkeys(labels)))
    return citations, marks


def _render(bodies: Sequence[str], marks: Sequence[Sequence[str]]) -> str:
    return " ".join(
        f"{body.rstrip('.')} {''.join(f'[{x}]' for x in labels)}."
        for body, labels in zip(bodies, marks, strict=True)
    )


def _echoes_instructions(body: str, passages: str) -> bool:
    """Whether a sentence repeats 5+ consecutive words of the system prompt not in its passages."""
    words = _WORD.findall(body.lower())
    system = " " + " ".join(_WORD.findall(SYSTEM_PROMPT.lower())) + " "
    source = " " + " ".join(_WORD.findall(passages.lower())) + " "
    for i in range(len(words) - 4):
        gram = " " + " ".join(words[i : i + 5]) + " "
        if gram in system and gram not in source:
            return True
    return False
