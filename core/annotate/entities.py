"""The type of a named entity, read from the name and the text around it, or no type at all.

The 135M language model types names poorly (the demo library had "Martin Luther" as a place,
"Greek" as a person, "Lena Fisher" as an organization). Here each name gets the type that a
*cue* in the transcript supports, and the cue is kept as the tag's evidence; a name with no cue
is dropped rather than guessed. Cues, strongest first:

* **Not a name**: a nationality, language or religion adjective ("Greek", "Christian"), words
  the transcript also writes in lower case ("Whisk ... whisk the eggs"), or a speaker label
  ("Industrial Designer: ...").
* **The name's own words**: an honorific ("Mr Blair") -> person; an organisation word ("Bank",
  "plc", "Party", "University", "FC") -> organization; a place word ("River", "Street",
  "Island") or a known country, state, region or large city -> place; an acronym -> organization.
* **The words around it** anywhere in the text: a title or role before it ("chief executive",
  "striker", "singer") -> person; "shares in", "the firm" -> organization; "based in", "city
  of" -> place; "the film", "the album" -> work; "who", "he said" after it -> person.
* **A given name** (Faker's first-name lists, ``core/data/given_names.txt``) as the first of
  two or three capitalised words -> person ("Lena Fisher"); a lone surname that a full name
  of the same text ends with -> person ("Luther" after "Martin Luther").

The entity types of the taxonomy are person, organization, place and work.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_DATA = Path(__file__).resolve().parents[1] / "data"
# Part of the annotation prompt version: bump when the rules or the name lists change.
TYPING_VERSION = "types-1"


@dataclass(frozen=True)
class Typing:
    """A name's type and the cue that set it."""

    type: str
    cue: str


@functools.cache
def _lines(name: str) -> frozenset[str]:
    path = _DATA / name
    return frozenset(
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    )


@functools.cache
def given_names() -> frozenset[str]:
    """First names (``core/data/given_names.txt``), minus words that are mostly not names."""
    return _lines("given_names.txt") - _NOT_GIVEN


def places() -> frozenset[str]:
    """Countries, states, regions, rivers and large cities (``core/data/places.txt``)."""
    return _lines("places.txt")


# First names that are far more often an ordinary word or a title at the start of a phrase.
_NOT_GIVEN = frozenset(
    [
        "Will",
        "May",
        "Mark",
        "Bill",
        "Rose",
        "Summer",
        "Hope",
        "Grace",
        "Joy",
        "Art",
        "Faith",
        "Sunny",
        "Guy",
        "Major",
        "King",
        "Prince",
        "Duke",
        "Queen",
        "Star",
        "Royal",
        "Page",
        "Young",
        "Long",
        "Price",
        "Chase",
        "Hunter",
        "Sterling",
        "Dean",
        "Earl",
        "Baron",
        "Justice",
        "Miles",
        "Rich",
        "Sky",
        "Storm",
        "Golden",
        "Iris",
        "Ivy",
        "Lily",
        "Daisy",
        "Dawn",
        "Eve",
        "Autumn",
        "April",
        "June",
        "August",
        "Christian",
        "Asia",
        "Paris",
        "Florence",
        "Georgia",
        "India",
        "Indiana",
        "Israel",
        "Jordan",
        "Milan",
        "Sydney",
        "Virginia",
        "Chad",
        "Oman",
        "Atlanta",
        "Brooklyn",
        "Santiago",
        "Montserrat",
        "Victoria",
        "Carolina",
        "Dakota",
        "Houston",
        "Austin",
        "Dallas",
    ]
)

