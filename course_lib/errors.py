"""The one error type that the ``camp`` command turns into a clear message and exit code 1."""


class CourseError(Exception):
    """A problem the user can fix: a missing file, a malformed input, an unknown lecture.

    The message names the problem and the file it concerns; the CLI prints it without a
    traceback and exits with code 1.
    """
