"""The paper's ablations: sweep files (one per grid, W&B format) and the local runner."""
