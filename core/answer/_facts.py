"""Facts a sentence states: numbers (in digits or words), dates and names.

A generated sentence may only state facts its cited evidence states. Numbers match by value,
whether written in digits or words ("180", "one hundred and eighty", "1462", "fourteen sixty
two"); names match exactly or as a speech-recognition sound-alike (:func:`sounds_like`).
"""

from __future__ import annotations

import re

from core.answer._text import _STOPWORDS, sounds_like

_UNITS = {
    w: i
    for i, w in enumerate(
        re.findall(
            r"\w+",
            "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
            "fifteen sixteen seventeen eighteen nineteen",
        )
    )
}
_TENS = {
    w: 10 * i
    for i, w in enumerate(
        re.findall(r"\w+", "_ _ twenty thirty forty fifty sixty seventy eighty ninety")
    )
    if w != "_"
}
_ORDINALS = {
    w: i
    for i, w in enumerate(
        re.findall(
            r"\w+",
            "_ first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
            "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth",
        )
    )
    if w != "_"
} | {
    w: 10 * i
    for i, w in enumerate(
        re.findall(
            r"\w+",
            "_ _ twentieth thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth",
        )
    )
    if w != "_"
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_VALUES = {**_UNITS, **_TENS, **_ORDINALS}
_TOKEN = re.compile(r"\d[\d,]*(?:\.\d+)?|[a-z]+")
_CENTURY = 100  # "fourteen sixty two" is 14 × 100 + 62
_TEEN_OR_TENS = range(10, 100)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _run_values(run: list[str]) -> list[float]:
    """Values a run of number words can mean: the cardinal, and a year read in pairs."""
    total = current = 0.0
    for w in run:
        if w == "half":
            current += 0.5
        elif w in _SCALES:
            current = max(current, 1.0) * _SCALES[w]
            if _SCALES[w] >= _SCALES["thousand"]:
                total, current = total + current, 0.0
        else:
            current += _VALUES[w]
    values = [total + current]
    plain = [_VALUES[w] for w in run if w in _VALUES]
    if len(plain) == len(run) >= 2 and plain[0] in _TEEN_OR_TENS:
        rest = sum(plain[1:])
        if 0 < rest < _CENTURY:
            values.append(plain[0] * _CENTURY + rest)
    return values


def numbers(text: str, *, parts: bool = False) -> set[str]:
    """The numbers a text states, as digit strings; with ``parts`` also each word's value.

    Evidence is read with ``parts`` (so "12 million" in an answer matches "twelve million"
    in a transcript through the 12).
    """
    out: set[str] = set()
    run: list[str] = []

    def flush() -> None:
        if run:
            out.update(_number_text(v) for v in _run_values(run))
            if parts:
                out.update(_number_text(_VALUES[w]) for w in run if w in _VALUES)
                unscaled = [w for w in run if w not in _SCALES]  # "nine and a half (million)"
                if unscaled:
                    out.update(_number_text(v) for v in _run_values(unscaled))
            run.clear()

    tokens = _TOKEN.findall(text.lower())
    for i, t in enumerate(tokens):
        if t[0].isdigit():
            flush()
            out.add(t.replace(",", "").rstrip("."))
        elif t in _VALUES or (run and (t in _SCALES or t == "half")):
            run.append(t)
        elif t in {"and", "a"} and run and i + 1 < len(tokens):
            nxt = tokens[i + 1]
            if nxt not in _VALUES and nxt not in _SCALES and nxt not in {"half", "a"}:
                flush()
        else:
            flush()
    flush()
    return out


def names(text: str) -> set[str]:
    """Words written as names: capitalised after a sentence's first word, or all capitals."""
    out: set[str] = set()
    for sentence in re.split(r"[.!?]\s+", text):
        for i, word in enumerate(re.findall(r"[A-Za-z][\w'-]*", sentence)):
            low = word.lower()
            if low in _STOPWORDS or low in _VALUES or low == "i":
                continue
            if (i > 0 and word[0].isupper()) or (len(word) > 1 and word.isupper()):
                out.add(low)
    return out


def unsupported_facts(sentence: str, evidence: str) -> list[str]:
    """The numbers and names of ``sentence`` that ``evidence`` does not state."""
    missing = sorted(numbers(sentence) - numbers(evidence, parts=True))
    words = set(re.findall(r"[a-z][\w'-]*", evidence.lower()))
    for name in sorted(names(sentence)):
        base = name.removesuffix("'s")
        if base in words or any(sounds_like(base, w) for w in words):
            continue
        missing.append(name)
    return missing
