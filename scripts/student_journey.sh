#!/usr/bin/env bash
# The student journey on the machines students use, from this checkout (run by CI):
#   1. `camp release` writes the student edition; its wheel is built once.
#   2. The wheel is installed with pip into fresh virtual environments: Python 3.12 with the
#      jupyter extra, Python 3.13, and a Colab-like Python 3.12 whose TensorFlow 2.20 and
#      tensorflow-text 2.20 were installed first and must stay.
#   3. Python 3.12: Lectures 01-08 in order, each reference solution copied into a student's own
#      folder and graded there with `camp check NN` under one CAMP_HOME: full marks each (the
#      gates of Lectures 05 and 08 read the records of 04 and 05); the untouched Lecture 01
#      exercise gets zero; the released Lecture 01 notebook, solved, executed with nbclient in
#      the venv's own kernel, ends with full marks in its check() cell.
#   4. Colab-like and Python 3.13, each under a new CAMP_HOME (a new machine or Colab runtime:
#      no records): Lecture 01, then `camp check 05` beside the Lecture 04 file, which grades 04
#      first by itself, then 05, then the other lectures; all full marks.
# Every step prints its seconds; a summary closes the run.
# Usage: scripts/student_journey.sh [WORK_DIR]   (default: a new temporary folder)
#   PYTHON312, PYTHON313: the interpreters (default: on PATH, else pyenv's).
#   JOURNEY_LECTURES: the lectures of step 3 (default: every lecture).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export TF_CPP_MIN_LOG_LEVEL=3
unset CAMP_ROOT CAMP_QUIZ_DIR PYTHONPATH MPLBACKEND

find_python() {  # A pyenv shim may exist without that version being active: try each candidate.
    local version=$1 explicit=$2 candidate
    for candidate in $explicit "$(command -v "python$version" || true)" \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python"$version"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c \
            "import sys; assert sys.version_info[:2] == tuple(map(int, '$version'.split('.')))" \
            2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    echo "error: no Python $version found; set PYTHON${version/./} to its path." >&2
    exit 1
}
python312=$(find_python 3.12 "${PYTHON312:-}")
python313=$(find_python 3.13 "${PYTHON313:-}")

work=${1:-$(mktemp -d)}
mkdir -p "$work"
# Deleting three 3 GB venvs takes minutes on a busy disk; CI's machine is thrown away anyway.
[ -n "${1:-}" ] || trap '[ "${CI:-}" = true ] || rm -rf "$work"' EXIT
export PIP_CACHE_DIR="$work/pip-cache"  # Shared by the three venvs.
export PIP_DISABLE_PIP_VERSION_CHECK=1
summary=()
start=$(date +%s)
step() {  # step NAME COMMAND...: run, time, and remember the seconds.
    local name=$1 began
    shift
    began=$(date +%s)
    echo "journey: $name"
    "$@"
    summary+=("$(printf '%5d s  %s' $(( $(date +%s) - began )) "$name")")
}
pip_quiet() {  # pip's own lines, without this machine's notes about absent local indexes.
    "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2)
}

instructor() {  # The checkout's own Python, with this checkout's course_lib first.
    PYTHONPATH="$root" "$root/.venv/bin/python" "$@"
}

release() {
    rm -rf "$work/edition" "$work/dist"
    instructor -c 'from course_lib.cli import main; main()' release "$work/edition"
    "$python312" -m pip wheel --quiet --no-deps -w "$work/dist" "$work/edition"
}
step "camp release and the edition's wheel" release
wheel=$(ls "$work"/dist/image_search_camp-*.whl)

install() {  # install VENV PYTHON [PRE-INSTALLED REQUIREMENTS...] -- PIP SPEC
    local venv=$1 python=$2
    shift 2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    if [ "$1" != "--" ]; then
        local before=()
        while [ "$1" != "--" ]; do before+=("$1"); shift; done
        pip_quiet "$venv/bin/python" -m pip install --quiet "${before[@]}"
    fi
    shift
    pip_quiet "$venv/bin/python" -m pip install --quiet "$@"
}
step "install, Python 3.12 with [jupyter]" install "$work/py312" "$python312" -- "$wheel[jupyter]"
step "install, Python 3.13" install "$work/py313" "$python313" -- "$wheel"
step "install, Colab-like (TensorFlow 2.20 first)" install "$work/colab" "$python312" \
    tensorflow==2.20.0 tensorflow-text==2.20.1 -- "$wheel"
kept=$("$work/colab/bin/python" -c 'import importlib.metadata as m; print(m.version("tensorflow"))')
if [ "$kept" != 2.20.0 ]; then
    echo "error: installing the edition replaced Colab's TensorFlow 2.20.0 with $kept." >&2
    exit 1
fi

