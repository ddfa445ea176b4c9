"""Train, select and evaluate one run (or a sweep with -m). Thin Hydra entry point.

    python src/train.py                                  # the LIMA mix on the miniature
    python src/train.py -m data.size=2000,4000           # a multirun: one run directory each
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from limalab.cli import main_run


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    return main_run(OmegaConf.to_container(cfg, resolve=True))


if __name__ == "__main__":
    main()
