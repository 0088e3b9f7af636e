"""Test sets: their format, the photo and synthetic-scene sets the project builds, pencil drawings, uploads."""
