"""Every config key, declared once with its type and allowed range (pydantic).

The values — the defaults a user sees in ``python src/train.py --cfg job`` and overrides on the
command line — live in ``conf/`` and nowhere else: fields here have no defaults, except the
optional per-item flags of a data source (``scaled``, ``allow_repeat``, ...) that a YAML file
states only where it needs them, and a miniature base's ``reference``/``derive`` (only a base
scaled up from another has them, so today's config and run ids stay as they were). Unknown
keys are errors (a typo such as ``+data.sizee=5``
would otherwise be accepted silently and make a new run id).

Plugins declare their own options: a reader's source keys and a judge's keys are checked
against the model the plugin registers (``limalab.registry``) when it has one.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

PosInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


class Open(BaseModel):
    """A node whose extra keys belong to a plugin (checked against the plugin's own model)."""

    model_config = ConfigDict(extra="allow", frozen=True)


class PluginOptions(BaseModel):
    """The options a plugin reads from its config node, with their types and defaults (the one
    place of those defaults). Plugins subclass it and register it with themselves."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- world (the miniature's generator)
class World(Strict):
    seed: NonNegInt
    sft_entities_per_kind: PosInt
    eval_entities_per_kind: PosInt
    eval_value_fraction: Annotated[float, Field(gt=0, lt=1)]
    bios_per_entity: PosInt
    web_pages_per_entity: NonNegInt
    pool_scale: PosInt
    se_questions_per_scale: PosInt
    ni_instances_per_scale: PosFloat
    alpaca_size: PosInt
    passage_entities: tuple[PosInt, PosInt, PosInt]
    passage_sft_per_scale: PosInt


# --- data
class Step(Open):
    """A filter or cleaning step: ``name`` plus its own keyword arguments."""

    name: str


class Source(Open):
    """The keys every source has; the rest are its reader's options (``PluginOptions``)."""

    reader: str
    path: str
    count: NonNegInt | None = None
    fraction: Annotated[float, Field(gt=0, le=1)] | None = None
    scaled: bool = True  # false: data.size does not scale this source (e.g. "+30 dialogue chains")
    allow_repeat: bool = False  # upsample when the pool is smaller than the count
    clean: list[Step] | None = None  # this source's own cleaning steps instead of data.clean

    @model_validator(mode="after")
    def one_amount(self) -> Source:
        if (self.count is None) == (self.fraction is None):
            raise ValueError(
                "expected exactly one of count (an integer) and fraction (a share of the filtered "
                f"pool, 0 < fraction <= 1), got count={self.count!r} fraction={self.fraction!r}"
            )
        return self


class Data(Strict):
    name: str
    size: PosInt | None
    subset_seed: NonNegInt
    on_bad_record: Literal["error", "skip"]
    num_workers: NonNegInt
    sources: Annotated[dict[str, Source], Field(min_length=1)]
    clean: list[Step]
    # keys only some arms compose (each read where its arm's YAML says)
    se_filters: list[Step] | None = None  # the Stack Exchange filter list the arms interpolate
    world_filters: dict[str, dict[str, Any]] | None = (
        None  # filter parameters for world: paths only
    )
    release: str | None = None  # data=lima_release: the release's train.jsonl
    select: Literal["longest"] | None = (
        None  # data=se_longest: the N longest responses instead of a draw
    )


# --- model
class Arch(Strict):
    hidden_size: PosInt
    num_hidden_layers: PosInt
    num_attention_heads: PosInt
    intermediate_size: PosInt
    max_position_embeddings: PosInt


class Pretrain(Strict):
    epochs: PosInt
    batch_size: PosInt
    seq_len: Annotated[int, Field(ge=8)]
    lr: PosFloat
    warmup_steps: NonNegInt
    final_lr_ratio: Fraction
    seed: NonNegInt
    checkpoint_every_n_steps: PosInt
    input_lr_scale: PosFloat = 1.0  # lr x for the input embedding and norm gains (base_recipe.py)
    init_width_mult: PosFloat = 1.0  # muP init relative to a base this many times narrower


class ModelCommon(Strict):
    name: str
    init: Literal["pretrained", "random"]
    eot_token: Annotated[str, Field(min_length=1)]
    frozen: list[str]
    residual_dropout: Annotated[float, Field(ge=0, lt=1)]


class BaseDerivation(Strict):
    """How a larger base's recipe follows from its reference (config/base_recipe.py)."""

    lr_width_exponent: NonNegFloat
    tokens_ratio: PosFloat
    gate: Annotated[list[Literal["accuracy", "named_accuracy"]], Field(min_length=1)]


class MiniatureModel(ModelCommon):
    source: Literal["miniature"]
    arch: Arch
    pretrain: Pretrain
    # a base scaled up from another (conf/model/tiny_large.yaml): both keys or neither. Defaults
    # of None, so a base without them (today's tiny) composes to the same config and run ids
    reference: MiniatureModel | None = None
    derive: BaseDerivation | None = None

    @model_validator(mode="after")
    def derived_from_reference(self) -> MiniatureModel:
        if (self.reference is None) != (self.derive is None):
            raise ValueError(
                "derive: a base scaled up from another needs both model.reference (the base it "
                "scales up) and model.derive (how its recipe follows), or neither"
            )
        if self.reference is not None and self.reference.reference is not None:
            raise ValueError(
                "reference: expected a base that is not itself derived "
                "(e.g. model@model.reference=tiny)"
            )
        return self


class CheckpointModel(ModelCommon):
    source: Literal["checkpoint"]
    path: str | None  # null in the YAML until the user says where the weights are
    pretrain_lr: (
        PosFloat | None
    )  # the base's own pretraining peak (the regime's lr ratio); null: not stated
    dtype: Literal["float32", "bfloat16", "float16"]

    @model_validator(mode="after")
    def has_path(self) -> CheckpointModel:
        if not self.path:
            raise ValueError(
                "path: required for model.source=checkpoint: the checkpoint's directory "
                "(or the environment variable the model's config names, e.g. LIMALAB_LLAMA_7B)"
            )
        return self


def _source(v: Any) -> str | None:
    return v.get("source") if isinstance(v, dict) else getattr(v, "source", None)


Model = Annotated[
    Annotated[MiniatureModel, Tag("source=miniature")]
    | Annotated[CheckpointModel, Tag("source=checkpoint")],
    Discriminator(lambda v: f"source={_source(v)}"),
]


class Optim(Strict):
    lr: PosFloat
    final_lr_ratio: Fraction
    schedule: Literal["linear", "cosine", "constant"]
    warmup_steps: NonNegInt
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]]
    weight_decay: Annotated[float, Field(ge=0)]
    fused: Literal["auto"] | bool
    lm_head_lr_scale: Annotated[float, Field(ge=0)]


