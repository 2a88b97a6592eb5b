"""Text helpers of the answer pipeline: sentences, stems, sanitising, sound-alikes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from core.stopwords import ANSWER_STOPWORDS, COMMON_LANGUAGES, guess_language, stopwords_for

# Letters and digits of any script: "höhle" is one word, not "h" and "hle".
_WORD = re.compile(r"[^\W_]+")
_STOPWORDS = ANSWER_STOPWORDS
# Words of how a question is asked rather than what it is about; they say nothing about
# whether the library holds the answer.
_GENERIC = frozenset(
    re.findall(
        r"\w+",
        "say said says saying discuss discussed discussing discussion discussions talk talked "
        "talking mention mentioned think thought summarize summarise summary decide decided "
        "decision team group meeting meetings people speaker speakers anything something "
        "next step steps point points opinion opinions according regarding related "
        # words naming the kind of answer wanted ("in which cities"), not its topic
        "city cities year years date dates place places name names",
    )
)
# Abbreviations people type but speech (and Whisper) often spells out. A question word that
# occurs nowhere in the library counts as present when one of its expansion's words does;
# without this, "What did the CEO say about Q4 goals?" was refused on a town hall that says
# "chief executive" and "fourth quarter".
_EXPANSIONS: dict[str, tuple[str, ...]] = {
    "ceo": ("chief", "executive"),
    "cfo": ("chief", "financial"),
    "cto": ("chief", "technology"),
    "coo": ("chief", "operating"),
    "hr": ("human", "resources"),
    "q1": ("first", "quarter"),
    "q2": ("second", "quarter"),
    "q3": ("third", "quarter"),
    "q4": ("fourth", "quarter"),
    "ai": ("artificial", "intelligence"),
    "ml": ("machine", "learning"),
    "ui": ("user", "interface"),
    "ux": ("user", "experience"),
    "kpi": ("performance", "indicator"),
    "roi": ("return", "investment"),
    "pm": ("project", "manager"),
    "vp": ("vice", "president"),
    "eu": ("european", "union"),
    "uk": ("united", "kingdom"),
    "usa": ("united", "states"),
}
# Spelling-to-sound rewrites for sound_key, applied in order.
_SOUNDS = (
    ("ph", "f"), ("ck", "k"), ("sch", "sk"), ("gh", "g"), ("kn", "n"), ("wr", "r"),
    ("qu", "kw"), ("q", "k"), ("x", "ks"), ("z", "s"), ("dg", "j"),
)  # fmt: skip


# Sound-alike words: at least this long, and this similar in spelling (rapidfuzz 0-100)...
_SOUND_MIN_CHARS = 5
_SOUND_MIN_RATIO = 75.0
# ... or, one consonant apart in sound, this similar.
_SPELLING_MIN_RATIO = 87.0


def sound_key(word: str) -> str:
    """A rough key of how an English word sounds: its first letter and its consonants.

    Speech recognition writes what it hears, so a question word that no transcript spells the
    same way may still be there under a word that sounds alike ("phishing" heard as
    "fishing"). Both give ``fsng``.
    """
    w = word.lower()
    for spelled, sound in _SOUNDS:
        w = w.replace(spelled, sound)
    w = re.sub(r"c(?=[eiy])", "s", w).replace("c", "k")
    key = w[:1] + re.sub(r"[aeiouyhw]", "", w[1:])
    return re.sub(r"(.)\1+", r"\1", key)


def sounds_like(word: str, other: str) -> bool:
    """Whether ``other`` could be how speech recognition wrote ``word``.

    Either the same sound (:func:`sound_key` or Metaphone, which hears "Gutenberg" and
    "Gudenberg" alike) and mostly the same letters, the second condition keeping apart words
    that merely share consonants ("layoffs" and "lives" both key to ``lfs``); or, for longer
    words, the same first letter and nearly the same spelling ("Manutius", "Manucius").
    """
    import jellyfish
    from rapidfuzz import fuzz

    word, other = word.lower(), other.lower()
    if len(word) < _SOUND_MIN_CHARS or word == other or not other:
        return False
    similar = fuzz.ratio(word, other)
    sound, other_sound = jellyfish.metaphone(word), jellyfish.metaphone(other)
    if sound_key(word) == sound_key(other) or sound == other_sound:
        return similar >= _SOUND_MIN_RATIO
    # One consonant heard differently ("t" as "s" in Manutius/Manucius), nearly same letters.
    return (
        word[0] == other[0]
        and len(sound) == len(other_sound)
        and sum(a != b for a, b in zip(sound, other_sound, strict=True)) == 1
        and similar >= _SPELLING_MIN_RATIO
    )


_MARKER = re.compile(r"[\[(<{]\s*(?:S|source|passage)?\s*\d+\s*[\])>}]", re.I)
_CONTROL = re.compile(r"<\|[^<>]{0,40}\|>|</?s>|<(?:start|end)_of_turn>|\[/?INST\]", re.I)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[\"'(A-Z0-9])")
# Lower-cased transcripts (some ASR output, spoken_squad) have no capitals to start a sentence.
_LOWERCASE_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[\"'(a-z0-9])")
_MAX_UNIT_CHARS = 320


def normalise_question(text: str) -> str:
    """The form of a question used as its cache key: NFKC, lower case, words only."""
    return " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", text).lower()))


def stem(word: str) -> str:
    """A crude stem: lower case, a plural ``s`` dropped, the first six letters."""
    w = word.lower()
    if len(w) > 4 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    return w[:6]


def content_stems(text: str, *, generic: bool = True) -> list[str]:
    """Stems of the words that carry content (stopwords, and optionally question words, out).

    A text in another common language (a German question, a French transcript) also loses
    that language's function words, which would otherwise count as shared content ("die").
    """
    language = guess_language(text, COMMON_LANGUAGES) or "en"
    stop = _STOPWORDS if language == "en" else _STOPWORDS | stopwords_for(language)
    out = []
    for w in _WORD.findall(text.lower()):
        if w in stop or (not generic and w in _GENERIC):
            continue
        if len(w) >= 3 or w.isdigit():
            out.append(stem(w))
    return list(dict.fromkeys(out))


def sanitize(text: str) -> str:
    """Make untrusted transcript text safe to quote in a prompt.

    Removes control-token spellings (``<|im_end|>``, ``</s>``, ``[INST]``...) and citation-like
    markers (``[S1]``, ``(S99)``, ``[3]``), turns any remaining square brackets into
    parentheses (the model's citation syntax uses brackets) and drops control characters.
    """
    text = _CONTROL.sub(" ", text)
    text = _MARKER.sub(" ", text)
    text = text.replace("[", "(").replace("]", ")")
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _name_words(question: str) -> set[str]:
    """Lower-cased words of ``question`` written as names.

    A name is capitalised after the first word of a sentence, all capitals (``NYPD``), or has
    digits (``AS-205``, ``FtsZ1``).
    """
    out: set[str] = set()
    for sentence in re.split(r"[.!?]\s+", question):
        for i, word in enumerate(re.findall(r"\w+", sentence)):
            upper = word[0].isupper() and i > 0
            if upper or (len(word) > 1 and word.isupper()) or any(c.isdigit() for c in word):
                out.add(word.lower())
    return out


def split_sentences(text: str) -> list[str]:
    """Split transcript text into sentences; very long ones are cut at a comma or a space.

    A sentence ends at ``.``, ``!`` or ``?`` before a capital, digit or quote; in a text with
    no capitals at all (a lower-cased transcript), before any letter.
    """
    out: list[str] = []
    split = _SENTENCE_SPLIT if any(c.isupper() for c in text) else _LOWERCASE_SENTENCE_SPLIT
    for raw in split.split(text.strip()):
        rest = raw.strip()
        while len(rest) > _MAX_UNIT_CHARS:
            cut = rest.rfind(", ", 0, _MAX_UNIT_CHARS)
            cut = cut + 1 if cut > 80 else rest.rfind(" ", 0, _MAX_UNIT_CHARS)
            cut = cut if cut > 0 else _MAX_UNIT_CHARS
            out.append(rest[:cut].strip())
            rest = rest[cut:].strip()
        if rest:
            out.append(rest)
    return out


def overlap(query_stems: Sequence[str], text: str) -> float:
    """Share of ``query_stems`` that occur in ``text`` (0 when there are none)."""
    if not query_stems:
        return 0.0
    have = {stem(w) for w in _WORD.findall(text.lower())}
    return sum(1 for s in query_stems if s in have) / len(query_stems)
