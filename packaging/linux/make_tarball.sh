#!/usr/bin/env bash
# Pack dist/MediaMind into the Linux artifact:
#   dist/MediaMind-<version>-linux-x86_64.tar.gz
#     MediaMind-<version>/MediaMind/         the one-folder app
#     MediaMind-<version>/mediamind.desktop  menu entry
#     MediaMind-<version>/mediamind.png      icon
#     MediaMind-<version>/install.sh         per-user install (~/.local), --uninstall
#     MediaMind-<version>/README.txt
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dist="${1:-$here/dist}"
app="$dist/MediaMind"
[ -x "$app/mediamind" ] || { echo "no bundle in $app: run packaging/build.sh" >&2; exit 1; }
version="$("$app/mediamind" --version | awk '{print $2}')"
name="MediaMind-$version"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/$name"
cp -a "$app" "$stage/$name/MediaMind"
cp "$here/packaging/linux/mediamind.desktop" "$here/packaging/linux/install.sh" "$stage/$name/"
cp "$here/packaging/icons/mediamind.png" "$stage/$name/"
cat > "$stage/$name/README.txt" <<TXT
MediaMind $version for Linux x86-64 (glibc 2.36 or newer).

Run it in place:       ./MediaMind/mediamind gui     (or ./MediaMind/mediamind --help)
Install for your user: ./install.sh                  (menu entry + ~/.local/bin/mediamind)
Remove:                ./install.sh --uninstall

Everything runs on this computer; MediaMind never uses the network.
Licences of the bundled libraries and models: MediaMind/licenses/THIRD-PARTY-NOTICES.md
TXT
out="$dist/$name-linux-x86_64.tar.gz"
tar -C "$stage" -czf "$out" "$name"
echo "$out ($(du -h "$out" | cut -f1))"
