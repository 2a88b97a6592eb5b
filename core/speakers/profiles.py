"""Speaker profiles: voices known across the library, matched item by item.

When an item is diarized, each of its voices (a cluster centroid) is compared with every
profile; the best pairs at or above :data:`MATCH_THRESHOLD` cosine are matched one-to-one
(two voices of one item never share a profile), the rest become new profiles. An unnamed
profile's centroid follows the voices matched to it (seconds-weighted mean); a profile the
user named is fixed: ingest matches voices to it but never changes its name or centroid, and
never merges or removes it. The user renames and merges profiles (``mediamind speakers``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from core.errors import NotFoundError, UsageError
from core.store import Database, utcnow

if TYPE_CHECKING:
    from core.speakers.diarize import SpeakerCluster

# Cosine between a voice's centroid and a profile's at which they are taken as the same person.
# Calibrated with ``python -m bench.speakers --tune`` on the tuning split (docs/speakers.md):
# there the closest different voices scored 0.805 and the least alike same voice 0.847; this
# is the middle of that gap.
MATCH_THRESHOLD = 0.825


@dataclass(frozen=True)
class SpeakerProfile:
    """A profile as listed by ``mediamind speakers``."""

    id: int
    name: str
    named: bool
    items: int
    seconds: float
    created_at: str

    def to_json(self) -> dict[str, Any]:
        """The fields of ``mediamind speakers --json``."""
        return {
            "id": self.id,
            "name": self.name,
            "named": self.named,
            "items": self.items,
            "seconds": round(self.seconds, 1),
            "created_at": self.created_at,
        }


def display_name(profile_id: int, name: str | None) -> str:
    """A profile's name, or the stable default ``Speaker <id>``."""
    return name if name else f"Speaker {profile_id}"


def _vec(blob: bytes) -> npt.NDArray[np.float32]:
    return np.frombuffer(blob, dtype=np.float32)


def _unit(v: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return np.asarray(v / max(float(np.linalg.norm(v)), 1e-12), dtype=np.float32)


def store_item_speakers(
    db: Database,
    item_id: int,
    voices: list[SpeakerCluster],
    threshold: float = MATCH_THRESHOLD,
) -> dict[int, int]:
    """Match an item's voices to profiles (making new ones) and record them, atomically.

    Replaces what the item had before (a re-ingest); unnamed profiles left with no item are
    removed, named ones always stay.

    Returns:
        Item-local label -> profile id.
    """
    with db.atomic():
        db.execute("DELETE FROM item_speakers WHERE media_id=?", (item_id,))
        rows = db.query("SELECT id, name, centroid, seconds FROM speaker_profiles ORDER BY id")
        mapping: dict[int, int] = {}
        if rows and voices:
            profiles = np.stack([_vec(r["centroid"]) for r in rows])
            cents = np.stack([v.centroid for v in voices]).astype(np.float32)
            sim = cents @ profiles.T
            pairs = sorted(
                ((float(sim[i, j]), i, j) for i in range(len(voices)) for j in range(len(rows))),
                reverse=True,
            )
            used_v: set[int] = set()
            used_p: set[int] = set()
            for s, i, j in pairs:
                if s < threshold:
                    break
                if i in used_v or j in used_p:
                    continue
                used_v.add(i)
                used_p.add(j)
                row, voice = rows[j], voices[i]
                mapping[voice.label] = int(row["id"])
                if row["name"] is None:
                    total = float(row["seconds"]) + voice.seconds
                    weight = float(row["seconds"])
                    merged = _unit(_vec(row["centroid"]) * weight + voice.centroid * voice.seconds)
                    db.execute(
                        "UPDATE speaker_profiles SET centroid=?, seconds=? WHERE id=?",
                        (merged.tobytes(), total, row["id"]),
                    )
        now = utcnow()
        for voice in voices:
            if voice.label not in mapping:
                db.execute(
                    "INSERT INTO speaker_profiles (name, centroid, seconds, created_at) "
                    "VALUES (NULL, ?, ?, ?)",
                    (_unit(voice.centroid).tobytes(), voice.seconds, now),
                )
                mapping[voice.label] = db.last_insert_rowid()
        db.executemany(
            "INSERT INTO item_speakers (media_id, label, profile_id, centroid, seconds) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (item_id, v.label, mapping[v.label], _unit(v.centroid).tobytes(), v.seconds)
                for v in voices
            ],
        )
        remove_orphans(db)
    return mapping


