"""image-search-camp: the shared library of the course *Building an Image Search Engine*.

Each module's docstring names the lecture that introduced it. Nothing here gives away an answer
that an exercise asks for: later lectures take the student's own passed pieces through
``course_lib.student.lectures.lecture_module``.
"""

from course_lib import quiet

# Before anything imports TensorFlow: its import-time C++ log lines never reach the user.
quiet.install()

__version__ = "0.1.0"
