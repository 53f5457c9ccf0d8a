"""Render the course's object icons into a sprite sheet (maintainers only, run once).

Introduced for the course's photo collection (used from Lecture 02 on). It draws every emoji of
``course_lib.data.sprites.CATEGORIES`` with the Noto Color Emoji font (Debian package
``fonts-noto-color-emoji``, SIL OFL 1.1), crops each to its alpha bounding box, scales its longer
side down to ``--size`` pixels and packs them in rows into ``course_lib/assets/sprites.png``
with the index ``course_lib/assets/sprites.json``. Users never need the font.

    apt-get install -y fonts-noto-color-emoji
    python scripts/render_sprites.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from course_lib.data.sprites import CATEGORIES, SHEET_JSON, SHEET_PNG, sprite_key

FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
# The colour bitmaps of Noto Color Emoji exist at this one size only.
FONT_SIZE = 109
SHEET_WIDTH = 1024


def render_emoji(font: ImageFont.FreeTypeFont, emoji: str, size: int) -> Image.Image:
    """Draw one emoji on a transparent canvas, crop it to its alpha box, shrink to ``size``."""
    canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((10, 10), emoji, font=font, embedded_color=True)
    box = canvas.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
    if box is None:
        raise SystemExit(f"The font has no picture for {emoji!r} (U+{ord(emoji[0]):04X}).")
    pic = canvas.crop(box)
    scale = size / max(pic.size)
    new = (max(1, round(pic.width * scale)), max(1, round(pic.height * scale)))
    return pic.resize(new, Image.Resampling.LANCZOS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=72, help="longer side of each picture (px)")
    args = parser.parse_args()
    if not FONT.is_file():
        raise SystemExit(f"Expected the font {FONT}; install fonts-noto-color-emoji.")
    font = ImageFont.truetype(str(FONT), FONT_SIZE)
    pics = []
    for cat in CATEGORIES:
        for emoji in cat.emojis:
            pics.append(
                (sprite_key(cat.name, emoji), cat.name, emoji, render_emoji(font, emoji, args.size))
            )
    # Pack in rows of fixed height, left to right, with a 1 px gap.
    placements, x, y = [], 0, 0
    row = args.size + 1
    for key, name, emoji, pic in pics:
        if x + pic.width > SHEET_WIDTH:
            x, y = 0, y + row
        placements.append((key, name, emoji, pic, x, y))
        x += pic.width + 1
    sheet = Image.new("RGBA", (SHEET_WIDTH, y + row), (0, 0, 0, 0))
    index = []
    for key, name, emoji, pic, px, py in placements:
        sheet.paste(pic, (px, py))
        index.append(
            {
                "key": key,
                "category": name,
                "emoji": emoji,
                "codepoints": [f"U+{ord(ch):04X}" for ch in emoji],
                "box": [px, py, pic.width, pic.height],
            }
        )
    sheet.save(SHEET_PNG, optimize=True)
    meta = {
        "source": "Noto Color Emoji (fonts-noto-color-emoji), rendered at 109 px",
        "license": "SIL Open Font License 1.1, see OFL.txt",
        "size": args.size,
        "sprites": index,
    }
    SHEET_JSON.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"Wrote {len(index)} pictures to {SHEET_PNG} ({SHEET_PNG.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
