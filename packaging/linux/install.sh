#!/bin/sh
# Install the unpacked MediaMind bundle for the current user (no root, no network):
#   ~/.local/opt/MediaMind/    the app (this folder's MediaMind/ is copied there)
#   ~/.local/bin/mediamind     the command line
#   a desktop menu entry and its icon.
# Run ./install.sh --uninstall to remove them again (your library and models are kept).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
prefix="${PREFIX:-$HOME/.local}"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
app="$prefix/opt/MediaMind"
if [ "${1:-}" = "--uninstall" ]; then
    rm -rf "$app" "$prefix/bin/mediamind" "$data/applications/mediamind.desktop" \
        "$data/icons/hicolor/256x256/apps/mediamind.png"
    echo "MediaMind removed (the library in $data/MediaMind is kept)."
    exit 0
fi
mkdir -p "$prefix/opt" "$prefix/bin" "$data/applications" "$data/icons/hicolor/256x256/apps"
rm -rf "$app"
cp -a "$here/MediaMind" "$app"
ln -sfn "$app/mediamind" "$prefix/bin/mediamind"
sed "s|^Exec=mediamind|Exec=$app/mediamind|; s|^TryExec=mediamind|TryExec=$app/mediamind|" \
    "$here/mediamind.desktop" > "$data/applications/mediamind.desktop"
cp "$here/mediamind.png" "$data/icons/hicolor/256x256/apps/mediamind.png"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$data/applications" || true
echo "MediaMind installed in $app; start it from the menu or run: mediamind gui"
