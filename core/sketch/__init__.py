"""Sketches as ink and as strokes: measuring a raster sketch and tracing it into pen strokes.

Modules, from the bottom up (each imports only those above it):

- ``metric_names``: the metric names and descriptions, listed once (no image libraries; the store uses it).
- ``ink``: ink primitives: check a sketch, ink mask and depth, line width from depth, thinning.
- ``strokes``: the stroke model (``Stroke``, ``Strokes``), stroke-3 form and drawing order.
- ``polylines``: polyline lengths and Ramer-Douglas-Peucker simplification.
- ``skeleton``: a thinned sketch's pixel graph traced into edges between junctions and endpoints.
- ``tracing``: ``vectorize``, raster sketch to ordered strokes, and its ``VectorizeParams``.
- ``rendering``: strokes drawn as SVG, raster, drawing-order GIF and vector-frame PNG.
- ``stroke_files``: the ``.npz`` strokes format and ``write_stroke_files``, the four files of one sketch.
- ``metrics``: per-output numbers (ink, strokes, agreement with a reference).
"""
