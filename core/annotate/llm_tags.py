"""The language model's part of annotation: topic, mood and entities per chunk window.

Each call sees one *window* (several consecutive chunks, up to a token budget) and must answer
in a compact JSON shape fixed by a GBNF grammar built for that window::

    {"topic":"Sports","mood":"tense","entities":[["Arsenal","organization"],["London","place"]]}

The grammar lists the taxonomy's topics and moods as the only strings allowed there, and the
entity names as the only strings allowed for a name: capitalised phrases found in the window's
own text. A label outside the taxonomy or a name that is not in the transcript cannot be
generated, and every name is checked against the transcript again afterwards.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.llm import GenerationStats, LocalLLM, gbnf_literal
from core.taxonomy import ENTITY_TYPES, MOODS, TOPICS, canonical_mood, canonical_topic

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You label excerpts of transcripts. Reply with JSON only: the main topic, the mood, and "
    "the named people, organizations, places and works (books, films, songs, shows) that the "
    "excerpt mentions, chosen from the candidate names."
)
_EXAMPLES = (
    (
        "Candidates: Vodafone; Arun Sarin; India\n"
        "Excerpt: Vodafone said profits rose 8% as chief executive Arun Sarin pushed into "
        "India, and its shares closed higher.",
        '{"topic":"Business & Finance","mood":"informative","entities":[["Vodafone",'
        '"organization"],["Arun Sarin","person"],["India","place"]]}',
    ),
    (
        "Candidates: Arsenal; Thierry Henry; Highbury\n"
        "Excerpt: Arsenal beat Chelsea 2-1 at Highbury on Saturday. Thierry Henry scored twice "
        "and the crowd sang until the final whistle.",
        '{"topic":"Sports","mood":"upbeat","entities":[["Arsenal","organization"],'
        '["Thierry Henry","person"],["Highbury","place"]]}',
    ),
)
USER_PREFIX = (
    f"Topics: {', '.join(TOPICS)}.\nMoods: {', '.join(MOODS)}.\n"
    + "".join(f"Example:\n{text}\nAnswer: {answer}\n" for text, answer in _EXAMPLES)
    + "\nNow this one:\n"
)

MAX_CANDIDATES = 12
MAX_ENTITIES = 6

# Capitalised words, joined across "of", "the", "de", "&" (e.g. "Bank of England").
_NAME = re.compile(
    r"\b[A-Z][\w'’.-]*[\w]"
    r"(?:(?:\s+(?:of|the|de|del|da|van|von|and|&|for))*\s+[A-Z][\w'’.-]*[\w])*"
)
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\"“]\s+)$")
_COMMON = frozenset(
    re.findall(
        r"\S+",
        """
    a after ah all alright also although an and another any april are as at august be
    because before both but by can't december did do does don't each even every february for
    friday from had has have he he's hello her here hi his hmm how however i i'll i'm i've
    if in into is it it's its january july june just last let's like many march may me
    meanwhile mm mm-hmm monday most mr mrs ms much my no not november now october of oh ok
    okay on one only or other our over right saturday september she she's since so some
    still such sunday than thank thanks that that's the their them then there there's these
    they they're this though through thursday to today tuesday two uh uh-huh um under until
    us was we we're wednesday well were what when where which while who why will with would
    yeah yep yes yet you you're your
    """,
    )
)


@dataclass
class WindowTags:
    """The model's answer for one window, parsed and checked."""

    topic: str | None = None
    mood: str | None = None
    entities: list[tuple[str, str]] = field(default_factory=list)
    raw: str = ""
    stats: GenerationStats | None = None


def entity_candidates(text: str, limit: int = MAX_CANDIDATES) -> list[str]:
    """Capitalised phrases of ``text`` that may be names, most frequent first.

    A single capitalised word at the start of a sentence is only a candidate when it also
    appears capitalised elsewhere; pronouns, months, weekdays and function words never are.
    """
    counts: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    mid_sentence: set[str] = set()
    for m in _NAME.finditer(text):
        if text[m.end() : m.end() + 1] == ":" or "_" in m.group(0):
            continue  # a speaker label ("Project Manager: ...") or transcription notation
        name = re.sub(r"['’]s$", "", m.group(0)).strip(" .'’-")
        words = name.split()
        while words and words[0].lower() in _COMMON:  # "The BBC" -> "BBC"
            words = words[1:]
        while words and words[-1].lower() in _COMMON:
            words = words[:-1]
        if not words:
            continue
        name = " ".join(words)
        if len(name) < 2 or (len(words) == 1 and name.lower() in _COMMON):
            continue
        if name.isupper() and len(name) > 6:  # shouted words, not acronyms
            continue
        counts[name] += 1
        first_seen.setdefault(name, m.start())
        if not _SENTENCE_START.search(text[: m.start()][-3:] if m.start() else ""):
            mid_sentence.add(name)
    keep = [n for n in counts if len(n.split()) > 1 or n in mid_sentence or counts[n] > 1]
    keep.sort(key=lambda n: (-counts[n], first_seen[n]))
    return keep[:limit]


