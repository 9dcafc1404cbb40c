#!/usr/bin/env bash
# Installs everything deepgrade needs on a fresh Debian machine with Python 3.11:
# the system packages the sandbox needs (bubblewrap) and the browser tests need (chromium,
# chromium-driver), then a virtual environment in .venv
# holding deepgrade and its Python dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_apt=()
command -v bwrap >/dev/null 2>&1 || need_apt+=(bubblewrap)
command -v git >/dev/null 2>&1 || need_apt+=(git)
# Headless Chromium and its WebDriver: tests/report/test_browser.py renders the reports in them.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
command -v "$PYTHON" >/dev/null 2>&1 || need_apt+=(python3.11)
if command -v "$PYTHON" >/dev/null 2>&1 && ! "$PYTHON" -c "import ensurepip, venv" >/dev/null 2>&1; then
    need_apt+=(python3.11-venv)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "deepgrade setup: installing system packages: ${need_apt[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    echo "deepgrade setup: creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
# The notebooks run on the venv's own kernel, registered inside the venv (not the user's ~/.local).
.venv/bin/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (deepgrade)" >/dev/null

.venv/bin/deepgrade doctor
echo "deepgrade setup: done. Activate with: source .venv/bin/activate"
