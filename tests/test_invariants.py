"""The course's promise, for every lecture: solutions score full marks, untouched exercises zero.

Graded as the instructor grades: the public tests and the hidden ones of ``tests/hidden``.
"""

import pytest

from course_lib.grading import judge as grader
from course_lib.grading.expected import hidden_dir
from course_lib.paths import project_root

LECTURES = grader.available_lectures()
HIDDEN = hidden_dir()


@pytest.mark.parametrize("lecture", LECTURES)
def test_solutions_score_full_marks(lecture):
    result = grader.grade_lecture(lecture, project_root() / "solutions", HIDDEN)
    failed = [(t["name"], t["message"]) for t in result.tests if not t["passed"]]
    assert result.status == "full-marks", (result.detail, failed)
    assert result.points == result.max_points > 0


@pytest.mark.parametrize("lecture", LECTURES)
def test_untouched_exercises_score_zero_and_are_graded(lecture):
    result = grader.grade_lecture(lecture, project_root() / "exercises", HIDDEN)
    assert result.status == "graded", result.detail
    assert result.points == 0
    files = grader.test_files(lecture) + grader.hidden_test_files(HIDDEN, lecture)
    assert len(result.tests) == sum(len(grader.declared_points(f)) for f in files)
