"""``mediamind speakers``: list, rename and merge speaker profiles."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _library(args: argparse.Namespace) -> Any:
    from core.cli import _library as open_library

    return open_library(args)


def cmd_speakers(args: argparse.Namespace) -> int:
    """List profiles (id, name, items, seconds), or rename / merge them."""
    from core.speakers.profiles import list_profiles, merge_profiles, rename_profile
    from core.transcript import format_timestamp

    with _library(args) as lib:
        if args.action == "rename":
            profile = rename_profile(lib.db, args.id, args.name)
            _out(f"speaker {profile.id} is now {profile.name!r} ({profile.items} items)")
            return 0
        if args.action == "merge":
            profile = merge_profiles(lib.db, args.keep, args.other)
            _out(
                f"merged speaker {args.other} into {profile.id} ({profile.name}, "
                f"{profile.items} items)"
            )
            return 0
        profiles = list_profiles(lib.db)
    if args.json:
        _out(json.dumps([p.to_json() for p in profiles], ensure_ascii=False, indent=2))
        return 0
    if not profiles:
        _out("No speakers yet: they are found when audio or video is ingested.")
        return 0
    for p in profiles:
        _out(f"{p.id:>4}  {p.name:<24} {p.items:>4} items  {format_timestamp(p.seconds):>8}")
    return 0


def register(sub: Any) -> None:
    """Add the ``speakers`` command to the CLI's subparsers."""
    p = sub.add_parser("speakers", help="list, rename and merge the voices found in the library")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_speakers, action="list")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    r = actions.add_parser("rename", help="name a speaker: speakers rename ID NAME")
    r.add_argument("id", type=int, metavar="ID")
    r.add_argument("name", metavar="NAME")
    m = actions.add_parser("merge", help="same person: speakers merge KEEP_ID OTHER_ID")
    m.add_argument("keep", type=int, metavar="KEEP_ID")
    m.add_argument("other", type=int, metavar="OTHER_ID")
