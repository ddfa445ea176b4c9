"""Evaluate an existing run again without retraining (new judge, prompts or decoding), or
compare two runs pairwise. Thin Hydra entry point; see conf/evaluate.yaml.

    python src/evaluate.py run_dir=runs/<id> judge=likert
    python src/evaluate.py run_dir=runs/<id> compare_to=runs/<other> judge=pairwise
"""

from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from limalab.cli import main_evaluate


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    # the run's own eval settings are the base; only the eval.* keys given here change them
    overrides = [
        o.lstrip("+") for o in HydraConfig.get().overrides.task if o.lstrip("+").startswith("eval.")
    ]
    main_evaluate(OmegaConf.to_container(cfg, resolve=True), overrides)


if __name__ == "__main__":
    main()
