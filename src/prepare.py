"""Read, filter, mix and subset a data arm exactly as ``train.py`` would, and train nothing:
writes ``<runs_dir>/.data/<hash>/manifest.json`` and ``preview.md``. Takes train.py's overrides.

    python src/prepare.py data=se_unfiltered data.size=2000
    python src/prepare.py -m data=se_filtered,se_unfiltered,wikihow
"""

from __future__ import annotations

import json
import os
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from limalab.cli import USER_ERRORS
from limalab.pipeline.prepare_data import prepare_alone


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> None:
    try:
        out = prepare_alone(OmegaConf.to_container(cfg, resolve=True))
    except (
        USER_ERRORS
    ) as e:  # one line naming the key or file (HYDRA_FULL_ERROR=1 for the traceback)
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        raise SystemExit(f"error: {e}") from None
    print((out / "preview.md").read_text().split("\n## Filters")[0])
    for warning in json.loads((out / "manifest.json").read_text()).get("warnings", []):
        print(f"WARNING: {warning}", file=sys.stderr)
    print(f"manifest and preview: {out}")


if __name__ == "__main__":
    main()
