#!/usr/bin/env bash
# Installs the system packages MediaMind needs (the README's list), once per machine.
#
# Debian/Ubuntu: installs what is missing with `apt-get install -y` when it can (as root, or
# with sudo that asks no password); exit 0 when all are there. Otherwise it stops with the exact command to run. Elsewhere
# it stops naming the packages. MEDIAMIND_SKIP_SYSTEM_PACKAGES=1 goes on without them (the
# tests that need them then skip, naming the missing part; under CI=true they fail); it exits
# 3 then.
set -euo pipefail

PACKAGES=(espeak-ng libpulse0 libxkbcommon-x11-0 libxcb-cursor0
          libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxcb-xkb1)

if [ "${1:-}" = "--list" ]; then
    echo "${PACKAGES[@]}"
    exit 0
fi

skip() {
    if [ "${MEDIAMIND_SKIP_SYSTEM_PACKAGES:-}" = "1" ] && [ "${CI:-}" != "true" ]; then
        echo "system packages: going on without them (MEDIAMIND_SKIP_SYSTEM_PACKAGES=1)" >&2
        exit 3  # not installed: the caller writes no stamp, so the next run checks again
    fi
    exit 1
}

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    echo "system packages: not a Debian/Ubuntu system; install the equivalents of:" >&2
    echo "    ${PACKAGES[*]}" >&2
    echo "then run make again (or set MEDIAMIND_SKIP_SYSTEM_PACKAGES=1 to go on without them)." >&2
    skip
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "system packages missing: ${missing[*]}. Run:" >&2
    echo "    sudo apt-get install -y ${missing[*]}" >&2
    echo "then run make again (or set MEDIAMIND_SKIP_SYSTEM_PACKAGES=1 to go on without them)." >&2
    skip
fi
echo "system packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
