"""Lecture 01's student notebook run in a real kernel (nbclient): untouched, then solved.

The kernel gets no ``TF_*`` variable (CI exports ``TF_CPP_MIN_LOG_LEVEL``): the setup cell must
keep TensorFlow's absl/CUDA lines out of every cell by itself. The untouched run sets
``CAMP_SKIP_DEMOS=1``: a demo cell calls the student's functions and stops, by design, with the
stub's ``NotImplementedError`` naming the first missing one. The solved run pastes the solution
of every graded cell into the exercise notebook and runs the demos too.
"""

import importlib.metadata
import os
import re
import sys
import types
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_lib.authoring.notebooks import release_notebook, setup_source, supported_tensorflow
from course_lib.grading import judge as grader
from course_lib.grading.screening import screen_file
from course_lib.paths import project_root
from course_lib.student.check_map import graded_functions

LECTURE = "01"
# An absl/glog line ("I0000 00:00:1796024257.958813    3216 cudart_stub.cc:31] ..."), absl's
# preamble, and the CUDA and oneDNN start-up messages.
TF_LOG = re.compile(
    r"^[IWEF]\d{4} [\d:.]+\s+\d+ \S+:\d+\]|absl::InitializeLog|cuInit|cudart|oneDNN|WARNING:absl",
    re.M,
)


def _lecture_file(folder: str) -> Path:
    return next((project_root() / folder).glob(f"{LECTURE}_*.py"))


def _solved() -> nbformat.NotebookNode:
    """The exercise notebook with each graded cell replaced by the solution's cell."""
    notebook = release_notebook(_lecture_file("exercises"))
    solution = release_notebook(_lecture_file("solutions"))
    assert len(notebook.cells) == len(solution.cells)
    for mine, reference in zip(notebook.cells, solution.cells, strict=True):
        if "# YOUR CODE HERE" in mine.source:
            mine.source = reference.source
        else:
            assert mine.source == reference.source
    return notebook


def _execute(notebook, folder: Path, skip_demos: bool) -> nbformat.NotebookNode:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env.pop("CAMP_SKIP_DEMOS", None)
    env.pop("MPLBACKEND", None)  # A kernel draws inline, as in Jupyter and Colab.
    env.update({"CAMP_SKIP_DEMOS": "1"} if skip_demos else {})
    resources = {"metadata": {"path": str(folder)}}
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources=resources)
    client.execute(env=env)  # Raises CellExecutionError if any cell fails.
    return notebook


def _texts(output) -> list[str]:
    if output.output_type == "stream":
        return [output.text]
    if output.output_type == "error":
        return [f"{output.ename}: {output.evalue}"]
    return [str(value) for value in output.get("data", {}).values()]


def _checks(notebook) -> dict[str, str]:
    """``{check cell source: its text/plain result}``, in notebook order."""
    results = {}
    for cell in notebook.cells:
        if cell.cell_type == "code" and re.fullmatch(r'check\(("\w+")?\)', cell.source):
            (result,) = [o for o in cell.outputs if o.output_type == "execute_result"]
            results[cell.source] = result.data["text/plain"]
    return results


def _assert_quiet(notebook) -> None:
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error", _texts(output)
            assert not (output.output_type == "stream" and output.name == "stderr"), output.text
            for text in _texts(output):
                assert not TF_LOG.search(text), text[:500]


def test_the_log_line_pattern_matches_what_tensorflow_prints():
    printed = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1796024257.958813    3216 cudart_stub.cc:31] Could not find cuda drivers\n"
    )
    assert len(TF_LOG.findall(printed)) == 2
    assert not TF_LOG.search("Epoch 1/30\nKeras MLP test accuracy: 0.972\n")


class _Shell:
    """What the setup cell calls of IPython: records each ``%pip`` line."""

    calls: list = []

    def run_line_magic(self, magic, line):
        self.calls.append((magic, line))


def test_the_setup_cell_installs_the_course_on_colab_only_keeping_a_supported_tensorflow(
    monkeypatch, capsys
):
    source = setup_source("camp @ https://example.org/camp.whl")
    _Shell.calls = []
    exec(source, {"get_ipython": _Shell})
    assert _Shell.calls == []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    lines = (project_root() / "requirements-nodeps.txt").read_text().splitlines()
    nodeps = [line for line in lines if line.strip() and not line.startswith("#")]
    spec = "install --quiet 'camp @ https://example.org/camp.whl'"
    assert supported_tensorflow() == ["2.20", "2.21"]  # pyproject.toml's range.
    for colab, pinned in (("2.20.0", True), ("2.21.0", True), ("2.19.1", False)):
        monkeypatch.setattr(importlib.metadata, "version", lambda name, v=colab: v)
        _Shell.calls = []
        exec(source, {"get_ipython": _Shell})
        assert _Shell.calls == [
            ("pip", spec + (f" tensorflow=={colab}" if pinned else "")),
            ("pip", "install --quiet --no-deps " + " ".join(nodeps)),
        ]
        said = capsys.readouterr().out
        assert said == (
            ""
            if pinned
            else f"Colab has TensorFlow {colab}; the course needs 2.20 or 2.21: installing it.\n"
        )


