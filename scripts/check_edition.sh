#!/usr/bin/env bash
# Build the student edition (camp release), install it into a fresh Python 3.12 virtual
# environment with one pip command, and grade Lecture 01 from a student's own folder, away from
# any checkout: the solved file must get full marks, the untouched exercise zero.
# Usage: scripts/check_edition.sh [PYTHON3.12]   (default: python3.12 on PATH, else pyenv's)
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=3 MPLBACKEND=Agg
unset CAMP_ROOT CAMP_QUIZ_DIR PYTHONPATH
# A pyenv shim may exist without that version being active: try each candidate.
python=""
for candidate in ${1:-} "$(command -v python3.12 || true)" \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 /root/.pyenv/versions/3.12*/bin/python3.12; do
    if [ -n "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
        python="$candidate"
        break
    fi
done
if [ -z "$python" ]; then
    echo "error: no Python 3.12 found; pass its path: scripts/check_edition.sh /path/to/python3.12" >&2
    exit 1
fi
start=$(date +%s)
work=$(mktemp -d)
# Deleting the 3 GB venv takes minutes on a busy disk; CI's machine is thrown away anyway.
trap '[ "${CI:-}" = true ] || rm -rf "$work"' EXIT
export CAMP_HOME="$work/home"

.venv/bin/camp release "$work/edition"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "$work/edition"
echo "edition installed with $("$work/venv/bin/python" --version) in $(( $(date +%s) - start )) s"

mkdir "$work/solved" "$work/untouched"
cp solutions/01_nn_recap.py "$work/solved/"
cp "$work/edition/exercises/01_nn_recap.py" "$work/untouched/"
max=$(.venv/bin/python -c 'from course_lib.grading.judge import declared_points, test_files
print("%g" % sum(declared_points(test_files("01")[0]).values()))')

cd "$work/solved"
"$work/venv/bin/camp" check 01 | tee "$work/solved.txt"
grep -q "Lecture 01: $max / $max points" "$work/solved.txt"

cd "$work/untouched"
if "$work/venv/bin/camp" check 01 > "$work/untouched.txt"; then
    cat "$work/untouched.txt"
    echo "error: the untouched exercise passed camp check 01." >&2
    exit 1
fi
tail -n 1 "$work/untouched.txt"
grep -q "Lecture 01: 0 / $max points" "$work/untouched.txt"
echo "student edition check passed in $(( $(date +%s) - start )) s"
