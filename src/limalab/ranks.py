"""Which process this is, as the launcher (torchrun, SLURM, Lightning's subprocess launcher)
says, before any process group exists: rank 0 owns the run directory, the others only train."""

from __future__ import annotations

import os


def worker_rank() -> int:
    """This process's global rank as set by the launcher (torchrun, SLURM, or Lightning's own
    subprocess launcher), before any process group exists."""
    for var in ("RANK", "SLURM_PROCID"):
        if var in os.environ:
            return int(os.environ[var])
    local = int(os.environ.get("LOCAL_RANK", 0))
    return (
        int(os.environ.get("NODE_RANK", 0)) * int(os.environ.get("LOCAL_WORLD_SIZE", 1) or 1)
        + local
    )