# --- training
class Select(Strict):
    prompt_set: str
    window: tuple[Fraction, Fraction]
    k: PosInt
    max_prompts: PosInt | None

    @model_validator(mode="after")
    def ordered(self) -> Select:
        if self.window[0] > self.window[1]:
            raise ValueError(
                f"window: {list(self.window)} is inverted; expected [lo, hi] fractions of training "
                "with 0 <= lo <= hi <= 1 (the paper's epochs 5-10 of 15: [0.3333, 0.6667])"
            )
        return self


class Train(Strict):
    epochs: NonNegInt
    budget: Literal["epochs", "steps", "tokens"]
    max_steps: PosInt | None
    max_tokens: PosInt | None
    batch_size: PosInt
    max_length: Annotated[int, Field(ge=8)]
    layout: Literal["auto", "flat", "pack", "pad"]
    pad_to_multiple_of: PosInt | None
    order: Literal["random", "grouped"]
    checkpoint_every_n_steps: PosInt
    select: Select

    @model_validator(mode="after")
    def budget_has_its_limit(self) -> Train:
        if self.budget == "steps" and self.max_steps is None:
            raise ValueError("max_steps: a positive integer is needed with train.budget=steps")
        if self.budget == "tokens" and self.max_tokens is None:
            raise ValueError("max_tokens: a positive integer is needed with train.budget=tokens")
        return self


class Throughput(Strict):
    every_n_steps: PosInt
    peak_tflops: PosFloat | None


class Trainer(Open):
    """Lightning ``Trainer`` arguments (extra keys must be ``Trainer`` parameters) plus
    limalab's."""

    accelerator: Literal["cpu", "gpu", "cuda", "mps", "tpu", "auto"]
    devices: int | str | list[int]
    precision: str
    strategy: str | dict[str, Any]
    attn_implementation: Literal["varlen", "sdpa", "eager", "flash_attention_2", "flex_attention"]
    activation_checkpointing: bool | Literal["none", "full", "selective"] | PosInt
    compile: bool | Literal["layers"]
    prune_top_layer: bool
    throughput: Throughput


