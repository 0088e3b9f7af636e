"""The Streamlit pages of the Sketch Workbench and their helpers.

``streamlit_app.py`` routes to one module per page (compare, preferences,
sweeps, checkpoints); the pages stay thin and call ``core`` and the plain
helpers here (``grid`` builds comparison grids, ``media`` serves images,
``state`` opens the store named by ``WORKBENCH_DB``).
"""
