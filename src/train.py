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
    multirun = hc.mode == RunMode.MULTIRUN
    job_dir = Path(hc.runtime.output_dir) if multirun else None
    launch = {
        "dir": hc.runtime.output_dir,
        "overrides": list(hc.overrides.task),
        "multirun": Path(hc.sweep.dir).name if multirun else None,
        "job": hc.job.num if multirun else None,
        "choices": {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra/")},
    }
    return main_run(OmegaConf.to_container(cfg, resolve=True), job_dir, launch)


if __name__ == "__main__":
    main()
