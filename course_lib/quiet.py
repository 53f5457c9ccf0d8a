"""Keep TensorFlow's C++ log lines out of everything a user runs (introduced with Lecture 01).

TensorFlow 2.21 logs through absl before ``absl::InitializeLog()`` runs, so its import prints
``oneDNN custom operations are on`` and ``Could not find cuda drivers`` to file descriptor 2 even
with ``TF_CPP_MIN_LOG_LEVEL=3``, which only takes effect once logging is initialised. Python's
``sys.stderr`` is not involved, so ``contextlib.redirect_stderr`` cannot catch them.

:func:`install` (run when ``course_lib`` is imported, before anything imports TensorFlow) therefore

- sets ``TF_CPP_MIN_LOG_LEVEL=3`` unless the user chose a level, which silences TensorFlow's
  C++ logging after the import;
- hooks the first ``import tensorflow`` (directly, or through Keras, tensorflow-text or
  tensorflow-hub) and points file descriptor 2 at a temporary file while it runs; afterwards it
  writes back every captured line that is not an absl/TensorFlow log line, so a genuine warning
  or error printed during the import still reaches the user.

``TF_ENABLE_ONEDNN_OPTS`` is left alone: turning oneDNN off changes numerical results.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

# An absl/glog line: severity letter, MMDD, time, thread id, file:line], e.g.
# "I0000 00:00:1796024340.412741    4584 port.cc:153] oneDNN custom operations are on."
LOG_LINE = re.compile(r"^[IWEF]\d{4} [\d:.]+\s+\d+ [\w.\-/]+:\d+\] ")
ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to"


def is_log_line(line: str) -> bool:
    """Return True for a line that TensorFlow's C++ logging (absl) wrote."""
    return bool(LOG_LINE.match(line)) or line.startswith(ABSL_PREAMBLE)


def drop_log_lines(text: str) -> str:
    """Return ``text`` without absl/TensorFlow log lines and their continuation lines.

    A log message may span lines (cpu_feature_guard's "To enable the following instructions:
    ..."): a line right after a dropped one is dropped too unless it looks like Python output
    (a ``file.py:N:`` warning or a traceback).
    """
    kept, dropping = [], False
    for line in text.splitlines(keepends=True):
        if is_log_line(line):
            dropping = True
        elif dropping and line.strip() and ".py" not in line and not line.startswith("Traceback"):
            continue
        else:
            dropping = False
            kept.append(line)
            continue
    return "".join(kept)


@contextlib.contextmanager
def quiet_fd2():
    """Capture file descriptor 2 while the block runs; re-emit what is not a log line."""
    try:
        sys.stderr.flush()
        capture = tempfile.TemporaryFile()
    except (OSError, ValueError):  # No writable temporary folder (a sandbox): stay as we are.
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:  # No file descriptor 2 at all: nothing to hide.
        capture.close()
        yield
        return
    with capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            rest = drop_log_lines(capture.read().decode("utf-8", "replace"))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    """Run the wrapped loader's ``exec_module`` inside :func:`quiet_fd2`."""

    def __init__(self, loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        # TensorFlow looks at its own spec and loader later: give the original loader back.
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        with quiet_fd2():
            self.loader.exec_module(module)


class _TensorFlowFinder(importlib.abc.MetaPathFinder):
    """Find ``tensorflow`` with the other finders and wrap its loader, once."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        uninstall()
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _QuietLoader(spec.loader)
        return spec


_FINDER = _TensorFlowFinder()


def install() -> None:
    """Quiet the first TensorFlow import of this process (a no-op once it is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    """Remove the import hook (TensorFlow is being imported, or the caller wants the noise)."""
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(_FINDER)