def remove_orphans(db: Database) -> None:
    """Delete unnamed profiles that no item uses any more (named ones are the user's)."""
    db.execute(
        "DELETE FROM speaker_profiles WHERE name IS NULL AND id NOT IN "
        "(SELECT profile_id FROM item_speakers)"
    )


def copy_item_speakers(db: Database, source_id: int, item_id: int) -> None:
    """Give ``item_id`` the same voices as ``source_id`` (a transcript reused for a copy)."""
    with db.atomic():
        db.execute("DELETE FROM item_speakers WHERE media_id=?", (item_id,))
        db.execute(
            "INSERT INTO item_speakers (media_id, label, profile_id, centroid, seconds) "
            "SELECT ?, label, profile_id, centroid, seconds FROM item_speakers WHERE media_id=?",
            (item_id, source_id),
        )


def speaker_names(db: Database, item_id: int) -> dict[int, str]:
    """Item-local label -> the speaker's library-wide display name."""
    rows = db.query(
        "SELECT s.label, p.id, p.name FROM item_speakers s "
        "JOIN speaker_profiles p ON p.id = s.profile_id WHERE s.media_id=?",
        (item_id,),
    )
    return {int(r["label"]): display_name(int(r["id"]), r["name"]) for r in rows}


def list_profiles(db: Database) -> list[SpeakerProfile]:
    """Every profile with the number of items it speaks in and its seconds of speech."""
    rows = db.query(
        "SELECT p.id, p.name, p.created_at, count(DISTINCT s.media_id) AS items, "
        "coalesce(sum(s.seconds), 0) AS seconds FROM speaker_profiles p "
        "LEFT JOIN item_speakers s ON s.profile_id = p.id GROUP BY p.id ORDER BY p.id"
    )
    return [
        SpeakerProfile(
            int(r["id"]),
            display_name(int(r["id"]), r["name"]),
            r["name"] is not None,
            int(r["items"]),
            float(r["seconds"]),
            str(r["created_at"]),
        )
        for r in rows
    ]


def _get(db: Database, profile_id: int) -> dict[str, Any]:
    row = db.query_one("SELECT * FROM speaker_profiles WHERE id=?", (profile_id,))
    if row is None:
        raise NotFoundError(
            f"There is no speaker {profile_id}.",
            fix="Run 'mediamind speakers' to list the speakers and their ids.",
        )
    return row


def find_profile(db: Database, name: str) -> int:
    """The id of the profile shown as ``name`` (case-insensitive; ``Speaker 3`` works too).

    Raises:
        NotFoundError: No speaker has that name.
    """
    wanted = name.strip().casefold()
    for p in list_profiles(db):
        if p.name.casefold() == wanted:
            return p.id
    raise NotFoundError(
        f"There is no speaker called {name!r}.",
        fix="Run 'mediamind speakers' to list the speakers and their names.",
    )


def rename_profile(db: Database, profile_id: int, name: str) -> SpeakerProfile:
    """Name a profile; every item it speaks in shows the name from now on.

    Raises:
        NotFoundError: There is no such profile.
        UsageError: The name is empty, looks like another profile's default, or is taken.
    """
    clean = " ".join(name.split())
    if not clean:
        raise UsageError("A speaker's name cannot be empty.", fix="Give a name, e.g. 'Dana'.")
    default = clean.casefold().startswith("speaker ") and clean[8:].strip().isdigit()
    if default and int(clean[8:]) != profile_id:
        raise UsageError(
            f"{clean!r} is the default name of another speaker.",
            fix="Choose a different name.",
        )
    with db.atomic():
        _get(db, profile_id)
        taken = db.query_one(
            "SELECT id FROM speaker_profiles WHERE name = ? COLLATE NOCASE AND id != ?",
            (clean, profile_id),
        )
        if taken is not None:
            raise UsageError(
                f"Speaker {taken['id']} is already called {clean!r}.",
                fix=f"If they are the same person: mediamind speakers merge {taken['id']} "
                f"{profile_id}.",
            )
        db.execute(
            "UPDATE speaker_profiles SET name=?, named_at=? WHERE id=?",
            (clean, utcnow(), profile_id),
        )
    return next(p for p in list_profiles(db) if p.id == profile_id)


