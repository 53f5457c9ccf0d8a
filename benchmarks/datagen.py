"""How fast the course's photo collection is written (used from Lecture 02 on); run by hand.

    python benchmarks/datagen.py [--num-images 1000] [--image-size 128]

Prints images per second for ``make_split`` (drawing, captions, JPEG files and COCO JSON) on one
core, and the ratio against a baseline measured in the same run: writing the same number of
blank JPEGs of the same size, which is the floor that no generator can beat. The requirement is at
least 300 images/s for 128 × 128 images. CPU time is reported too, since other jobs on the
machine slow the wall clock down.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from course_lib.data.writer import JPEG_QUALITY, make_split


def _blank_jpegs(folder: Path, n: int, size: int) -> None:
    blank = np.full((size, size, 3), 128, np.uint8)
    for i in range(n):
        Image.fromarray(blank).save(folder / f"{i:06d}.jpg", "JPEG", quality=JPEG_QUALITY)


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=128)
    args = parser.parse_args()
    n, size = args.num_images, args.image_size
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # Warm the texture caches so that both timings measure the steady state.
        make_split(tmp / "warm", "test", 5, 0, size)
        (tmp / "blank").mkdir()
        base_wall, base_cpu = _timed(lambda: _blank_jpegs(tmp / "blank", n, size))
        gen_wall, gen_cpu = _timed(lambda: make_split(tmp / "camp", "val", n, 0, size))
    rate, rate_cpu = n / gen_wall, n / gen_cpu
    print(f"images: {n} of {size}x{size}")
    print(f"baseline (blank JPEGs): {n / base_wall:8.0f} images/s wall, {n / base_cpu:8.0f} CPU")
    print(f"make_split:             {rate:8.0f} images/s wall, {rate_cpu:8.0f} CPU")
    print(f"ratio make_split / baseline (wall): {gen_wall / base_wall:.1f}x slower")
    verdict = "meets" if rate_cpu >= 300 else "MISSES"
    print(f"{verdict} the 300 images/s requirement (CPU time)")


if __name__ == "__main__":
    main()
