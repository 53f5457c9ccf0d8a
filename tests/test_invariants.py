"""The course's promise, for every lecture: solutions score full marks, untouched exercises zero."""

import pytest

from course_lib.grading import judge as grader
from course_lib.paths import project_root

LECTURES = grader.available_lectures()


@pytest.mark.parametrize("lecture", LECTURES)
def test_solutions_score_full_marks(lecture):
    result = grader.grade_lecture(lecture, project_root() / "solutions")
    failed = [(t["name"], t["message"]) for t in result.tests if not t["passed"]]
    assert result.status == "full-marks", (result.detail, failed)
    assert result.points == result.max_points > 0


@pytest.mark.parametrize("lecture", LECTURES)
def test_untouched_exercises_score_zero_and_are_graded(lecture):
    result = grader.grade_lecture(lecture, project_root() / "exercises")
    assert result.status == "graded", result.detail
    assert result.points == 0
    assert len(result.tests) == len(grader.declared_points(grader.test_files(lecture)[0]))
