"""Train, select and evaluate one run (or a sweep with -m). Thin Hydra entry point.

    python src/train.py                                  # the LIMA mix on the miniature
    python src/train.py -m data.size=2000,4000           # a multirun: one run directory each
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from limalab.cli import main_run


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    hc = HydraConfig.get()
    job_dir = Path(hc.runtime.output_dir) if hc.mode == RunMode.MULTIRUN else None
    return main_run(OmegaConf.to_container(cfg, resolve=True), job_dir)


if __name__ == "__main__":
    main()
