"""Behaviour versions. Bump one when its stage changes results; they enter run identity."""

WORLD_VERSION = "5"  # the miniature world generator (facts, corpus, dumps, prompts)
PIPELINE_VERSION = "4"  # readers, filters, mixing, chat formatting, training loop (4: flat layout, varlen attention)
RUBRIC_VERSION = "2"  # the reference judge's levels
