"""Optuna search over the recipe (learning rate, epochs, dropout, batch size) with the dev
judge score as the objective; see conf/hpo.yaml and limalab/ablations/optuna_search.py.

    python src/hpo.py hpo.n_trials=20                   # resumable: rerun to continue the study
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from limalab.ablations.optuna_search import optimize
from limalab.cli import quiet_environment
from limalab.config import ConfigError, validate
from limalab.config.schema import HpoConfig


@hydra.main(version_base="1.3", config_path="../conf", config_name="hpo")
def main(cfg: DictConfig) -> None:
    c = OmegaConf.to_container(cfg, resolve=True)
    try:
        validate(c, HpoConfig)
    except ConfigError as e:
        raise SystemExit(f"error: {e}") from None
    quiet_environment(c)
    study = optimize(c)
    finished = [t for t in study.trials if t.value is not None]
    print(f"study {study.study_name}: {len(study.trials)} trials ({len(finished)} complete)")
    if finished:
        print(
            f"best dev judge {study.best_value:.3f} with {study.best_params} (run "
            f"{study.best_trial.user_attrs.get('run_id')})"
        )


if __name__ == "__main__":
    main()
