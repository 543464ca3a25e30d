"""The Explorer as a picture: PNG snapshot, file, and the static image for nbviewer."""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path
from typing import Any

from ..render import colorbar, value_range

__all__ = ["ExportMixin"]


class ExportMixin:
    """snapshot(), save() and the image/png of ``_repr_mimebundle_`` (part of :class:`Explorer`)."""

    def snapshot(self) -> bytes:
        """The current view (image, heatmap, colour bar, caption) as PNG bytes."""
        from PIL import Image, ImageDraw

        view = self.canvas.composite()
        height, width = view.shape[:2]
        out = Image.new("RGB", (width, height + 40), "white")
        out.paste(Image.fromarray(view), (0, 0))
        if self._heat is not None:
            mode, cmap, clip = self.overlay.settings(self._signed)
            vmin, vmax = value_range(self._heat, mode=mode, clip=clip)
            bar = colorbar(vmin, vmax, cmap, length=width - 80, thickness=10)
            out.paste(Image.fromarray(bar[..., :3]), (40, height + 4))
            draw = ImageDraw.Draw(out)
            draw.text((2, height + 2), f"{vmin:.2g}", fill="black")
            draw.text((width - 38, height + 2), f"{vmax:.2g}", fill="black")
            plain = _strip_tags(self._caption)
            draw.text((2, height + 22), plain[: width // 6], fill="black")
        buf = io.BytesIO()
        out.save(buf, "PNG")
        return buf.getvalue()

    def save(self, path: str | Path | None = None) -> Path:
        """Write :meth:`snapshot` to ``path`` (default: a name in the working directory)."""
        target = Path(path or f"xw-snapshot-{self.index}-{self.method}.png")
        target.write_bytes(self.snapshot())
        self.status.value = f"{self._caption} · saved <code>{html.escape(str(target))}</code>"
        return target

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["image/png"] = base64.b64encode(self.snapshot()).decode("ascii")
        return bundle


def _strip_tags(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))