# --- evaluation
class Decoding(Strict):
    do_sample: bool
    top_p: Annotated[float, Field(gt=0, le=1)]
    temperature: PosFloat
    repetition_penalty: PosFloat


class Eval(Strict):
    prompt_set: str
    k: PosInt
    decoding: Decoding
    max_new_tokens: PosInt | None
    max_new_tokens_factor: PosFloat
    few_shot: NonNegInt
    seed: NonNegInt
    batch_size: PosInt
    kv_cache: Literal["static", "dynamic"] = "static"
    attention: Literal["auto", "model", "eager", "sdpa"] = "auto"
    backend: Literal["hf", "vllm"]
    max_prompts: PosInt | None
    max_invalid_fraction: Annotated[float, Field(ge=0, lt=1)]


class Judge(Open):
    name: str


# --- the derived training regime (config/regime.py)
class PaperRecipe(Strict):
    batch_size: PosInt
    epochs: PosInt
    select_epochs: tuple[PosInt, PosInt]
    lr: PosFloat
    base_pretrain_lr: PosFloat
    final_lr_ratio: Fraction
    schedule: Literal["linear", "cosine", "constant"]
    warmup_steps: NonNegInt
    residual_dropout: Annotated[float, Field(ge=0, lt=1)]
    max_length: PosInt
    base_context: PosInt

    @model_validator(mode="after")
    def window_inside(self) -> PaperRecipe:
        lo, hi = self.select_epochs
        if not lo <= hi <= self.epochs:
            raise ValueError(
                f"select_epochs: {[lo, hi]} must be ordered epochs within the {self.epochs} epochs"
            )
        return self


class Verdicts(Strict):
    alpha: Annotated[float, Field(gt=0, lt=1)]
    power: Annotated[float, Field(gt=0, lt=1)]
    flat_delta: PosFloat


class SaturationTolerance(Strict):
    eot_rate: Fraction
    format: Fraction
    judge_mean: PosFloat


class Saturation(Strict):
    """Where format saturates (analysis/saturation.py): the plateau and the tolerances."""

    plateau_points: PosInt
    tolerance: SaturationTolerance


class PaperResults(Strict):
    fig5_size: PosInt
    fig5: dict[str, Annotated[float, Field(ge=1, le=6)]]
    fig6_flat: Annotated[float, Field(ge=1, le=6)]
    effects: dict[str, float]


class Regime(Strict):
    name: str
    paper: PaperRecipe
    scale: Annotated[float, Field(gt=0, le=1)]
    lm_head_lr_scale: Annotated[float, Field(ge=0)]
    select_k: PosInt
    verdicts: Verdicts
    saturation: Saturation
    paper_results: PaperResults


class Logger(Strict):
    wandb: bool
    project: str
    entity: str | None
    group: str | None
    job_type: str
    mode: Literal["offline", "online", "disabled"]
    model_upload_max_mb: (
        NonNegFloat  # a larger export is a W&B model artifact by reference (file://), not uploaded
    )


class RunConfig(Strict):
    """``conf/train.yaml``: one training run (``src/train.py``, ``src/prepare.py``)."""

    seed: NonNegInt
    runs_dir: Annotated[str, Field(min_length=1)]
    cache_dir: Annotated[str, Field(min_length=1)]
    force: bool
    tags: list[str]
    plugins: list[str]
    train: Train
    world: World
    data: Data
    model: Model
    optim: Optim
    trainer: Trainer
    eval: Eval
    judge: Judge
    logger: Logger
    regime: Regime


class SpaceSpec(Strict):
    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] | None = None


class Hpo(Strict):
    study: str
    storage: str
    n_trials: PosInt
    sampler: Literal["tpe", "random"]
    seed: NonNegInt
    pruner: Literal["median", "none"]
    heartbeat_s: PosInt
    grace_s: PosInt
    max_retry: NonNegInt
    space: dict[str, SpaceSpec]


class HpoConfig(RunConfig):
    """``conf/hpo.yaml``: the run config plus the search."""

    hpo: Hpo


class EvaluateConfig(Strict):
    """``conf/evaluate.yaml``: another evaluation of a finished run (``src/evaluate.py``)."""

    run_dir: Annotated[str, Field(min_length=1)]
    compare_to: str | None
    prompts: str | None
    cache_dir: Annotated[str, Field(min_length=1)]
    drift: bool
    plugins: list[str]
    eval: Eval
    judge: Judge