def test_without_a_pip_spec_the_setup_cell_stops_on_colab_with_one_line(monkeypatch):
    source = setup_source(None)
    assert "pip" not in source.replace("--pip-spec", "")  # Nothing is installed by name.
    exec(source, {"get_ipython": _Shell})  # Off Colab it runs.
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    with pytest.raises(Exception, match=r"camp release --pip-spec") as stopped:
        exec(source, {"get_ipython": _Shell})
    (line,) = stopped.value._render_traceback_()  # What IPython shows instead of a traceback.
    assert line.startswith("Setup cannot install the course on Colab")


def test_every_graded_function_is_followed_by_its_check_cell():
    notebook = release_notebook(_lecture_file("exercises"))
    first_code = next(c for c in notebook.cells if c.cell_type == "code")
    assert first_code.source.startswith("# @title Setup")
    assert "google.colab" in first_code.source and "quiet_tensorflow()" in first_code.source
    sources = [c.source for c in notebook.cells if c.cell_type == "code"]
    for name in ("dense_forward", "softmax", "mlp_backward", "train_keras_mlp"):
        index = next(i for i, s in enumerate(sources) if s.startswith(f"def {name}("))
        assert sources[index + 1] == f'check("{name}")'
    assert sources[-1] == "check()"


@pytest.mark.slow
def test_untouched_notebook_runs_and_every_check_says_what_to_do(tmp_path):
    notebook = _execute(release_notebook(_lecture_file("exercises")), tmp_path, skip_demos=True)
    _assert_quiet(notebook)
    checks = _checks(notebook)
    maximum = sum(grader.declared_points(grader.test_files(LECTURE)[0]).values())
    assert checks.pop("check()").startswith(f"Lecture {LECTURE}: 0 / {maximum:g} points.")
    graded = graded_functions(_lecture_file("exercises").read_text(encoding="utf-8"))
    assert list(checks) == [f'check("{name}")' for name in graded]
    for source, text in checks.items():
        name = source[len('check("') : -2]
        assert text.startswith(f"{name}: 0 / "), text
        assert "Not implemented yet: " in text.splitlines()[0], text
        assert "Fill in the region marked YOUR CODE HERE" in text, text
    assert "Not implemented yet: softmax." in checks['check("softmax")']
    # test_mlp_backward_* call mlp_forward first: the check names the stub that raised.
    assert "Not implemented yet: mlp_forward." in checks['check("mlp_backward")']


@pytest.mark.slow
def test_solved_notebook_gets_full_marks_in_the_kernel_and_from_camp(tmp_path):
    notebook = _execute(_solved(), tmp_path, skip_demos=False)
    _assert_quiet(notebook)
    checks = _checks(notebook)
    maximum = sum(grader.declared_points(grader.test_files(LECTURE)[0]).values())
    assert checks.pop("check()").startswith(
        f"Lecture {LECTURE}: {maximum:g} / {maximum:g} points. All "
    )
    for text in checks.values():
        points = re.match(r"\w+: (\d+) / (\d+) points\.", text)
        assert points and points[1] == points[2], text
    demo = "".join(t for c in notebook.cells for o in c.get("outputs", []) for t in _texts(o))
    assert "Keras MLP test accuracy" in demo
    # The same notebook downloaded from Colab: camp grades it (the check cells do nothing on
    # import) and screening finds nothing in the setup cell.
    path = tmp_path / f"{_lecture_file('solutions').stem}.ipynb"
    nbformat.write(notebook, path)
    result = grader.grade_lecture(LECTURE, path)
    assert (result.status, result.points) == ("full-marks", maximum), result.detail
    assert screen_file(path) == []


def test_a_graded_notebook_may_call_display(tmp_path):
    from course_lib.student.submission import import_lecture

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("import numpy as np\n\ndisplay(np.eye(2))"),
        nbformat.v4.new_code_cell("def dense_forward(x):\n    return x\n\n\ndisplay('done')"),
    ]
    path = tmp_path / "01_nn_recap.ipynb"
    nbformat.write(notebook, path)
    # Imported as a module, as the grader does: display() resolves and shows nothing there.
    assert import_lecture(path, LECTURE).dense_forward(3) == 3


def test_plots_show_inline_in_a_kernel_and_stay_files_in_the_grader(tmp_path):
    figure = tmp_path / "figure.png"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from pathlib import Path\n"
            "import matplotlib\n"
            "from course_lib.student.submission import import_lecture\n"
            "from course_lib.demo import show_figure\n"
            f"import_lecture(Path({str(_lecture_file('solutions'))!r}).parent, '02')\n"
            "print(matplotlib.get_backend())"
        ),
        nbformat.v4.new_code_cell(
            "import matplotlib.pyplot as plt\n"
            f"plt.plot([0, 1]); plt.savefig({str(figure)!r}); plt.close()\n"
            f"show_figure({str(figure)!r})"
        ),
    ]
    _execute(notebook, tmp_path, skip_demos=True)
    # Lecture 02 chooses Agg outside a kernel only: in one, pyplot stays inline.
    assert "inline" in notebook.cells[0].outputs[-1].text
    assert any("image/png" in o.get("data", {}) for o in notebook.cells[1].outputs)
    # The grader's processes draw into files (MPLBACKEND=Agg in their environment).
    assert grader.grading_env()["MPLBACKEND"] == "Agg"
