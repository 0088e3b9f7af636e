"""Counting preferences: how often each value of an axis was preferred."""
