"""How fast Lecture 02's numpy convolutions are; run by hand.

    python benchmarks/conv.py [--size 32] [--channels 16] [--filters 32] [--repeats 5]

Times three implementations of the same convolution (batch 8, 3 × 3 kernel, same padding,
stride 1, float32) in one run: ``conv2d_loops`` (Python loops over output positions),
``conv2d_vectorized`` (``sliding_window_view`` + one ``tensordot``) and ``tf.nn.conv2d``
(oneDNN). Prints the best of ``--repeats`` wall-clock and CPU times of each, the speed-ups of
the vectorised version over the loops and of TensorFlow over the vectorised version, and the
largest difference from TensorFlow's result. Uses the reference solutions, so that the
figures do not depend on a student's code.
"""

from __future__ import annotations

import argparse
import os
import time

import course_lib  # noqa: F401  First: course_lib.quiet keeps TensorFlow's import quiet.

os.environ.setdefault("CAMP_SKIP_DEMOS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from course_lib.student.lectures import lecture_module  # noqa: E402


def best_time(function, repeats: int) -> tuple[float, float]:
    """Return the smallest wall-clock and CPU seconds of ``repeats`` calls (after one warm-up)."""
    function()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32, help="Image height and width.")
    parser.add_argument("--channels", type=int, default=16, help="Input channels.")
    parser.add_argument("--filters", type=int, default=32, help="Output channels.")
    parser.add_argument("--batch", type=int, default=8, help="Images per batch.")
    parser.add_argument("--repeats", type=int, default=5, help="Timed calls of each version.")
    args = parser.parse_args()
    lecture = lecture_module("02", prefer_student=False, quiet=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch, args.size, args.size, args.channels)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, args.channels, args.filters)).astype(np.float32)
    x_tf, kernel_tf = tf.constant(x), tf.constant(kernel)

    results = {
        "loops": best_time(lambda: lecture.conv2d_loops(x, kernel, 1, "same"), args.repeats),
        "vectorized": best_time(
            lambda: lecture.conv2d_vectorized(x, kernel, 1, "same"), args.repeats
        ),
        "tf.nn.conv2d": best_time(
            lambda: tf.nn.conv2d(x_tf, kernel_tf, 1, "SAME").numpy(), args.repeats
        ),
    }
    reference = tf.nn.conv2d(x_tf, kernel_tf, 1, "SAME").numpy()
    error = np.abs(lecture.conv2d_vectorized(x, kernel, 1, "same") - reference).max()

    print(
        f"conv {args.batch}x{args.size}x{args.size}x{args.channels} -> {args.filters} filters, "
        f"3x3, same, float32; best of {args.repeats}"
    )
    for name, (wall, cpu) in results.items():
        print(f"  {name:13s} {wall * 1e3:9.2f} ms wall {cpu * 1e3:9.2f} ms CPU")
    loops, vectorized, tensorflow = (results[k][0] for k in results)
    print(f"vectorized vs loops:        {loops / vectorized:7.1f}x faster")
    print(f"tf.nn.conv2d vs vectorized: {vectorized / tensorflow:7.1f}x faster")
    print(f"max |vectorized - tf.nn.conv2d| = {error:.1e}")


if __name__ == "__main__":
    main()
