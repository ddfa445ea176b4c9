"""One smoke world (and its base model) shared by every test that needs one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from limalab.config.compose import compose
from limalab.world.build import WorldConfig, build_world

# Property tests: `make test` runs the derandomized `ci` profile (the same examples on every run,
# so CI gives the same outcome every time); `make fuzz` runs `fuzz`, long and random.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    max_examples=5000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
FUZZ = settings.default.max_examples >= 5000


def examples(n: int) -> int:
    """A property test's example count: ``n`` in CI, 50 times more under ``make fuzz``."""
    return n * 50 if FUZZ else n


ROOT = Path(__file__).resolve().parents[1]


SMOKE_WORLD = WorldConfig(
    **compose(["experiment=smoke"])["world"]
)  # the world experiment=smoke uses


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("limalab-cache")


@pytest.fixture(scope="session")
def smoke_world(cache_dir: Path) -> Path:
    """The world of ``experiment=smoke`` (same config, so train.py finds it in the cache)."""
    return build_world(SMOKE_WORLD, cache_dir)


def run_cli(
    args: list[str], cache_dir: Path, cwd: Path, timeout: int = 900
) -> subprocess.CompletedProcess:
    """Run a real command as a user would, with the shared cache and everything kept local."""
    env = {
        **os.environ,
        "LIMALAB_CACHE": str(cache_dir),
        "WANDB_MODE": "offline",
        "TMPDIR": str(cwd),
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed "
            f"({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        )
    return proc


# A tiny grouped-query LLaMA for layout, attention and loss tests (no world needed).
TINY_GQA_LLAMA = dict(
    vocab_size=64,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
)
SMOKE = ["experiment=smoke", "trainer.enable_progress_bar=false"]


@pytest.fixture(scope="session")
def smoke_run(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One trained smoke run (``src/train.py experiment=smoke``): its work dir and stdout.
    Tests that add files to it work on a copy."""
    work = tmp_path_factory.mktemp("e2e")
    proc = run_cli(
        [str(ROOT / "src" / "train.py"), *SMOKE, f"runs_dir={work / 'runs'}"], cache_dir, work
    )
    return work, proc.stdout


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory):
    """A one-node SLURM cluster for the session (tests/slurm_cluster.py), stopped by PID at the
    end; skipped, in one line, where SLURM is not installed or this is not root."""
    from .slurm_cluster import Cluster, unavailable

    reason = unavailable()
    if reason:
        pytest.skip(reason)
    cluster = Cluster(tmp_path_factory.mktemp("slurm"), fake_gpu_node=True)
    cluster.start()
    yield cluster
    cluster.stop()


def the_run(runs: Path) -> Path:
    dirs = [d for d in runs.iterdir() if d.is_dir() and not d.name.startswith(".")]
    assert len(dirs) == 1, dirs
    return dirs[0]
