"""limalab through a real SLURM cluster (one node on this machine, ``tests/slurm_cluster.py``,
shared by the session): the launcher's resources for every trainer, two ranks from SLURM's
environment on an empty cache, a smoke multirun, and a preempted job and a job out of time that
both finish equal to the uninterrupted run. ``make ablations-smoke`` through SLURM, killed and
rerun: tests/faults/test_ablations_kill.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import ROOT, SMOKE
from tests.model.test_sharded import EXACT, SHARDED_REL, step_losses
from tests.slurm_cluster import Cluster

pytestmark = pytest.mark.slow
RUN = [*SMOKE, *EXACT]  # per-step losses, no dropout, the last epoch selected: runs compare exactly
SIZE = "data.size=60"  # the smoke run's size: the reference every interrupted run is compared with


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This module's own cache, empty at first: the first job (two ranks) builds the world, the
    tokenizer and the base model, one rank at a time, and every later job reads them."""
    return tmp_path_factory.mktemp("slurm-cache")


def environment(
    cluster: Cluster, cache_dir: Path, work: Path, extra: dict | None = None
) -> dict[str, str]:
    return {
        **os.environ,
        **cluster.env,
        "LIMALAB_CACHE": str(cache_dir),
        "WANDB_MODE": "offline",
        "TMPDIR": str(work),
        "HF_HUB_OFFLINE": "1",
        **(extra or {}),
    }


