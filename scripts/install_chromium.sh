#!/bin/sh
# Install Debian's chromium for the browser check of `make test` (tests_browser/), where no
# Chromium or Chrome is found. `make chromium` calls this only when
# `scripts/check_book_browser.py --find-browser` finds none.
#
# apt-get install runs first without `apt-get update` (fast when the package lists are there);
# only if that fails are the lists updated and the install tried again. As root it runs
# directly, otherwise through sudo. Without apt-get, or without root and sudo, it stops with the
# command to run by hand. CHROMIUM=/path/to/chrome uses an existing browser instead.
set -eu

PACKAGE=chromium
HINT="install Chromium or Google Chrome yourself and rerun (or set CHROMIUM=/path/to/the/browser)"

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_chromium.sh: no apt-get on this system; $HINT" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install_chromium.sh: not root and no sudo: run as root" \
        "'apt-get install -y --no-install-recommends $PACKAGE', or $HINT" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
install_package() {
    $SUDO apt-get install -y --no-install-recommends "$PACKAGE"
}
echo "install_chromium.sh: installing Debian's $PACKAGE with ${SUDO:+sudo }apt-get"
if ! install_package; then
    echo "install_chromium.sh: retrying after apt-get update"
    if ! { $SUDO apt-get update && install_package; }; then
        echo "install_chromium.sh: could not install $PACKAGE; run" \
            "'${SUDO:+sudo }apt-get update && ${SUDO:+sudo }apt-get install -y" \
            "--no-install-recommends $PACKAGE', or $HINT" >&2
        exit 1
    fi
fi
