#!/usr/bin/env bash
# Pack an .app into a compressed dmg with an /Applications link (macOS only: hdiutil).
# Usage: packaging/macos/make_dmg.sh dist/MediaMind.app dist/MediaMind-<v>-macos-<arch>.dmg
set -euo pipefail
app="$1"
out="$2"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
cp -R "$app" "$stage/"
ln -s /Applications "$stage/Applications"
rm -f "$out"
hdiutil create -volname "MediaMind" -srcfolder "$stage" -ov -format UDZO "$out"
