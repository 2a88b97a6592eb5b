#!/usr/bin/env bash
# Build, sign and package MediaMind.app on macOS (arm64 or x86_64; built on the same arch).
#
# Built and tested only on macOS (see docs/packaging.md): this repository's CI runs on Linux
# and has never executed it.
#
#   packaging/macos/build_app.sh            -> dist/MediaMind.app, dist/MediaMind-<v>-macos-<arch>.dmg
#
# Signing hooks (all optional; unsigned builds run after "Open" in the Finder's context menu):
#   MEDIAMIND_CODESIGN_IDENTITY   "Developer ID Application: ..." (PyInstaller signs every
#                                 binary with it and the hardened runtime + entitlements.plist)
#   MEDIAMIND_NOTARY_PROFILE      a `xcrun notarytool store-credentials` profile: the dmg is
#                                 notarized and stapled
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$here"
PY="${PY:-.venv/bin/python}"
arch="$(uname -m)"

# Icon: .icns from the 256 px PNG (sips and iconutil ship with macOS).
icons="packaging/icons"
if [ ! -f "$icons/mediamind.icns" ]; then
    set_dir="$(mktemp -d)/mediamind.iconset"
    mkdir -p "$set_dir"
    for size in 16 32 64 128 256; do
        sips -z "$size" "$size" "$icons/mediamind.png" --out "$set_dir/icon_${size}x${size}.png" >/dev/null
    done
    iconutil -c icns "$set_dir" -o "$icons/mediamind.icns"
fi

# llama.cpp on macOS: Metal and Accelerate are always present, so the default wheel is portable
# across Macs of the same architecture (GGML_NATIVE is off for Apple targets by default).
export MEDIAMIND_BUNDLE_MODELS="$here/build/bundle-models"
MEDIAMIND_MODELS="$MEDIAMIND_BUNDLE_MODELS" "$PY" -c \
    'from models.embedding.build import ensure_embedding_model; ensure_embedding_model()'
"$PY" -m PyInstaller --noconfirm --workpath build/pyinstaller --distpath dist packaging/mediamind.spec

version="$(dist/MediaMind.app/Contents/MacOS/mediamind --version | awk '{print $2}')"
dmg="dist/MediaMind-$version-macos-$arch.dmg"
packaging/macos/make_dmg.sh dist/MediaMind.app "$dmg"

if [ -n "${MEDIAMIND_CODESIGN_IDENTITY:-}" ]; then
    codesign --sign "$MEDIAMIND_CODESIGN_IDENTITY" --timestamp "$dmg"
    codesign --verify --deep --strict --verbose=2 dist/MediaMind.app
fi
if [ -n "${MEDIAMIND_NOTARY_PROFILE:-}" ]; then
    xcrun notarytool submit "$dmg" --keychain-profile "$MEDIAMIND_NOTARY_PROFILE" --wait
    xcrun stapler staple "$dmg"
fi
echo "$dmg"
