"""Offline components of the workbench: ``viewer/``, the Compare grid viewer (:mod:`workbench.viewer` mounts it).

Each is plain HTML, JavaScript and CSS from its folder, so nothing is fetched
from a CDN and nothing is built at install time.
"""