# Nationality, language, religion and ethnonym words: adjectives, not entities.
_NOT_NAMES = frozenset(
    [
        "afghan",
        "african",
        "albanian",
        "american",
        "arab",
        "arabic",
        "argentine",
        "armenian",
        "asian",
        "australian",
        "austrian",
        "belgian",
        "brazilian",
        "british",
        "buddhist",
        "bulgarian",
        "canadian",
        "catholic",
        "chinese",
        "christian",
        "christians",
        "colombian",
        "croatian",
        "cuban",
        "czech",
        "danish",
        "dutch",
        "egyptian",
        "english",
        "european",
        "filipino",
        "finnish",
        "french",
        "gaelic",
        "georgian",
        "german",
        "greek",
        "haitian",
        "hebrew",
        "hindi",
        "hindu",
        "hungarian",
        "icelandic",
        "indian",
        "indonesian",
        "iranian",
        "iraqi",
        "irish",
        "islamic",
        "israeli",
        "italian",
        "jamaican",
        "japanese",
        "jewish",
        "jews",
        "kenyan",
        "korean",
        "kurdish",
        "latin",
        "latino",
        "lebanese",
        "libyan",
        "malaysian",
        "mexican",
        "mongol",
        "mongolian",
        "moroccan",
        "muslim",
        "muslims",
        "nigerian",
        "norman",
        "normans",
        "norwegian",
        "pakistani",
        "palestinian",
        "persian",
        "polish",
        "portuguese",
        "protestant",
        "protestants",
        "roman",
        "romanian",
        "russian",
        "saudi",
        "scottish",
        "serbian",
        "sikh",
        "slovak",
        "somali",
        "spanish",
        "sudanese",
        "swedish",
        "swiss",
        "syrian",
        "taiwanese",
        "thai",
        "tibetan",
        "turkish",
        "ukrainian",
        "vietnamese",
        "welsh",
        "western",
        "eastern",
        "northern",
        "southern",
    ]
)

