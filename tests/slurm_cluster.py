"""A one-node SLURM cluster on this machine: ``munged``, ``slurmctld`` and ``slurmd`` started from
a ``slurm.conf`` written here, every file (config, munge key, state, spool, logs, PIDs) under one
directory, stopped by their PIDs. The SLURM tests share one per session (``tests/conftest.py``);
people try the launcher on it with ``make slurm-up`` / ``make slurm-down``:

    python -m tests.slurm_cluster up .slurm     # prints the SLURM_CONF to export
    python -m tests.slurm_cluster down .slurm

It installs nothing: Debian's packages must be there (``PACKAGES``), and it runs as root (slurmd
starts every job's processes). Accounting is off, as on many small clusters."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

PACKAGES = "slurmctld slurmd slurm-client munge"
COMMANDS = (
    "munged",
    "slurmctld",
    "slurmd",
    "sbatch",
    "srun",
    "squeue",
    "scontrol",
    "scancel",
    "sinfo",
)
DAEMONS = ("munged", "slurmctld", "slurmd")  # started in this order, stopped in the reverse
FAKE_GPU_NODE = (
    "gpu-node"  # a GPU node's shape, no GPUs: sbatch --test-only checks GPU jobs against it
)
MAX_ROOT_CHARS = 60  # job-step sockets live in the spool dir; a Unix socket path has 108 bytes


def unavailable() -> str | None:
    """Why a cluster cannot start here, in one line (None: it can)."""
    missing = [c for c in COMMANDS if shutil.which(c) is None]
    if missing:
        return (
            f"SLURM is not installed ({', '.join(missing)} missing): apt-get install -y {PACKAGES}"
        )
    if os.geteuid() != 0:
        return "a local SLURM cluster needs root (slurmd starts the jobs' processes)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def real_memory_mb() -> int:
    kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    return int(kb / 1024 * 0.9)  # what slurmd finds, less a margin, or the node is invalid


class Cluster:
    def __init__(self, root: Path, fake_gpu_node: bool = False) -> None:
        self.root = Path(root).resolve()
        self.fake_gpu_node = fake_gpu_node
        self.node = socket.gethostname().split(".")[0]
        self.path = self._short_path()
        self.conf = self.path / "slurm.conf"
        self.procs: dict[str, subprocess.Popen] = {}

    def _short_path(self) -> Path:
        if len(str(self.root)) <= MAX_ROOT_CHARS:
            return self.root
        link = (
            Path("/tmp") / f"limalab-slurm-{hashlib.sha1(str(self.root).encode()).hexdigest()[:10]}"
        )
        if not link.is_symlink():
            link.symlink_to(self.root, target_is_directory=True)
        return link

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to use this cluster (jobs inherit it from the submitter)."""
        return {"SLURM_CONF": str(self.conf)}

    def write_config(self) -> None:
        p = self.path
        for d in ("munge", "state", "spool", "log"):
            (p / d).mkdir(parents=True, exist_ok=True)
        key = p / "munge" / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
            key.chmod(0o400)
        lines = [
            "ClusterName=limalab",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            f"AuthInfo=socket={p}/munge/munge.socket",
            f"StateSaveLocation={p}/state",
            f"SlurmdSpoolDir={p}/spool",
            f"SlurmctldPidFile={p}/slurmctld.pid",
            f"SlurmdPidFile={p}/slurmd.pid",
            f"SlurmctldLogFile={p}/log/slurmctld.log",
            f"SlurmdLogFile={p}/log/slurmd.log",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",  # no cgroups needed
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "SchedulerType=sched/builtin",
            "MpiDefault=none",
            "MailProg=/bin/true",
            "ReturnToService=2",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "KillWait=5",  # a preempted job's grace between SIGTERM and SIGKILL (default 30 s)
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} "
            f"RealMemory={real_memory_mb()} State=UNKNOWN",
            f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
        ]
        if self.fake_gpu_node:  # DOWN until a test resumes it; only sbatch --test-only ever uses it
            lines += [
                "GresTypes=gpu",
                f"NodeName={FAKE_GPU_NODE} NodeAddr=127.0.0.2 CPUs=64 RealMemory=1000000 "
                "Gres=gpu:8 State=DOWN",
                f"PartitionName=gpu Nodes={FAKE_GPU_NODE} MaxTime=INFINITE State=UP",
            ]
        self.conf.write_text("\n".join(lines) + "\n")

    def commands(self) -> dict[str, list[str]]:
        p = self.path
        return {
            # as root: --force accepts a socket directory only root can reach (a test's temp dir)
            "munged": [
                "munged",
                "--foreground",
                "--force",
                f"--socket={p}/munge/munge.socket",
                f"--key-file={p}/munge/munge.key",
                f"--pid-file={p}/munge/munged.pid",
                f"--log-file={p}/log/munged.log",
                f"--seed-file={p}/munge/munged.seed",
            ],
            "slurmctld": ["slurmctld", "-D", "-f", str(self.conf)],
            "slurmd": ["slurmd", "-D", "-f", str(self.conf), "-N", self.node],
        }

    def start(self, timeout: float = 60, detach: bool = False) -> None:
        """Start the daemons; unless ``detach`` (``make slurm-up``), they die with this process."""
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        self.write_config()
        for name, cmd in self.commands().items():
            with (self.path / "log" / f"{name}.out").open("ab") as out:
                self.procs[name] = subprocess.Popen(
                    cmd,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    preexec_fn=None if detach else die_with_parent,
                )
            (self.path / f"{name}.pid.started").write_text(f"{self.procs[name].pid}\n")
            self._wait_for(name, timeout)

    def _wait_for(self, name: str, timeout: float) -> None:
        ready = {
            "munged": lambda: (self.path / "munge" / "munge.socket").exists(),
            "slurmctld": lambda: self.run("scontrol", "ping", check=False).returncode == 0,
            "slurmd": lambda: (
                self.run("sinfo", "-h", "-n", self.node, "-o", "%t", check=False).stdout.strip()
                == "idle"
            ),
        }[name]
        deadline = time.monotonic() + timeout
        while not ready():
            if self.procs[name].poll() is not None or time.monotonic() > deadline:
                log = self.path / "log" / f"{name}.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                self.stop()
                raise RuntimeError(f"{name} did not start (see {log}):\n{tail}")
            time.sleep(0.2)

    def resume_fake_gpu_node(self, timeout: float = 30) -> None:
        """Bring the fake GPU node into service for ``sbatch --test-only`` (it answers on the
        loopback, so it stays up; no job ever runs there)."""
        self.run("scontrol", "update", f"NodeName={FAKE_GPU_NODE}", "State=RESUME", check=False)
        deadline = time.monotonic() + timeout
        while (
            self.run("sinfo", "-h", "-n", FAKE_GPU_NODE, "-o", "%T", check=False).stdout.strip()
            != "idle"
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{FAKE_GPU_NODE} did not come up")
            time.sleep(0.5)

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        """A SLURM client command against this cluster."""
        proc = subprocess.run(
            cmd, env={**os.environ, **self.env}, capture_output=True, text=True, timeout=60
        )
        if check and proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def job_fields(self, job_id: str) -> dict[str, str]:
        """``scontrol show job`` as a dict (the controller keeps a finished job for MinJobAge, 300
        s)."""
        out = self.run("scontrol", "show", "job", "-o", str(job_id)).stdout
        return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)

    @contextlib.contextmanager
    def release_requeued(self, interval: float = 0.5) -> Iterator[list[str]]:
        """SLURM holds a requeued job for about two minutes (its begin time moves on) so that the
        node can clean up; this one-node cluster needs no such wait. While the block runs, every
        job pending for that reason is released at once; yields the ids of the jobs released
        (``job_fields(id)["Restarts"]`` counts their requeues)."""
        released: list[str] = []
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(interval):
                pending = self.run(
                    "squeue", "-h", "-t", "PD", "-o", "%i %r", check=False
                ).stdout.split("\n")
                for job_id, _, reason in (line.partition(" ") for line in pending if line.strip()):
                    if reason == "BeginTime":
                        self.run(
                            "scontrol", "update", f"JobId={job_id}", "StartTime=now", check=False
                        )
                        if job_id not in released:
                            released.append(job_id)

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        try:
            yield released
        finally:
            stop.set()
            thread.join()

    def cancel_all(self, timeout: float = 30) -> None:
        self.run("scancel", "--user=root", check=False)
        deadline = time.monotonic() + timeout
        while (
            self.run("squeue", "-h", "-t", "PD,R,CG", check=False).stdout.strip()
            and time.monotonic() < deadline
        ):
            time.sleep(0.5)

    def stop(self) -> None:
        """Cancel every job, then stop the daemons by PID (the newest first)."""
        if self.conf.exists() and (self.path / "slurmctld.pid.started").exists():
            with contextlib.suppress(Exception):
                self.cancel_all()
        for name in reversed(DAEMONS):
            pid_file = self.path / f"{name}.pid.started"
            if not pid_file.exists():
                continue
            pid = int(pid_file.read_text())
            stop_pid(pid, self.procs.get(name))
            pid_file.unlink()
        if self.path != self.root:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the process that started it dies (a killed test
    session leaves no daemons behind)."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop_pid(pid: int, proc: subprocess.Popen | None, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; reaps it when this process started it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid, proc) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid, proc):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if proc is not None:
            proc.wait(timeout=10)


def alive(pid: int, proc: subprocess.Popen | None) -> bool:
    if proc is not None:
        return proc.poll() is None
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"  # a zombie has exited (its parent, gone, cannot reap it)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("action", choices=["up", "down"])
    ap.add_argument("dir", type=Path, nargs="?", default=Path(".slurm"))
    args = ap.parse_args(argv)
    cluster = Cluster(args.dir)
    if args.action == "down":
        cluster.stop()
        print(f"SLURM cluster in {args.dir} stopped")
        return
    reason = unavailable()
    if reason:
        raise SystemExit(f"error: {reason}")
    if (cluster.path / "slurmctld.pid.started").exists():
        raise SystemExit(f"error: a cluster is already up in {args.dir} (make slurm-down first)")
    try:
        cluster.start(detach=True)
    except RuntimeError as e:
        raise SystemExit(f"error: {e}") from None
    print(
        f"SLURM cluster up: node {cluster.node}, {os.cpu_count()} CPUs, partition debug, state in "
        f"{args.dir}\nexport SLURM_CONF={cluster.conf}"
    )


if __name__ == "__main__":
    sys.exit(main())
