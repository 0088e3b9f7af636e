"""Checkpoints: every file in the weights folders with what it is, and the reason for those that do not load."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from core.settings import weights_dirs
from workbench.state import weights_catalog


def render() -> None:
    """Draw the page."""
    st.title("Checkpoints")
    st.caption("Looked for (recursively, *.pth, *.pt, *.safetensors) in: "
               + ", ".join(f"`{d}`" for d in weights_dirs()))
    with st.spinner("Reading checkpoints…"):
        files = weights_catalog()
    good = [f for f in files if f["ok"]]
    bad = [f for f in files if not f["ok"]]
    if not files:
        st.info("No checkpoint files found. Copy them into weights/ (or set WORKBENCH_WEIGHTS).")
        return
    if good:
        st.subheader(f"{len(good)} loadable")
        st.dataframe(pd.DataFrame([{
            "file": f["file"], "architecture": f["architecture"], "role": f["role"], "width": f["width"],
            "parameters": f["parameters"], "size (MB)": round(f["size_bytes"] / 1e6, 3), "format": f["format"],
            "sha256": f["sha256"], "metadata": json.dumps(f["metadata"], sort_keys=True), "path": f["path"],
        } for f in good]), hide_index=True)
    if bad:
        st.subheader(f"{len(bad)} not loadable")
        st.dataframe(pd.DataFrame([{"file": f["file"], "reason": f["error"], "path": f["path"]} for f in bad]),
                     hide_index=True)


if __name__ == "__main__":
    render()