check() {  # check VENV FOLDER LECTURE [camp check options...]: full marks, or exit 1.
    local venv=$1 folder=$2 lecture=$3
    shift 3
    (cd "$folder" && "$venv/bin/camp" check "$lecture" "$@") > "$folder/check_$lecture.txt" 2>&1 || {
        cat "$folder/check_$lecture.txt"
        echo "error: camp check $lecture in $venv did not give full marks." >&2
        exit 1
    }
    grep -E "Lecture [0-9]{2}:? .*points|builds on" "$folder/check_$lecture.txt" || true
}
solve() {  # solve FOLDER LECTURE...: the reference solutions as the student's own files.
    local folder=$1
    shift
    mkdir -p "$folder"
    for lecture in "$@"; do cp solutions/"$lecture"_*.py "$folder/"; done
}

# Step 3: the whole course on Python 3.12.
export CAMP_HOME="$work/home-py312"
student="$work/student-py312"
for lecture in ${JOURNEY_LECTURES:-$(ls solutions | sed -n 's/^\([0-9][0-9]\)_.*\.py$/\1/p')}; do
    solve "$student" "$lecture"
    step "Python 3.12: camp check $lecture" check "$work/py312" "$student" "$lecture"
done

untouched() {
    mkdir -p "$work/untouched"
    cp "$work"/edition/exercises/01_*.py "$work/untouched/"
    if (cd "$work/untouched" && "$work/py312/bin/camp" check 01) > "$work/untouched/out.txt" 2>&1; then
        cat "$work/untouched/out.txt"
        echo "error: the untouched exercise passed camp check 01." >&2
        exit 1
    fi
    "$work/py312/bin/python" -c 'import json, os, sys
record = json.load(open(os.path.join(os.environ["CAMP_HOME"], "checks", "01.json")))
sys.exit(0 if record["points"] == 0 else "error: the untouched Lecture 01 exercise got points.")'
    tail -n 1 "$work/untouched/out.txt"
}
step "Python 3.12: the untouched Lecture 01 exercise gets 0" untouched

notebook() {  # The released notebook, solved, run in the venv's kernel as Jupyter would.
    local folder="$work/notebook"
    mkdir -p "$folder"
    instructor - "$work/edition" "$folder" <<'EOF'
import sys
from pathlib import Path

import nbformat

from course_lib.authoring.notebooks import release_notebook

edition, folder = Path(sys.argv[1]), Path(sys.argv[2])
exercise = next((edition / "exercises").glob("01_*.ipynb"))
notebook = nbformat.read(exercise, as_version=4)
solved = release_notebook(next(Path("solutions").glob("01_*.py")))
mine = [c for c in notebook.cells if c.cell_type == "code"]
theirs = [c for c in solved.cells if c.cell_type == "code"]
assert len(mine) == len(theirs), "the released notebook and the solution's differ in cells"
for cell, reference in zip(mine, theirs):
    if "# YOUR CODE HERE" in cell.source:
        cell.source = reference.source
nbformat.write(notebook, folder / exercise.name)
EOF
    # ipykernel's own warning about its local TCP transport is not the notebook's output.
    "$work/py312/bin/python" - "$folder" 2> >(grep -v "Kernel is running over TCP" >&2) <<'EOF'
import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

folder = Path(sys.argv[1])
path = next(folder.glob("01_*.ipynb"))
notebook = nbformat.read(path, as_version=4)
NotebookClient(notebook, timeout=600, resources={"metadata": {"path": str(folder)}}).execute()
nbformat.write(notebook, path)
noise = [o.text for c in notebook.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
assert not noise, f"the notebook wrote to stderr: {noise[:3]}"
last = notebook.cells[-1]
text = "".join(str(o.get("data", {}).get("text/plain", "")) for o in last.outputs)
found = re.search(r"Lecture 01: (\d+) / (\d+) points", text)
assert last.source == "check()" and found and found[1] == found[2], text[:2000]
print(found[0])
EOF
}
step "Python 3.12: the Lecture 01 notebook run with nbclient" notebook

new_machine() {  # new_machine VENV NAME [LATER LECTURES...]: no records; 05 grades 04 first.
    local venv=$1 name=$2
    shift 2
    export CAMP_HOME="$work/home-$(basename "$venv")"
    local folder="$work/student-$(basename "$venv")"
    solve "$folder" 01
    step "$name: camp check 01" check "$venv" "$folder" 01
    solve "$folder" 04 05
    step "$name: camp check 05 with no records (04 graded first)" check "$venv" "$folder" 05
    grep -q '"status": "full-marks"' "$CAMP_HOME/checks/04.json"
    for lecture in "$@"; do
        solve "$folder" "$lecture"
        step "$name: camp check $lecture" check "$venv" "$folder" "$lecture"
    done
}
new_machine "$work/colab" "Colab-like" 02 03 06 07 08
new_machine "$work/py313" "Python 3.13" 02 03 06 07 08

echo "journey: seconds per step"
printf '%s\n' "${summary[@]}"
echo "student journey passed in $(( $(date +%s) - start )) s"
