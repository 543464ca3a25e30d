"""The Explain tab as a picture: PNG snapshot (image, map, colour bar, caption) for a file, a
paper, or the static ``image/png`` a notebook keeps for nbviewer.

Example::

    png = snapshot(explorer.explain_tab)      # bytes
"""

from __future__ import annotations

import html
import io
import re
from typing import TYPE_CHECKING

from ..render import colorbar, value_range

if TYPE_CHECKING:
    from .explain_tab import ExplainTab

__all__ = ["snapshot", "strip_tags"]


def snapshot(tab: ExplainTab) -> bytes:
    """The tab's current view (image, heatmap, colour bar with its values, caption) as PNG."""
    from PIL import Image, ImageDraw

    view = tab.canvas.composite()
    height, width = view.shape[:2]
    out = Image.new("RGB", (width, height + 40), "white")
    out.paste(Image.fromarray(view), (0, 0))
    if tab.heat is not None:
        mode, cmap, clip = tab.overlay.settings(tab.signed)
        vmin, vmax = value_range(tab.heat, mode=mode, clip=clip)
        bar = colorbar(vmin, vmax, cmap, length=width - 80, thickness=10)
        out.paste(Image.fromarray(bar[..., :3]), (40, height + 4))
        draw = ImageDraw.Draw(out)
        draw.text((2, height + 2), f"{vmin:.2g}", fill="black")
        draw.text((width - 38, height + 2), f"{vmax:.2g}", fill="black")
        draw.text((2, height + 22), strip_tags(tab.caption)[: width // 6], fill="black")
    buf = io.BytesIO()
    out.save(buf, "PNG")
    return buf.getvalue()


def strip_tags(text: str) -> str:
    """HTML as the plain text a person reads."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))
