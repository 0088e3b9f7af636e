"""A before/after slider between two images: plain HTML and JavaScript from this folder, shown with ``st.iframe``.

The images travel inline as ``data:`` URIs, so nothing is fetched from a CDN.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import streamlit as st

TEMPLATE = Path(__file__).with_name("before_after.html")


def before_after_html(before_png: bytes, after_png: bytes, label_before: str, label_after: str,
                      max_width: int = 768, pixelated: bool = True) -> str:
    """The slider's self-contained HTML page for two PNG images of the same size."""
    page = TEMPLATE.read_text(encoding="utf-8")
    values = {
        "__SRC_A__": "data:image/png;base64," + base64.b64encode(before_png).decode("ascii"),
        "__SRC_B__": "data:image/png;base64," + base64.b64encode(after_png).decode("ascii"),
        "__LABEL_A__": html.escape(label_before),
        "__LABEL_B__": html.escape(label_after),
        "__MAX_WIDTH__": str(int(max_width)),
        "__RENDERING__": "pixelated" if pixelated else "auto",
    }
    for marker, value in values.items():
        page = page.replace(marker, value)
    return page


def before_after(before_png: bytes, after_png: bytes, label_before: str, label_after: str, *,
                 height: int, max_width: int = 768, pixelated: bool = True) -> None:
    """Show the before/after slider (drag on the image or use the range input under it)."""
    st.iframe(before_after_html(before_png, after_png, label_before, label_after, max_width, pixelated),
              height=height + 40, alt=f"before/after slider: {label_before} vs {label_after}")
