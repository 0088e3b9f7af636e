"""Sketch Workbench core: the original networks, the checkpoint loader, the pipeline, sweeps and the store.

This package never imports Streamlit; heavy modules (torch) are imported by
the submodules that need them, so ``import core`` stays cheap.
"""

__version__ = "0.1.0"
