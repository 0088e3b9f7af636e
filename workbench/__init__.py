"""The Streamlit pages of the Sketch Workbench and their helpers.

``streamlit_app.py`` routes to one module per page in ``workbench/pages/``
(compare, preferences, metrics, overfitting, sweeps, checkpoints); the pages
stay thin and call ``core`` and the helpers here: ``grid`` builds comparison
grids, ``views`` picks what a cell shows, ``media`` serves images from caches
bounded in bytes (``cache``), ``state`` holds each session's store
connection, ``cell_dialog``, ``tagging`` and ``widgets`` are shared page parts,
``charts`` builds tables and figures, ``components`` holds offline HTML widgets.
"""
