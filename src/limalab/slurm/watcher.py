"""Job states for the launcher when SLURM keeps no accounting.

submitit asks ``sacct`` for the states of the jobs it waits on. Without accounting
(``AccountingStorageType=accounting_storage/none``, common on small clusters) every poll fails
with a warning, and a job that died without writing its result (killed, out of memory, out of
requeues) is waited on forever. This watcher asks ``sacct`` until it first fails, says so once,
and then reads the states from ``squeue``; a job the controller no longer lists has ended."""

from __future__ import annotations

import logging
import subprocess
import time

from submitit.slurm.slurm import SlurmInfoWatcher

log = logging.getLogger("limalab")

ENDED = "ENDED"  # no longer listed by squeue: finished (its result file says how)
SQUEUE_DELAY_S = 30  # squeue asks the controller, not the database: a dead job is seen within 30 s
HEADER = "JobID|State|NodeList"  # sacct's columns, so submitit's parser reads squeue's lines too


class SqueueWatcher(SlurmInfoWatcher):
    def __init__(self, delay_s: int = 60) -> None:
        super().__init__(delay_s)
        self.accounting = True

    def update(self) -> None:
        command = self._make_command()
        if command is None:
            return
        self._num_calls += 1
        if not (self.accounting and self._update_from_sacct(command)):
            self._update_from_squeue()
        self._last_status_check = time.time()
        for job_id in self._registered - self._finished:
            if self.is_done(job_id, mode="cache"):
                self._finished.add(job_id)

    def _update_from_sacct(self, command: list[str]) -> bool:
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode == 0:
            self._info_dict.update(self.read_info(proc.stdout))
            return True
        self.accounting = False
        self._delay_s = min(self._delay_s, SQUEUE_DELAY_S)
        reason = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        log.warning("SLURM accounting is off (sacct: %s): job states come from squeue", reason)
        return False

    def _update_from_squeue(self) -> None:
        waiting = self._registered - self._finished
        proc = subprocess.run(
            ["squeue", "--me", "--noheader", "--states=all", "--format=%i|%T|%N"],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:  # the controller is unreachable: keep the last states
            log.debug("squeue failed: %s", proc.stderr.strip())
            return
        info = self.read_info("\n".join([HEADER, *proc.stdout.splitlines()]))
        self._info_dict.update(info)
        for job_id in waiting - set(info):
            self._info_dict[job_id] = {"JobID": job_id, "State": ENDED, "NodeList": ""}


def install() -> SqueueWatcher:
    """Make every SLURM job of this process use the watcher (submitit shares one per job class)."""
    from submitit.slurm.slurm import SlurmJob

    if not isinstance(SlurmJob.watcher, SqueueWatcher):
        SlurmJob.watcher = SqueueWatcher(delay_s=SlurmJob.watcher._delay_s)
    return SlurmJob.watcher