def submit(
    cluster: Cluster, cache_dir: Path, work: Path, *args: str, env: dict | None = None
) -> subprocess.Popen:
    """``src/train.py -m hydra/launcher=slurm ...``: it submits the jobs and waits for them."""
    cmd = [
        sys.executable,
        str(ROOT / "src" / "train.py"),
        "-m",
        "hydra/launcher=slurm",
        *RUN,
        *args,
        f"runs_dir={work / 'runs'}",
    ]
    return subprocess.Popen(
        cmd,
        cwd=work,
        env=environment(cluster, cache_dir, work, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 900) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"{out[-3000:]}\n{err[-5000:]}"
    return out + err


def job_logs(work: Path) -> str:
    """Every task's stdout and stderr (submitit appends each attempt of a requeued job)."""
    logs = sorted((work / "runs" / ".launches").glob("*/.submitit/*/*_log.*"))
    return "".join(p.read_text(errors="replace") for p in logs)


def the_run(work: Path) -> Path:
    dirs = [d for d in (work / "runs").iterdir() if d.is_dir() and not d.name.startswith(".")]
    assert len(dirs) == 1, dirs
    return dirs[0]


def offline_runs(rd: Path, job: str = "train") -> list[Path]:
    """The run's offline W&B runs of one job type (one directory per process that logged): the
    evaluation's W&B run is ``<train run id>-eval``."""
    runs = sorted((rd / "wandb").glob("offline-run-*"))
    return [p for p in runs if p.name.endswith("-eval") == (job == "evaluate")]


def wandb_ids(rd: Path) -> set[str]:
    """W&B run ids of the run's training attempts (``offline-run-<date>_<time>-<id>``)."""
    return {p.name.split("-", 3)[3] for p in offline_runs(rd)}


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the launcher ended first:\n{proc.communicate()[1][-3000:]}"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.5)
    return path.read_text()


def assert_equal_runs(rd: Path, ref: Path, resumed_at: int) -> None:
    """The same losses at every step trained after the resume (the resumed run's metrics.csv
    starts there), the same final weights, the same test score."""
    losses, want = step_losses(rd), step_losses(ref)
    assert sorted(losses) == [s for s in sorted(want) if s >= resumed_at] and len(want) >= 10
    for step, loss in losses.items():
        assert loss == pytest.approx(want[step], rel=1e-5), step
    wa, wb = (
        load_file(rd / "model" / "model.safetensors"),
        load_file(ref / "model" / "model.safetensors"),
    )
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.allclose(wa[k], wb[k], rtol=1e-5, atol=1e-7), k
    got, ref_results = (json.loads((d / "results.json").read_text()) for d in (rd, ref))
    assert (
        got["status"] == "complete"
        and got["metrics"]["judge_mean"] == ref_results["metrics"]["judge_mean"]
    )


def sbatch_script(launcher: dict, folder: Path) -> str:
    """The batch script submitit writes for these launcher settings (as Hydra's submitit launcher
    hands them to it)."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    base = set(OmegaConf.structured(BaseQueueConf).keys())
    ex = submitit.AutoExecutor(folder=folder, cluster="slurm")
    ex.update_parameters(
        **{
            k if k in base else f"slurm_{k}": v
            for k, v in launcher.items()
            if k not in ("_target_", "submitit_folder", "max_num_timeout")
        }
    )
    return ex._executor._make_submission_file_text("true", "check")


@pytest.mark.parametrize(
    ("trainer", "site", "tasks", "gpus"),
    [
        ("cpu", [], 1, None),
        ("fsdp2_cpu", [], 2, None),
        ("gpu", ["hydra.launcher.partition=gpu"], 1, 1),
        (
            "fsdp",
            [
                "hydra.launcher.partition=gpu",
                "hydra.launcher.timeout_min=600",
                "hydra.launcher.account=lima",
                "hydra.launcher.qos=high",
            ],
            8,
            8,
        ),  # devices -1: a node of 8; the site's settings pass through
    ],
)
def test_each_trainer_submits_a_job_slurm_accepts(
    trainer: str, site: list[str], tasks: int, gpus: int | None, slurm: Cluster, tmp_path: Path
) -> None:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(str(ROOT / "conf"), version_base=None):
        cfg = compose(
            "train", ["hydra/launcher=slurm", f"trainer={trainer}", *site], return_hydra_config=True
        )
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launcher["_target_"] == "hydra_plugins.limalab_slurm.launcher.SlurmLauncher"
    assert (launcher["tasks_per_node"], launcher["gpus_per_node"]) == (tasks, gpus)
    script = sbatch_script(launcher, tmp_path)
    assert f"--ntasks-per-node={tasks}" in script and ("--gpus-per-node" in script) == bool(gpus)
    path = tmp_path / "job.sh"
    path.write_text(script)
    if gpus:  # partition gpu: a node with a GPU node's shape (8 GPUs, 64 CPUs), for --test-only
        slurm.resume_fake_gpu_node()
        assert "--partition=gpu" in script
    if trainer == "fsdp":
        assert "--time=600" in script and "--account=lima" in script and "--qos=high" in script
    accepted = slurm.run("sbatch", "--test-only", str(path), check=False)
    assert accepted.returncode == 0 and "to start at" in accepted.stderr, accepted.stderr
    # the control: what the launcher config asked of every trainer before (8 GPUs) is refused on a
    # CPU node
    path.write_text(sbatch_script({**launcher, "gpus_per_node": 8, "partition": None}, tmp_path))
    refused = slurm.run("sbatch", "--test-only", str(path), check=False)
    assert refused.returncode != 0 and "not available" in refused.stderr, refused.stderr


def test_a_sweep_over_the_trainers_devices_is_refused() -> None:
    """One command is one submission with one set of resources (sweeping other trainer keys is
    fine)."""
    from hydra_plugins.limalab_slurm.launcher import one_trainer

    one_trainer(
        [
            ["trainer=fsdp2_cpu", "data.size=40", "trainer.compile=true"],
            ["trainer=fsdp2_cpu", "data.size=80", "trainer.compile=false"],
        ]
    )
    with pytest.raises(ValueError, match="one command submits its jobs with one set of resources"):
        one_trainer([["trainer=cpu", "data.size=40"], ["trainer=fsdp2_cpu", "data.size=40"]])
    with pytest.raises(ValueError, match="derived from its trainer"):
        one_trainer([["trainer.devices=1"], ["trainer.devices=2"]])


def test_job_states_without_accounting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """sacct fails (accounting off): said once, then squeue's states; a job squeue no longer
    lists (purged after MinJobAge) has ended instead of being waited on forever."""
    from limalab.slurm.watcher import ENDED, SqueueWatcher

    (tmp_path / "sacct").write_text(
        "#!/bin/sh\necho 'sacct: error: Slurm accounting storage is disabled' >&2\nexit 1\n"
    )
    (tmp_path / "squeue").write_text(
        "#!/bin/sh\necho '7_0|RUNNING|vm'\necho '7_[1-2]|PENDING|'\n"
        "echo '8|COMPLETING|vm'\necho '9|REQUEUED|'\n"
    )
    for f in ("sacct", "squeue"):
        (tmp_path / f).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    watcher = SqueueWatcher(delay_s=600)
    for job in ("7_0", "7_1", "7_2", "8", "9", "5"):
        watcher.register_job(job)
    with caplog.at_level("WARNING", logger="limalab"):
        watcher.update()
        watcher.update()
    assert [r.getMessage() for r in caplog.records] == [
        "SLURM accounting is off (sacct: sacct: error: Slurm accounting storage is disabled): job "
        "states come from squeue"
    ]
    states = {
        job: watcher.get_state(job, mode="cache") for job in ("7_0", "7_1", "7_2", "8", "9", "5")
    }
    assert states == {
        "7_0": "RUNNING",
        "7_1": "PENDING",
        "7_2": "PENDING",
        "8": "COMPLETING",
        "9": "REQUEUED",
        "5": ENDED,
    }
    assert [j for j in states if watcher.is_done(j, mode="cache")] == [
        "5"
    ]  # a requeued job is still waited on
    assert watcher._delay_s == 30


@pytest.fixture(scope="module")
def two_ranks(slurm: Cluster, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``trainer=fsdp2_cpu`` through SLURM: one job of 2 tasks, on the module's empty cache."""
    work = tmp_path_factory.mktemp("slurm-two-ranks")
    finish(submit(slurm, cache_dir, work, "trainer=fsdp2_cpu", SIZE))
    return work


@pytest.fixture(scope="module")
def multirun(
    slurm: Cluster, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """A smoke multirun through SLURM, one job per size, in parallel on the node."""
    work = tmp_path_factory.mktemp("slurm-multirun")
    return work, finish(submit(slurm, cache_dir, work, "data.size=40,60"))


@pytest.fixture(scope="module")
def reference(multirun: tuple[Path, str]) -> Path:
    """The uninterrupted one-process run at the smoke size."""
    runs = multirun[0] / "runs"
    return next(
        p.parent
        for p in runs.glob("*/results.json")
        if json.loads(p.read_text())["n_examples"] == 60
    )


def test_two_ranks_from_slurm_match_one_process(
    two_ranks: Path, reference: Path, cache_dir: Path
) -> None:
    logs = job_logs(two_ranks)
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in logs and "GLOBAL_RANK: 1, MEMBER: 2/2" in logs
    script = next(
        (two_ranks / "runs" / ".launches").glob("*/.submitit/*/*_submission.sh")
    ).read_text()
    assert "--ntasks-per-node=2" in script
    # the empty cache was filled by one rank while the other waited: one world, one base, built once
    assert [
        len([d for d in (cache_dir / kind).iterdir() if d.is_dir()]) for kind in ("worlds", "base")
    ] == [1, 1]
    assert logs.count("building world") == 1 and logs.count("pretraining base") == 1
    rd = the_run(two_ranks)
    assert (rd / "checkpoints" / "last.ckpt").is_dir()  # FSDP2's sharded checkpoint
    # rank 0 alone owns the run directory: one report, one W&B run, one metrics file
    assert (
        logs.count("run directory:") == 1
        and len(offline_runs(rd)) == 1
        and len(offline_runs(rd, "evaluate")) == 1
    )
    assert len(list(rd.rglob("metrics.csv"))) == 1
    sharded, one = step_losses(rd), step_losses(reference)
    assert sorted(sharded) == sorted(one) and len(one) >= 10
    for step, loss in one.items():
        assert sharded[step] == pytest.approx(loss, rel=SHARDED_REL), step


def test_smoke_multirun_runs_one_job_per_run(multirun: tuple[Path, str]) -> None:
    work, out = multirun
    results = [json.loads(p.read_text()) for p in (work / "runs").glob("*/results.json")]
    assert sorted(r["n_examples"] for r in results) == [40, 60] and {
        r["status"] for r in results
    } == {"complete"}
    scripts = list((work / "runs" / ".launches").glob("*/.submitit/*/*_submission.sh"))
    assert scripts and all(
        "--ntasks-per-node=1" in s.read_text() and "gpus" not in s.read_text() for s in scripts
    )
    # no accounting on this cluster: said once, not a sacct warning per status poll
    assert out.count("SLURM accounting is off") == 1 and "sacct error" not in out
    assert job_logs(work).count("run directory:") == 2


def test_preempted_job_resumes_to_the_uninterrupted_run(
    reference: Path, slurm: Cluster, cache_dir: Path, tmp_path: Path
) -> None:
    # 12 steps, a checkpoint every 2: the job waits at step 5 until SLURM preempts it (SIGTERM),
    # comes back and resumes from step 4
    marker = tmp_path / "stalled"
    proc = submit(
        slurm,
        cache_dir,
        tmp_path,
        SIZE,
        env={"LIMALAB_STALL_AT": "train_step:5", "LIMALAB_STALL_MARKER": str(marker)},
    )
    with slurm.release_requeued() as released:
        job = wait_for(marker, proc).split("job ")[1].split()[0]
        slurm.run("scontrol", "requeue", job)
        finish(proc)
    assert released == [job] and slurm.job_fields(job)["Restarts"] == "1"
    logs = job_logs(tmp_path)
    assert "resumed from step 4" in logs and "requeue signal" not in logs
    # the preempted attempt (its W&B service killed with it) left no result: the job's is the
    # rerun's
    assert logs.count("SLURM ended this attempt") == 1
    outcome = next((tmp_path / "runs" / ".launches").glob("*/0/outcome.json"))
    assert json.loads(outcome.read_text())["status"] == "complete"
    rd = the_run(tmp_path)
    assert_equal_runs(rd, reference, resumed_at=4)
    prov = json.loads((rd / "provenance.json").read_text())
    assert prov["resumed_at"] and wandb_ids(rd) == {
        prov["wandb_id"]
    }  # one W&B run across the requeue
    assert len(offline_runs(rd)) == 2  # ... logged by both attempts


def test_job_out_of_time_checkpoints_requeues_and_completes(
    reference: Path, slurm: Cluster, cache_dir: Path, tmp_path: Path
) -> None:
    # a 3-minute limit; SLURM warns 90 s before it (its time checks run every 30 s, so 60-90 s
    # after the start) while the job waits at step 5; it saves a checkpoint there and submitit
    # requeues it (one timeout of max_num_timeout); it resumes from step 5 and finishes
    proc = submit(
        slurm,
        cache_dir,
        tmp_path,
        SIZE,
        "hydra.launcher.timeout_min=3",
        "hydra.launcher.signal_delay_s=90",
        env={"LIMALAB_STALL_AT": "train_step:5", "LIMALAB_STALL_MARKER": str(tmp_path / "stalled")},
    )
    with slurm.release_requeued() as released:
        finish(proc)
    logs = job_logs(tmp_path)
    assert "this job is timed-out" in logs
    assert "at step 5" in logs.split("requeue signal: saved")[1].split("\n")[0]
    assert (
        logs.split("resumed from step ")[1].split()[0] == "5"
    )  # the first resume: from the signal's checkpoint
    job = released[0]
    assert int(slurm.job_fields(job)["Restarts"]) == len(released) >= 1
    rd = the_run(tmp_path)
    assert_equal_runs(rd, reference, resumed_at=5)
    assert wandb_ids(rd) == {json.loads((rd / "results.json").read_text())["wandb_run_id"]}
