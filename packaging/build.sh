#!/usr/bin/env bash
# Build the one-folder app dist/MediaMind/ with PyInstaller (Linux; macOS works the same way,
# see docs/packaging.md). Steps:
#   1. the int8 embedding model is built into build/bundle-models/ (shipped prebuilt, so the
#      first start of the app builds nothing);
#   2. llama.cpp: the portable wheel's libraries (.cache/wheels, packaging/build_llama_wheel.sh)
#      when it exists, else the venv's own llama_cpp (built for this CPU only; fine for tests,
#      not for shipping: PORTABLE=1 makes its absence an error);
#   3. pyinstaller packaging/mediamind.spec (which also collects the licence files);
#   4. identical copies of shared libraries inside llama_cpp/lib become symlinks;
#   5. debug sections are stripped from shared libraries that ship them.
#
# Usage: packaging/build.sh [--dist DIR] [--work DIR]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
PY="${PY:-$here/.venv/bin/python}"
dist="$here/dist"
work="$here/build/pyinstaller"
while [ $# -gt 0 ]; do
    case "$1" in
        --dist) dist="$2"; shift 2 ;;
        --work) work="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
start=$(date +%s)

# 1. prebuilt embedding model, built afresh each time so that it always matches core/search/embedding.py
#    (models.embedding.build needs the build extra: onnx)
export MEDIAMIND_BUNDLE_MODELS="$here/build/bundle-models"
rm -rf "$MEDIAMIND_BUNDLE_MODELS"
MEDIAMIND_MODELS="$MEDIAMIND_BUNDLE_MODELS" "$PY" -c \
    'from models.embedding.build import ensure_embedding_model; print("embedding model:", ensure_embedding_model())'

# 2. llama.cpp libraries
version="$("$PY" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))')"
wheel="$(ls .cache/wheels/llama_cpp_python-"$version"-*.whl 2>/dev/null | head -n1 || true)"
if [ -n "$wheel" ]; then
    portable="$here/build/llama-portable"
    rm -rf "$portable" && mkdir -p "$portable"
    "$PY" -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [z.extract(n, sys.argv[2]) for n in z.namelist() if n.startswith("llama_cpp/lib/")]' "$wheel" "$portable"
    export MEDIAMIND_LLAMA_LIB="$portable/llama_cpp/lib"
    echo "llama.cpp: portable build from $wheel"
elif [ "${PORTABLE:-0}" = 1 ]; then
    echo "no portable llama-cpp-python $version wheel in .cache/wheels: run packaging/build_llama_wheel.sh" >&2
    exit 1
else
    unset MEDIAMIND_LLAMA_LIB
    echo "llama.cpp: the venv's own build (not portable: runs on CPUs like this one only)"
fi

# 3. PyInstaller
export MEDIAMIND_LICENSES="$here/build/licenses"
"$PY" -m PyInstaller --noconfirm --log-level WARN \
    --workpath "$work" --distpath "$dist" packaging/mediamind.spec

# 4. byte-identical shared libraries -> symlinks (the wheel stores libggml.so and
#    libggml.so.0 as two copies)
lib="$dist/MediaMind/_internal/llama_cpp/lib"
if [ -d "$lib" ]; then
    (cd "$lib" && for f in *.so.*; do
        base="${f%%.so.*}.so"
        if [ -f "$base" ] && [ ! -L "$base" ] && cmp -s "$f" "$base"; then
            rm "$base" && ln -s "$f" "$base"
        fi
    done)
fi
# 5. debug information: several wheels ship their extension modules unstripped (CTranslate2's
#    68 MB _ext is 1.7 MB without it, libpython 23 -> 6 MB, PyAV's modules 6x smaller). Only the
#    .debug_* sections go (--strip-debug keeps every symbol), and only where present.
if command -v strip >/dev/null && command -v readelf >/dev/null; then
    find "$dist/MediaMind/_internal" -type f \( -name '*.so' -o -name '*.so.*' \) -print0 |
        while IFS= read -r -d '' f; do
            if readelf -S "$f" 2>/dev/null | grep '\.debug_info' >/dev/null; then
                strip --strip-debug "$f"
            fi
        done
fi
{
    echo "mediamind $("$PY" -c 'import core; print(core.__version__)')"
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -srm)"
    echo "python $("$PY" -c 'import platform; print(platform.python_version())')"
    if [ -n "${MEDIAMIND_LLAMA_LIB:-}" ]; then
        echo "llama-cpp-python $version portable: GGML_NATIVE=OFF GGML_BACKEND_DL=ON GGML_CPU_ALL_VARIANTS=ON ($(basename "$wheel"))"
    else
        echo "llama-cpp-python $version from the build venv (native CPU build, not portable)"
    fi
} > "$dist/MediaMind/BUILD-INFO.txt"
ln -sfn _internal/licenses "$dist/MediaMind/licenses"
echo "built $dist/MediaMind ($(du -sh "$dist/MediaMind" | cut -f1)) in $(( $(date +%s) - start ))s"