def occurs_in(name: str, text: str) -> bool:
    """Whether ``name`` occurs in ``text`` as whole words (case-sensitive, spacing-tolerant)."""
    if not name.strip():
        return False
    pattern = r"(?<!\w)" + r"\s+".join(re.escape(w) for w in name.split()) + r"(?!\w)"
    return re.search(pattern, text) is not None


def build_grammar(candidates: Sequence[str], max_entities: int = MAX_ENTITIES) -> str:
    """The GBNF grammar of one window's answer (see the module docstring).

    Topics, moods, entity types and names are alternations of literals; nothing else can be
    generated in those positions.
    """
    topic = " | ".join(gbnf_literal(json.dumps(t)) for t in TOPICS)
    mood = " | ".join(gbnf_literal(json.dumps(m)) for m in MOODS)
    etype = " | ".join(gbnf_literal(json.dumps(t)) for t in ENTITY_TYPES)
    rules = [
        'root ::= "{\\"topic\\":" topic ",\\"mood\\":" mood ",\\"entities\\":[" ents "]}"',
        f"topic ::= {topic}",
        f"mood ::= {mood}",
        f"etype ::= {etype}",
    ]
    names = [c for c in dict.fromkeys(candidates) if c.strip()]
    if names:
        rules.append("name ::= " + " | ".join(gbnf_literal(json.dumps(n)) for n in names))
        rules.append('ent ::= "[" name "," etype "]"')
        tail = "".join('("," ent ' for _ in range(max_entities - 1)) + ")?" * (max_entities - 1)
        rules.append(f"ents ::= (ent {tail})?")
    else:
        rules.append('ents ::= ""')
    return "\n".join(rules) + "\n"


def parse_answer(raw: str, candidates: Sequence[str], text: str) -> WindowTags:
    """Read the model's JSON; keep only taxonomy labels and names that occur in ``text``."""
    out = WindowTags(raw=raw)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        # Cut off by max_tokens: keep what a prefix parse can still recover.
        m = re.search(r'"topic":"([^"]+)"', raw)
        out.topic = canonical_topic(m.group(1)) if m else None
        m = re.search(r'"mood":"([^"]+)"', raw)
        out.mood = canonical_mood(m.group(1)) if m else None
        pairs = re.findall(r'\["([^"]+)","([^"]+)"\]', raw)
        data = {"entities": [list(p) for p in pairs]}
    else:
        out.topic = canonical_topic(str(data.get("topic", "")))
        out.mood = canonical_mood(str(data.get("mood", "")))
    allowed = set(candidates)
    seen: set[str] = set()
    for pair in data.get("entities", []) or []:
        if not isinstance(pair, list) or len(pair) != 2:
            continue
        name, etype = str(pair[0]), str(pair[1])
        if name in seen or etype not in ENTITY_TYPES:
            continue
        if name not in allowed or not occurs_in(name, text):
            log.warning("dropped entity %r: not a name found in the text", name)
            continue
        seen.add(name)
        # The model's type is kept as it answered; the annotator types names from the whole
        # transcript (``entities.type_entities``) and drops those it cannot type.
        out.entities.append((name, etype))
    return out


def tag_window(llm: LocalLLM, text: str, *, max_tokens: int = 120) -> WindowTags:
    """Run the model on one window under its grammar and return the checked answer."""
    candidates = entity_candidates(text)
    user = f"Candidates: {'; '.join(candidates) or '(none)'}\nExcerpt: {text}\nAnswer: "
    prompt = llm.chat_prompt(SYSTEM_PROMPT, USER_PREFIX, user)
    stats = GenerationStats()
    raw = "".join(
        llm.stream(prompt, grammar=build_grammar(candidates), max_tokens=max_tokens, stats=stats)
    )
    out = parse_answer(raw, candidates, text)
    out.stats = stats
    return out


def fit_text(llm: LocalLLM, text: str, budget: int) -> str:
    """``text`` cut at a word boundary to at most ``budget`` tokens."""
    if llm.count_tokens(text) <= budget:
        return text
    words = text.split()
    lo, hi = 0, len(words)
    while lo < hi:  # longest prefix that fits
        mid = (lo + hi + 1) // 2
        if llm.count_tokens(" ".join(words[:mid])) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo])
