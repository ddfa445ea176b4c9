"""Behaviour versions. Bump one when its stage changes results; they enter run identity."""

WORLD_VERSION = "5"  # the miniature world generator (facts, corpus, dumps, prompts)
PIPELINE_VERSION = "3"  # readers, filters, mixing, chat formatting, training loop
RUBRIC_VERSION = "3"  # the reference judge's levels (3: reads sentences against the world's grammar)
