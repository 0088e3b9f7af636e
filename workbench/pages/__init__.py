"""The app's pages, one module each; ``streamlit_app.py`` routes to them."""
