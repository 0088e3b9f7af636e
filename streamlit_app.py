"""Sketch Workbench in the browser: the router. Each page is a module in workbench/pages/.

Run ``workbench ui [--db PATH] [--port N]`` (or ``streamlit run streamlit_app.py``,
which reads ``.streamlit/config.toml``: 127.0.0.1 only, no usage statistics);
the store is ``$WORKBENCH_DB`` or ``runs/workbench.db``.

Nothing the app shows comes from outside the server: the favicon is the SVG
shipped in ``workbench/`` (sent inline; a ``:material/...:`` page icon would
make the browser fetch it from a font host), and the ``:material/...:`` icons
of the navigation and buttons are drawn with the Material Symbols font that
Streamlit serves itself.

The file is also the server's declaration: ``streamlit run`` finds the
``st.App`` below (by reading the source), imports this module as
``streamlit_app`` and serves the App with uvicorn; the App runs this same
file, as ``__main__``, for every browser session. So the import declares the
App with the workbench's extra routes (the store's output files at
``/files/...``, see ``workbench/server.py``) and its access check (a token
off loopback, ``workbench/access_middleware.py``), and a session's run builds
the pages.
"""

from pathlib import Path

import streamlit as st

ICON = Path(__file__).resolve().parent / "workbench" / "icon.svg"

if __name__ != "__main__":  # imported by `streamlit run` / uvicorn: the server, not a session
    from starlette.middleware import Middleware

    from workbench.access_middleware import TokenAccess
    from workbench.server import routes

    app = st.App(__file__, routes=routes(), middleware=[Middleware(TokenAccess)])
else:
    from workbench.state import controls_deferred, name_field, start_run

    st.set_page_config(page_title="Sketch Workbench", page_icon=str(ICON), layout="wide")

    pages = {
        "Look": [
            st.Page("workbench/pages/compare.py", title="Compare", icon=":material/grid_view:", default=True),
            st.Page("workbench/pages/preferences.py", title="Preferences", icon=":material/thumb_up:",
                    url_path="preferences"),
            st.Page("workbench/pages/ranking.py", title="Blind ranking", icon=":material/how_to_vote:",
                    url_path="ranking"),
        ],
        "Check": [
            st.Page("workbench/pages/metrics.py", title="Metrics", icon=":material/bar_chart:", url_path="metrics"),
            st.Page("workbench/pages/overfitting.py", title="Overfitting", icon=":material/query_stats:",
                    url_path="overfitting"),
        ],
        "Run": [
            st.Page("workbench/pages/sweeps.py", title="Sweeps", icon=":material/play_circle:", url_path="sweeps"),
            st.Page("workbench/pages/checkpoints.py", title="Checkpoints", icon=":material/inventory_2:",
                    url_path="checkpoints"),
        ],
    }

    page = st.navigation(pages)
    start_run()
    name_slot = st.sidebar.container()  # who the store records, asked once for every page, above its controls
    page.run()
    if not controls_deferred():  # a first view drawn alone gets its controls, and this field, on the next run
        name_field(name_slot)
