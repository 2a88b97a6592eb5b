#!/usr/bin/env bash
# Build a portable llama-cpp-python wheel for the MediaMind bundle.
#
# The wheel pip builds by default compiles llama.cpp with -march=native (GGML_NATIVE=ON): it
# runs only on CPUs with the build machine's instruction sets (AVX-512 here) and dies with
# SIGILL elsewhere. This script builds it with
#   GGML_NATIVE=OFF GGML_BACKEND_DL=ON GGML_CPU_ALL_VARIANTS=ON
# so that the CPU backend is a set of libggml-cpu-<variant>.so files (x86-64 baseline, SSE4.2,
# AVX, AVX2, AVX-512, ...) of which ggml loads the best one for the running CPU at start-up
# (core/llm.py calls ggml_backend_load_all_from_path on the package's lib/ directory).
#
# Two patches to the sdist are needed (llama-cpp-python 0.3.x):
#   1. its CMakeLists.txt installs the target `ggml-cpu` only; with all variants the targets
#      are `ggml-cpu-<variant>`, which would be built and then left out of the wheel;
#   2. (optional, LLAMA_CPU_VARIANTS) the x86 variant list is trimmed: every variant compiles
#      the whole CPU backend again (~1-2 min each on 2 cores), and upstream lists 14.
#
# pip caches built wheels keyed by the sdist, not by CMAKE_ARGS, so the build runs with
# --no-cache-dir into its own directory; `make package` installs from there.
#
# Usage: packaging/build_llama_wheel.sh [OUT_DIR]   (default .cache/wheels)
#   LLAMA_CPP_VERSION   version to build (default: the one installed in .venv, else 0.3.36)
#   LLAMA_CPU_VARIANTS  space-separated x86 variants to keep, or "all" (default below)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
PY="${PY:-.venv/bin/python}"
out="${1:-.cache/wheels}"
work=".cache/llama-build"
version="${LLAMA_CPP_VERSION:-$("$PY" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))' 2>/dev/null || echo 0.3.36)}"
# x64 is the fallback for any x86-64 CPU; the rest cover the common instruction-set steps
# (SSE4.2, AVX, AVX2+FMA, AVX-512, AVX-512 VNNI/VBMI, AVX-VNNI, AMD Zen 4).
variants="${LLAMA_CPU_VARIANTS:-x64 sse42 sandybridge haswell skylakex icelake alderlake zen4}"

mkdir -p "$out" "$work"
if ls "$out"/llama_cpp_python-"$version"-*.whl >/dev/null 2>&1; then
    echo "portable wheel already built: $(ls "$out"/llama_cpp_python-"$version"-*.whl)"
    exit 0
fi

sdist="$work/llama_cpp_python-$version.tar.gz"
if [ ! -f "$sdist" ]; then
    "$PY" -m pip download --no-deps --no-binary :all: --no-cache-dir \
        -d "$work" "llama-cpp-python==$version"
fi
src="$work/llama_cpp_python-$version"
rm -rf "$src"
tar -xzf "$sdist" -C "$work"

"$PY" - "$src" "$variants" <<'EOF'
import re
import sys
from pathlib import Path

src, variants = Path(sys.argv[1]), sys.argv[2].split()

top = src / "CMakeLists.txt"
text = top.read_text()
anchor = "    llama_cpp_python_install_target(ggml-cpu)\n"
if anchor not in text:
    sys.exit("llama-cpp-python CMakeLists.txt changed: cannot add the CPU variant targets")
names = (
    "x64 sse42 sandybridge ivybridge piledriver haswell skylakex cannonlake cascadelake "
    "icelake cooperlake zen4 alderlake sapphirerapids"
)
extra = f"    foreach(variant {names})\n        llama_cpp_python_install_target(ggml-cpu-${{variant}})\n    endforeach()\n"
top.write_text(text.replace(anchor, anchor + extra))

if variants != ["all"]:
    ggml = src / "vendor/llama.cpp/ggml/src/CMakeLists.txt"
    lines = ggml.read_text().splitlines(keepends=True)
    kept = []
    for line in lines:
        m = re.match(r"\s*ggml_add_cpu_backend_variant\((\w+)", line)
        if m and m.group(1) in names.split() and m.group(1) not in variants:
            line = "# (trimmed for the MediaMind bundle) " + line.lstrip()
        kept.append(line)
    ggml.write_text("".join(kept))
print("patched", src)
EOF

export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON ${CMAKE_ARGS_EXTRA:-}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
echo "building llama-cpp-python $version with CMAKE_ARGS=$CMAKE_ARGS (variants: $variants)"
start=$(date +%s)
"$PY" -m pip wheel --no-deps --no-cache-dir -w "$out" "$src"
echo "built in $(( $(date +%s) - start ))s: $(ls "$out"/llama_cpp_python-"$version"-*.whl)"
