"""The composed config of a command, from code (tests, benches, notebooks): what
``python src/<name>.py <overrides>`` would run with. ``conf/`` is the one place of defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"


def compose(overrides: list[str] | None = None, name: str = "train") -> dict[str, Any]:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_container(
            hydra_compose(name, overrides=list(overrides or [])), resolve=True
        )