def merge_profiles(db: Database, keep: int, other: int) -> SpeakerProfile:
    """Make ``other`` part of ``keep``: its items move over and ``other`` is deleted.

    The kept profile keeps its name, or takes ``other``'s when it had none; its centroid
    becomes the seconds-weighted mean of both.

    Raises:
        NotFoundError: Either profile does not exist.
        UsageError: Both ids are the same.
    """
    if keep == other:
        raise UsageError(f"Cannot merge speaker {keep} with itself.", fix="Give two different ids.")
    with db.atomic():
        a, b = _get(db, keep), _get(db, other)
        wa, wb = max(float(a["seconds"]), 1e-3), max(float(b["seconds"]), 1e-3)
        centroid = _unit(_vec(a["centroid"]) * wa + _vec(b["centroid"]) * wb)
        name = a["name"] if a["name"] is not None else b["name"]
        db.execute("UPDATE item_speakers SET profile_id=? WHERE profile_id=?", (keep, other))
        db.execute("DELETE FROM speaker_profiles WHERE id=?", (other,))
        db.execute(
            "UPDATE speaker_profiles SET name=?, centroid=?, seconds=?, "
            "named_at=coalesce(named_at, ?) WHERE id=?",
            (name, centroid.tobytes(), wa + wb, b["named_at"], keep),
        )
    return next(p for p in list_profiles(db) if p.id == keep)


def split_profile(db: Database, profile_id: int, item_id: int) -> SpeakerProfile:
    """Give the voice of ``profile_id`` in item ``item_id`` a profile of its own.

    For two people the library took as one: the item's voice becomes a new, unnamed profile
    (its centroid that voice's); an unnamed original profile's centroid is recomputed from the
    voices it keeps, a named one stays as the user set it.

    Raises:
        NotFoundError: No such profile, or it does not speak in that item.
        UsageError: The item is the profile's only item (there is nothing to split off).
    """
    with db.atomic():
        original = _get(db, profile_id)
        voices = db.query(
            "SELECT media_id, label, centroid, seconds FROM item_speakers WHERE profile_id=?",
            (profile_id,),
        )
        moving = [v for v in voices if int(v["media_id"]) == item_id]
        staying = [v for v in voices if int(v["media_id"]) != item_id]
        if not moving:
            raise NotFoundError(
                f"Speaker {profile_id} does not speak in item {item_id}.",
                fix=f"Run 'mediamind transcript {item_id}' to see who speaks there.",
            )
        if not staying:
            raise UsageError(
                f"Item {item_id} is the only item of speaker {profile_id}; there is nothing to "
                "split off.",
                fix="Rename the speaker instead: mediamind speakers rename ID NAME.",
            )

        def mean(rows: list[dict[str, Any]]) -> tuple[npt.NDArray[np.float32], float]:
            weights = [max(float(r["seconds"]), 1e-3) for r in rows]
            total = sum(_vec(r["centroid"]) * w for r, w in zip(rows, weights, strict=True))
            return _unit(np.asarray(total, dtype=np.float32)), sum(weights)

        centroid, seconds = mean(moving)
        db.execute(
            "INSERT INTO speaker_profiles (name, centroid, seconds, created_at) "
            "VALUES (NULL, ?, ?, ?)",
            (centroid.tobytes(), seconds, utcnow()),
        )
        new_id = db.last_insert_rowid()
        db.execute(
            "UPDATE item_speakers SET profile_id=? WHERE profile_id=? AND media_id=?",
            (new_id, profile_id, item_id),
        )
        if original["name"] is None:
            kept, kept_seconds = mean(staying)
            db.execute(
                "UPDATE speaker_profiles SET centroid=?, seconds=? WHERE id=?",
                (kept.tobytes(), kept_seconds, profile_id),
            )
    return next(p for p in list_profiles(db) if p.id == new_id)


def chunk_speakers(db: Database, chunk_ids: list[int]) -> dict[int, list[str]]:
    """Chunk id -> its speakers' names, the one with most speech first."""
    if not chunk_ids:
        return {}
    rows = db.query(
        "SELECT c.id AS chunk_id, p.id AS pid, p.name, sum(s.end - s.start) AS secs "
        "FROM chunks c JOIN segments s ON s.media_id = c.media_id "
        "AND s.idx BETWEEN c.first_segment AND c.last_segment "
        "JOIN item_speakers i ON i.media_id = c.media_id AND i.label = s.speaker "
        "JOIN speaker_profiles p ON p.id = i.profile_id "
        f"WHERE c.id IN ({','.join('?' * len(chunk_ids))}) "
        "GROUP BY c.id, p.id ORDER BY c.id, secs DESC",
        chunk_ids,
    )
    out: dict[int, list[str]] = {}
    for r in rows:
        out.setdefault(int(r["chunk_id"]), []).append(display_name(int(r["pid"]), r["name"]))
    return out