_ORG_WORDS = frozenset(
    [
        "inc",
        "ltd",
        "plc",
        "llc",
        "corp",
        "corporation",
        "group",
        "bank",
        "party",
        "university",
        "college",
        "school",
        "council",
        "association",
        "union",
        "club",
        "fc",
        "afc",
        "commission",
        "ministry",
        "department",
        "agency",
        "company",
        "co",
        "airlines",
        "airways",
        "motors",
        "records",
        "studios",
        "institute",
        "foundation",
        "federation",
        "committee",
        "office",
        "police",
        "service",
        "court",
        "parliament",
        "government",
        "board",
        "league",
        "network",
        "networks",
        "telecom",
        "systems",
        "industries",
        "holdings",
        "trust",
        "fund",
        "organisation",
        "organization",
        "church",
        "museum",
        "broadcasting",
        "television",
        "tv",
        "radio",
        "times",
        "post",
        "press",
        "news",
        "journal",
        "society",
        "academy",
        "army",
        "navy",
        "force",
        "forces",
        "team",
        "united",
        "rovers",
        "athletic",
        "wanderers",
        "hospital",
        "labs",
        "laboratories",
        "pharmaceuticals",
        "electronics",
        "communications",
        "technologies",
        "software",
        "games",
        "entertainment",
        "media",
        "bureau",
        "authority",
        "assembly",
        "congress",
        "senate",
        "cabinet",
        "alliance",
        "institution",
        "commission",
        "exchange",
        "reserve",
    ]
)
_PLACE_WORDS = frozenset(
    [
        "river",
        "lake",
        "mountain",
        "mountains",
        "mount",
        "island",
        "islands",
        "street",
        "road",
        "avenue",
        "square",
        "bridge",
        "ocean",
        "sea",
        "bay",
        "coast",
        "valley",
        "desert",
        "forest",
        "park",
        "county",
        "province",
        "state",
        "republic",
        "kingdom",
        "city",
        "town",
        "village",
        "airport",
        "stadium",
        "station",
        "canyon",
        "peninsula",
        "gulf",
        "strait",
        "channel",
        "hills",
    ]
)
# "State" and "City" also end club and university names ("Ohio State", "Manchester City").
_AMBIGUOUS_PLACE_WORDS = frozenset(["state", "city", "park", "united"])
_HONORIFICS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "mister",
        "dr",
        "sir",
        "lord",
        "lady",
        "dame",
        "prof",
        "professor",
        "rev",
        "reverend",
        "saint",
        "st",
    ]
)
_PERSON_BEFORE = re.compile(
    r"\b(?:mister|mr|mrs|ms|miss|dr|sir|lord|lady|dame|president|vice president|minister|"
    r"prime minister|chancellor|secretary|coach|manager|boss|chief executive|chief|chairman|"
    r"chairwoman|director|singer|actor|actress|striker|captain|star|professor|judge|leader|"
    r"spokesman|spokeswoman|player|champion|chef|king|queen|prince|princess|pope|bishop|"
    r"senator|governor|mayor|general|colonel|author|writer|poet|painter|composer|inventor|"
    r"scientist|economist|analyst|host|presenter|comedian|rapper|guitarist|goalkeeper|"
    r"defender|midfielder|winger|batsman|bowler|keeper|founder|father|mother|son|daughter|"
    r"brother|sister|wife|husband|dear|my name is|i am|i'm|named|(?<!so-)called)\.?,?\s+$",
    re.IGNORECASE,
)
_PERSON_AFTER = re.compile(
    r"^(?:,? who\b|,? whose\b|,? aged\b|,? \d{2},|'s (?:wife|husband|son|daughter|father|"
    r"mother|brother|sister|family|career|death|birth)\b| (?:said|says|told|added|explained|"
    r"admitted|insisted|believes|thinks|was born|died)\b[^.]{0,40}\b(?:he|she|his|her)\b)",
    re.IGNORECASE,
)
_ORG_BEFORE = re.compile(
    r"\b(?:shares in|shares of|stake in|firm|company|group|carmaker|retailer|giant|airline|"
    r"bank|broadcaster|network|club|band|bookmaker|insurer|rivals?|joined|signed for|"
    r"sponsor|the party|party)\s+$",
    re.IGNORECASE,
)
_ORG_AFTER = re.compile(
    r"^(?:'s (?:chief executive|boss|chairman|shares|profits?|sales|board|spokesman|"
    r"spokeswoman|shareholders|customers|staff)\b|,? (?:the|a) (?:firm|company|group|bank|"
    r"club|network|broadcaster|band|retailer|carmaker)\b| (?:shares|Inc|plc|Ltd)\b)",
    re.IGNORECASE,
)
_PLACE_BEFORE = re.compile(
    r"\b(?:based in|city of|town of|capital of|born in|lives in|living in|moved to|"
    r"travelled to|traveled to|flew to|visit to|visited|north of|south of|east of|west of|"
    r"outside|region of|state of|streets of|people of)\s+$",
    re.IGNORECASE,
)
_WORK_BEFORE = re.compile(
    r"\b(?:film|movie|album|book|novel|song|single|show|series|play|musical|game|opera|"
    r"poem|painting|sitcom|programme|program)\s+[\"“']?$",
    re.IGNORECASE,
)


def _occurrences(name: str, text: str) -> list[re.Match[str]]:
    pattern = r"(?<!\w)" + r"\s+".join(re.escape(w) for w in name.split()) + r"(?!\w)"
    return list(re.finditer(pattern, text))


