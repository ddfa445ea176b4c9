"""Running limalab on a SLURM cluster through Hydra's submitit launcher (``hydra/launcher=slurm``):
the job's resources from the trainer config (``resources``), job states without SLURM accounting
(``watcher``), and a checkpoint before a time limit or preemption requeues the job (``requeue``).
The launcher itself is the Hydra plugin ``hydra_plugins.limalab_slurm``."""
