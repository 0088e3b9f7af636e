"""Offline components of the workbench: :mod:`workbench.components.before_after`, a slider between two images.

Each is plain HTML and JavaScript from this folder with everything inline, so
nothing is fetched from a CDN.
"""
