"""The original pipeline as pure functions (the seed profile), the classical baselines, image reading, a folder run."""
