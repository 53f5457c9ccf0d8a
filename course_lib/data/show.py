"""Contact sheets of the course's photo collection (used from Lecture 02 on).

``contact_sheet(out_dir, out_png)`` lays the first pictures of a written split on a grid, each
enlarged, with one of its captions wrapped underneath and, optionally, its boxes with category
names, so that a person can check captions and boxes against the pictures.
"""

from __future__ import annotations

import colorsys
import textwrap
from pathlib import Path

import matplotlib
from PIL import Image, ImageDraw, ImageFont

from course_lib.data.writer import read_split
from course_lib.errors import CourseError

FONT_FILE = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def _font(size: int) -> ImageFont.ImageFont:
    if FONT_FILE.is_file():
        return ImageFont.truetype(str(FONT_FILE), size)
    return ImageFont.load_default(size=size)


def _colour(name: str) -> tuple[int, int, int]:
    """Return a bright colour that depends only on the category name."""
    hue = (sum(ord(c) * (i + 1) for i, c in enumerate(name)) % 360) / 360
    r, g, b = colorsys.hsv_to_rgb(hue, 0.9, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    """Wrap ``text`` into lines no wider than ``width`` pixels."""
    for chars in range(60, 8, -2):
        lines = textwrap.wrap(text.strip(), chars) or [""]
        if all(draw.textlength(line, font=font) <= width for line in lines):
            return lines
    return textwrap.wrap(text.strip(), 8)


def contact_sheet(
    out_dir: str | Path,
    out_png: str | Path,
    num_images: int = 16,
    split: str | None = None,
    boxes: bool = False,
    tile: int = 200,
    columns: int | None = None,
    caption_index: int = 0,
) -> Path:
    """Draw the first ``num_images`` pictures of a split with a caption under each; save a PNG.

    The PNG is saved with a 256-colour palette to stay small. Raises CourseError when the folder
    holds no such split or ``num_images`` is not positive.
    """
    if num_images < 1:
        raise CourseError(f"Expected a positive number of images to show; received {num_images}.")
    records = read_split(out_dir, split)[:num_images]
    if not records:
        raise CourseError(f"{out_dir}: the split holds no images.")
    cols = columns or min(len(records), max(1, round(len(records) ** 0.5)))
    rows = -(-len(records) // cols)
    pad, font, small = 8, _font(max(11, tile // 14)), _font(max(9, tile // 20))
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h = font.getbbox("Ag")[3] + 3
    texts = []
    for rec in records:
        caps = rec["captions"] or [""]
        texts.append(_wrap(scratch, caps[caption_index % len(caps)], font, tile))
    row_h = [
        tile + pad + line_h * max(len(t) for t in texts[r * cols : (r + 1) * cols])
        for r in range(rows)
    ]
    sheet = Image.new("RGB", (cols * (tile + pad) + pad, sum(row_h) + pad * (rows + 1)), "white")
    draw = ImageDraw.Draw(sheet)
    y = pad
    for r in range(rows):
        for c in range(cols):
            k = r * cols + c
            if k >= len(records):
                break
            rec, x = records[k], pad + c * (tile + pad)
            if not rec["path"].is_file():
                raise CourseError(f"{rec['path']}: expected the image file; it is missing.")
            with Image.open(rec["path"]) as im:
                scale = tile / im.width
                sheet.paste(
                    im.convert("RGB").resize((tile, tile), Image.Resampling.LANCZOS), (x, y)
                )
            if boxes and rec["graph"]:
                for obj in rec["graph"]["objects"]:
                    bx, by, bw, bh = (v * scale for v in obj["bbox"])
                    colour = _colour(obj["category"])
                    draw.rectangle(
                        [x + bx, y + by, x + bx + bw, y + by + bh], outline=colour, width=2
                    )
                    label = obj["category"]
                    tw = draw.textlength(label, font=small)
                    ty = max(y, y + by - small.size - 3)
                    draw.rectangle([x + bx, ty, x + bx + tw + 4, ty + small.size + 3], fill=colour)
                    draw.text((x + bx + 2, ty + 1), label, fill="black", font=small)
            for i, line in enumerate(texts[k]):
                draw.text((x, y + tile + 4 + i * line_h), line, fill=(20, 20, 20), font=font)
        y += row_h[r] + pad
    out_png = Path(out_png)
    try:
        out_png.parent.mkdir(parents=True, exist_ok=True)
        sheet.quantize(256, method=Image.Quantize.MEDIANCUT).save(out_png, optimize=True)
    except OSError as err:
        raise CourseError(f"{out_png}: cannot write the contact sheet ({err}).") from err
    return out_png
