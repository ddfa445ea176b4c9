"""A run's stages and the order they run in (``run.py``): data, train, select, export, evaluate."""