def type_entity(name: str, text: str) -> Typing | None:
    """The type of ``name`` in ``text`` and its cue, or None when nothing supports one.

    Args:
        name: A candidate name as written in the text.
        text: The whole transcript (every occurrence is context).
    """
    words = name.split()
    if not words:
        return None
    low = [w.lower().strip(".'’") for w in words]
    if len(words) == 1 and low[0] in _NOT_NAMES:
        return None
    if all(w in _NOT_NAMES for w in low):
        return None
    if not name.isupper() and re.search(rf"\b{re.escape(name.lower())}\b", text):
        # The text also writes it in lower case: ordinary words ("the industrial designer"),
        # not a name.
        return None
    if len(words) == 1 and (low[0] in _ORG_WORDS or low[0] in _PLACE_WORDS):
        return None  # "Committee", "Street": a word, not a name
    if len(words) > 1 and low[0] in _HONORIFICS:
        return Typing("person", f"honorific '{words[0]}'")
    if len(words) > 2 and _PERSON_BEFORE.search(" ".join(words[:-2]) + " "):
        return Typing("person", f"role '{' '.join(words[:-2])}'")
    org = next((w for w in low if w in _ORG_WORDS), None)
    place_word = next((w for w in low[1:] if w in _PLACE_WORDS), None)
    if place_word and place_word not in _AMBIGUOUS_PLACE_WORDS and not org:
        return Typing("place", f"place word '{place_word}'")
    if name in places() or " ".join(words) in places():
        return Typing("place", "a known country, region or city")
    if org:
        return Typing("organization", f"organisation word '{org}'")
    if name.isupper() and 3 <= len(name.replace(".", "")) <= 6:
        return Typing("organization", "an acronym")
    found = _occurrences(name, text)
    labels = sum(text[m.end() : m.end() + 1] == ":" for m in found)
    if found and labels * 2 >= len(found):
        return None  # mostly a speaker label ("Industrial Designer: ..."), a role
    for m in found:
        before = text[max(0, m.start() - 40) : m.start()]
        after = text[m.end() : m.end() + 60]
        if _WORK_BEFORE.search(before):
            return Typing("work", f"'{before.split()[-1]} {name}'")
        if _PERSON_BEFORE.search(before):
            return Typing("person", f"'{_tail(before)} {name}'")
        if _ORG_BEFORE.search(before):
            return Typing("organization", f"'{_tail(before)} {name}'")
        if _ORG_AFTER.search(after):
            return Typing("organization", f"'{name}{_head(after)}'")
        if _PLACE_BEFORE.search(before):
            return Typing("place", f"'{_tail(before)} {name}'")
        if _PERSON_AFTER.search(after):
            return Typing("person", f"'{name}{_head(after)}'")
    first = words[0]
    if 2 <= len(words) <= 3 and first in given_names() and not place_word:
        return Typing("person", f"given name '{first}'")
    if len(words) == 1:
        # A surname that a full name in the same text ends with ("Luther" / "Martin Luther").
        full = re.search(
            rf"\b([A-Z][a-z]+)(?:\s+[A-Z][a-z]+)?\s+{re.escape(name)}\b(?!\s+[A-Z])", text
        )
        if full and full.group(1) in given_names():
            return Typing("person", f"surname of '{full.group(0)}'")
    return None


def _tail(before: str) -> str:
    return " ".join(before.split()[-2:])


def _head(after: str) -> str:
    m = re.match(r"^('s \w+|,? \w+(?: \w+)?)", after)
    return m.group(1) if m else ""


def type_entities(names: Sequence[str], text: str) -> dict[str, Typing | None]:
    """:func:`type_entity` for several names of one text, sharing what a full name settles.

    A single word left untyped is a person when a person's full name in the same text starts
    or ends with it ("Wenger" and "Arsene" after "Arsene Wenger" was typed by a cue).
    """
    from core.annotate.llm_tags import entity_candidates

    out = {name: type_entity(name, text) for name in names}
    others = [c for c in entity_candidates(text, limit=60) if c not in out]
    typed = {**{c: type_entity(c, text) for c in others if len(c.split()) > 1}, **out}
    persons = [n for n, t in typed.items() if t is not None and t.type == "person"]
    for name, t in out.items():
        if t is not None or len(name.split()) != 1:
            continue
        full = next(
            (p for p in persons if len(p.split()) > 1 and name in (p.split()[0], p.split()[-1])),
            None,
        )
        if full is not None:
            out[name] = Typing("person", f"part of the person's name '{full}'")
    return out
