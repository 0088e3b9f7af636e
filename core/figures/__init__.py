"""Paper-ready figures: labelled grids of stored cells, drawn as PNG, SVG or PDF, with a manifest.

:mod:`core.figures.selection` picks the cells (one column axis, the other
settings fixed, rows of images) and names them; :mod:`core.figures.layout`
places panels and labels in pixels; :mod:`core.figures.raster` writes a
layout as a PNG band by band (any size, no pixel limit);
:mod:`core.figures.render` draws SVG/PDF with matplotlib (vector text),
exports a figure and writes its manifest beside it.
"""
