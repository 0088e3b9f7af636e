"""Training curves and evaluation scores: what training and the overfitting check recorded."""

from __future__ import annotations


class ScoreRecords:
    """Training curves and evaluation scores (mixed into :class:`core.store.store.Store`)."""
