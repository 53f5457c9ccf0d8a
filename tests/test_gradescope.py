"""``camp gradescope``: the autograder zip in Gradescope's layout, run as Gradescope runs it.

The zip is extracted into a temporary ``/autograder`` (``CAMP_AUTOGRADER_ROOT``) with a solved and
an untouched submission, ``run_autograder`` runs there, and its ``results.json``, like the class
ones of ``camp autograde``, is validated against Gradescope's documented results format
(``tests/fixtures/gradescope/results.schema.json``).
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile

import jsonschema
import pytest
from packaging.utils import canonicalize_name
from typer.testing import CliRunner

from course_lib.cli import app
from course_lib.grading import judge, sheet
from course_lib.paths import project_root

ROOT = project_root()
SCHEMA = json.loads((ROOT / "tests/fixtures/gradescope/results.schema.json").read_text())
HIDDEN_TEST = (
    "import pytest\n\n\n"
    "@pytest.mark.points(2, hint='ReLU of a negative number.')\n"
    "def test_secret(sub):\n"
    "    assert sub.relu(-2.0) == 0.0 and sub.relu(3.0) == 3.0\n"
)


def validate(document: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(document)


def run_autograder(bundle, root, name, source_file):
    """Lay out ``root`` as Gradescope does and run the bundle's run_autograder there."""
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    for script in ("run_autograder", "setup.sh"):  # zipfile does not restore modes.
        (root / "source" / script).chmod(0o755)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    shutil.copy2(source_file, root / "submission" / name)
    env = dict(os.environ, CAMP_AUTOGRADER_ROOT=str(root), CAMP_AUTOGRADER_PYTHON=sys.executable)
    env.pop("CAMP_ROOT", None)
    done = subprocess.run(
        [str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((root / "results" / "results.json").read_text()), done.stdout


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("gradescope")
    hidden = base / "hidden"
    hidden.mkdir()
    (hidden / "test_01_extra.py").write_text(HIDDEN_TEST)
    bundle = base / "autograder_01.zip"
    args = ["gradescope", "1", "--out", str(bundle), "--hidden-tests", str(hidden)]
    made = CliRunner().invoke(app, args)
    assert made.exit_code == 0, made.output
    solved = run_autograder(
        bundle, base / "solved", "01_nn_recap.py", ROOT / "solutions/01_nn_recap.py"
    )
    # Under a name of the student's own: the only Python file of the submission is graded.
    untouched = run_autograder(
        bundle, base / "untouched", "my_work.py", ROOT / "exercises/01_nn_recap.py"
    )
    return bundle, solved, untouched


@pytest.mark.slow
def test_zip_has_gradescope_layout_and_no_answers_of_its_lecture(graded):
    bundle, _, _ = graded
    with zipfile.ZipFile(bundle) as archive:
        infos = {info.filename: info for info in archive.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert stat.S_IMODE(infos[script].external_attr >> 16) == 0o755
        assert infos[script].filename.count("/") == 0
    assert "course/tests/autograder/test_01_nn_recap.py" in infos
    assert "hidden/test_01_extra.py" in infos
    assert not [name for name in infos if "solutions/" in name or "/edition/" in name]
    assert not [name for name in infos if name.startswith("course/tests/autograder/test_02")]
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert f"PYTHON={python}\n" in archive_text(bundle, "setup.sh")
    for script in ("setup.sh", "run_autograder"):
        text = archive_text(bundle, script)
        done = subprocess.run(["bash", "-n"], input=text, text=True, capture_output=True)
        assert text.startswith("#!/usr/bin/env bash\n") and done.returncode == 0, done.stderr


def archive_text(bundle, name):
    with zipfile.ZipFile(bundle) as archive:
        return archive.read(name).decode()


@pytest.mark.slow
def test_requirements_are_the_pip_freeze_pins_of_the_course(graded):
    bundle, _, _ = graded
    freeze = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    frozen = {}
    for line in freeze:
        if "==" in line:
            name, version = line.split("==", 1)
            frozen[canonicalize_name(name)] = version
    pins = dict(line.split("==") for line in archive_text(bundle, "requirements.txt").split())
    assert pins and all(frozen.get(name) == version for name, version in pins.items())
    for needed in ("tensorflow", "numpy", "pytest", "keras", "absl-py"):
        assert pins[needed] == frozen[needed]
    for tool in ("ruff", "pycocoevalcap", "image-search-camp"):  # Test tools and the course.
        assert tool not in pins
    nodeps = dict(
        line.split("==") for line in archive_text(bundle, "requirements-nodeps.txt").split()
    )
    assert nodeps and all(frozen[name] == version for name, version in nodeps.items())


@pytest.mark.slow
def test_solved_submission_gets_every_point_hidden_tests_after_publishing(graded):
    _, (solved, stdout), _ = graded
    validate(solved)
    public = judge.declared_points(judge.test_files("01")[0])
    assert solved["extra_data"]["status"] == "full-marks", solved["tests"]
    assert solved["score"] == sum(public.values()) + 2
    assert sum(t["score"] for t in solved["tests"]) == solved["score"]
    assert sum(t["max_score"] for t in solved["tests"]) == solved["score"]
    by_name = {t["name"]: t for t in solved["tests"]}
    assert set(by_name) == set(public) | {"test_secret"}
    assert by_name["test_secret"]["visibility"] == "after_published"
    assert {by_name[name]["visibility"] for name in public} == {"visible"}
    assert {t["status"] for t in solved["tests"]} == {"passed"}
    isolation = solved["extra_data"]["isolation"]
    assert isolation in ("namespaces", "uid", "limits") and "isolated by" in solved["output"]
    assert "full-marks" in stdout


@pytest.mark.slow
def test_untouched_submission_gets_zero_with_its_hints(graded):
    _, _, (untouched, _) = graded
    validate(untouched)
    assert untouched["extra_data"]["status"] == "graded", untouched["tests"][0]
    assert untouched["score"] == 0
    total = sum(judge.declared_points(judge.test_files("01")[0]).values()) + 2
    assert sum(t["max_score"] for t in untouched["tests"]) == total
    assert {t["status"] for t in untouched["tests"]} == {"failed"}
    secret = next(t for t in untouched["tests"] if t["name"] == "test_secret")
    assert secret["output"] == "ReLU of a negative number."  # The hint, never the test's code.
    relu = next(t for t in untouched["tests"] if t["name"] == "test_relu")
    assert "Not implemented yet" in relu["output"]


def test_a_later_lecture_ships_only_the_earlier_solutions(tmp_path):
    bundle = tmp_path / "autograder_05.zip"
    result = CliRunner().invoke(app, ["gradescope", "05", "--out", str(bundle)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        config = json.loads(archive.read("autograder.json"))
    shipped = sorted(n.split("/")[-1][:2] for n in names if n.startswith("course/solutions/"))
    assert shipped == ["01", "02", "03", "04"]
    test_file = judge.test_files("05")[0]
    assert [n for n in names if n.startswith("course/tests/")] == [
        f"course/tests/autograder/{test_file.name}",
        f"course/tests/autograder/expected/{test_file.stem[5:]}.json",  # Its expected values.
    ]
    # By default the checkout's hidden tests (tests/hidden) go along, with their references.
    hidden = sorted(n for n in names if n.startswith("hidden/"))
    assert "hidden/test_05_search_hidden.py" in hidden and "hidden/references_05.py" in hidden
    assert config == {"lecture": "05", "timeout_s": 300, "memory_mb": 6144, "hidden": True}


def test_bad_hidden_tests_folder_is_one_error_line(tmp_path):
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / "test_02_other.py").write_text("")
    out = tmp_path / "a.zip"
    args = ["gradescope", "01", "--out", str(out), "--hidden-tests", str(tmp_path / "hidden")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and not out.exists()
    assert result.output.startswith("error: ") and "holds no hidden tests test_01_" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_class_results_json_of_camp_autograde_follows_the_schema(tmp_path):
    test = {"hint": "", "message": "", "points": 2.0, "max_points": 2.0, "passed": True}
    failing = test | {"name": "test_b", "points": 0.0, "passed": False, "hint": "Try again."}
    records = [
        {"lecture": "01", "status": "full-marks", "points": 2.0, "max_points": 2.0}
        | {"detail": "", "tests": [test | {"name": "test_a"}]},
        {"lecture": "02", "status": "graded", "points": 0.0, "max_points": 2.0}
        | {"detail": "", "tests": [failing | {"hidden": True}]},
        {"lecture": "03", "status": "missing", "points": 0.0, "max_points": 5.0}
        | {"detail": "No file for lecture 03.", "tests": []},
    ]
    sheet.write_results(tmp_path, records)
    document = json.loads((tmp_path / "results.json").read_text())
    validate(document)
    assert document["score"] == 2.0
    assert [t["visibility"] for t in document["tests"][:2]] == ["visible", "after_published"]


def test_the_schema_rejects_what_gradescope_does_not_take():
    for bad in (
        {"tests": [{"name": "no score anywhere"}]},
        {"score": 1, "tests": [{"score": 1, "visibility": "after_deadline"}]},
        {"score": "1"},
        {"score": 1, "tests": [{"score": 1, "points": 1}]},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate(bad)
    validate({"tests": [{"score": 1, "max_score": 1, "name": "ok", "status": "passed"}]})
