"""Same submission, same tests: the same points and messages, in a row and in parallel."""

from concurrent.futures import ThreadPoolExecutor

from course_lib.authoring.generate import partly_solved
from course_lib.grading.judge import grade_lecture
from course_lib.paths import project_root

SOLUTION = project_root() / "solutions" / "01_nn_recap.py"


def _outcome(result) -> dict:
    tests = [(t["name"], t["points"], t["passed"], t["message"]) for t in result.tests]
    return {"status": result.status, "points": result.points, "tests": tests}


def test_the_reference_gets_the_same_grade_three_times_in_a_row():
    outcomes = [_outcome(grade_lecture("01", SOLUTION)) for _ in range(3)]
    assert outcomes[0]["status"] == "full-marks"
    assert outcomes[1] == outcomes[0] and outcomes[2] == outcomes[0]


def test_a_partial_solution_gets_the_same_grade_three_times_in_parallel(tmp_path):
    partial = tmp_path / "01_nn_recap.py"
    partial.write_text(partly_solved(SOLUTION.read_text(), keep=7))
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(grade_lecture, "01", partial) for _ in range(3)]
        outcomes = [_outcome(future.result()) for future in futures]
    assert 0 < outcomes[0]["points"] < 28
    assert outcomes[1] == outcomes[0] and outcomes[2] == outcomes[0]