def chunk_has_speaker(db: Database, chunk_ids: list[int], profile_ids: tuple[int, ...]) -> set[int]:
    """The chunks among ``chunk_ids`` where one of ``profile_ids`` speaks."""
    if not chunk_ids or not profile_ids:
        return set()
    rows = db.query(
        "SELECT DISTINCT c.id FROM chunks c JOIN segments s ON s.media_id = c.media_id "
        "AND s.idx BETWEEN c.first_segment AND c.last_segment "
        "JOIN item_speakers i ON i.media_id = c.media_id AND i.label = s.speaker "
        f"WHERE c.id IN ({','.join('?' * len(chunk_ids))}) "
        f"AND i.profile_id IN ({','.join('?' * len(profile_ids))})",
        [*chunk_ids, *profile_ids],
    )
    return {int(r["id"]) for r in rows}


# Verbs of saying: "What did Dana say about...", "Dana mentioned", "does Dana think".
_SAYING = (
    "say|says|said|saying|think|thinks|thought|tell|tells|told|mention|mentions|mentioned|"
    "explain|explains|explained|propose|proposes|proposed|suggest|suggests|suggested|argue|"
    "argues|argued|talk|talks|talked|announce|announces|announced|promise|promises|promised|"
    "report|reports|reported|claim|claims|claimed|describe|describes|described|believe|"
    "believes|feel|feels|felt|ask|asks|asked|answer|answers|answered|want|wants|wanted"
)


def speakers_in_question(db: Database, question: str) -> tuple[int, ...]:
    """The profiles whose own words a question asks for.

    "What did Dana say about the budget?", "Dana mentioned...", "according to Dana", "Dana's
    view": the question is about what that person said, so answers come from their speech
    only. A name merely mentioned ("What was said about Dana?") restricts nothing.
    """
    found: list[int] = []
    for p in list_profiles(db):
        name = re.escape(p.name)
        patterns = (
            rf"\b{name}\b(?:\s+\w+)?\s+(?:{_SAYING})\b",  # "Dana (really) said"
            rf"\baccording\s+to\s+{name}\b",
            rf"\b{name}(?:'s|\u2019s)\s+(?:view|views|opinion|point|position|take|answer|words)",
        )
        if any(re.search(pat, question, re.IGNORECASE) for pat in patterns):
            found.append(p.id)
    return tuple(found)


def without_speaker_names(db: Database, question: str, profile_ids: tuple[int, ...]) -> str:
    """``question`` with the names of ``profile_ids`` (and their "'s") taken out."""
    for p in list_profiles(db):
        if p.id in profile_ids:
            name = re.escape(p.name)
            question = re.sub(rf"\b{name}(?:'s|\u2019s)?\b", " ", question, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", question).strip()


def speaker_spans(
    db: Database, media_ids: Iterable[int], profile_ids: tuple[int, ...]
) -> dict[int, list[tuple[float, float]]]:
    """Per item, the (start, end) of each segment spoken by one of ``profile_ids``."""
    ids = sorted(set(media_ids))
    if not ids or not profile_ids:
        return {}
    rows = db.query(
        "SELECT s.media_id, s.start, s.end FROM segments s "
        "JOIN item_speakers i ON i.media_id = s.media_id AND i.label = s.speaker "
        f"WHERE s.media_id IN ({','.join('?' * len(ids))}) "
        f"AND i.profile_id IN ({','.join('?' * len(profile_ids))}) ORDER BY s.media_id, s.start",
        [*ids, *profile_ids],
    )
    out: dict[int, list[tuple[float, float]]] = {}
    for r in rows:
        out.setdefault(int(r["media_id"]), []).append((float(r["start"]), float(r["end"])))
    return out


def spoken_by(spans: list[tuple[float, float]], start: float, end: float) -> bool:
    """Whether the sentence at ``start``-``end`` is spoken within ``spans``.

    Speech recognition can run one sentence on across a change of speaker (no full stop where
    the second voice begins), so a sentence belongs to the voice that starts it, or to one
    that speaks most of it.
    """
    if any(a <= start < b for a, b in spans):
        return True
    inside = sum(max(0.0, min(b, end) - max(a, start)) for a, b in spans)
    return end > start and inside >= 0.5 * (end - start)
