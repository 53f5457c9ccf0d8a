"""Run a command under resource limits: ``python -m course_lib.sandbox MEMORY_MB -- CMD...``.

Introduced with Lecture 01's grader. The limits are set in this small launcher, which then
replaces itself with the command, instead of in a ``preexec_fn``: ``preexec_fn`` is unsafe when
the parent runs threads, and ``camp autograde`` grades from a thread pool.
"""

import os
import resource
import sys


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit("usage: python -m course_lib.sandbox MEMORY_MB -- COMMAND [ARGS...]")
    limit = int(argv[0]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.execv(argv[2], argv[2:])


if __name__ == "__main__":
    main(sys.argv[1:])
