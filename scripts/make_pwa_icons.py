"""Draw the installable app's icons (static/epigrid/icons/icon-192.png, icon-512.png, and a
maskable 512 with the safe margin): a grid of streets with a red cross, no font needed.

    .venv/bin/python scripts/make_pwa_icons.py
"""

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "src" / "epigrid" / "static" / "epigrid" / "icons"
BLUE, WHITE, RED = (21, 87, 153), (255, 255, 255), (200, 30, 30)


def icon(size: int, *, margin: float) -> Image.Image:
    image = Image.new("RGB", (size, size), BLUE)
    draw = ImageDraw.Draw(image)
    inner = size * (1 - 2 * margin)
    left = size * margin
    line = max(2, round(inner / 28))
    for i in range(4):  # a 3×3 grid of blocks
        at = left + inner * i / 3
        draw.rectangle([at - line / 2, left, at + line / 2, left + inner], fill=WHITE)
        draw.rectangle([left, at - line / 2, left + inner, at + line / 2], fill=WHITE)
    # The middle block: a red cross on white.
    block = inner / 3
    x0 = left + block + line
    draw.rectangle([x0, x0, x0 + block - 2 * line, x0 + block - 2 * line], fill=WHITE)
    mid, arm, bar = size / 2, block * 0.32, block * 0.11
    draw.rectangle([mid - bar, mid - arm, mid + bar, mid + arm], fill=RED)
    draw.rectangle([mid - arm, mid - bar, mid + arm, mid + bar], fill=RED)
    return image


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    icon(192, margin=0.08).save(OUT / "icon-192.png", optimize=True)
    icon(512, margin=0.08).save(OUT / "icon-512.png", optimize=True)
    icon(512, margin=0.2).save(OUT / "icon-maskable-512.png", optimize=True)


if __name__ == "__main__":
    main()
