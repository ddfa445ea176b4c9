"""Behaviour versions. Bump one when its stage changes results; they enter run identity."""

WORLD_VERSION = "5"  # the miniature world generator (facts, corpus, dumps, prompts)
PIPELINE_VERSION = "7"  # readers, filters, mixing, chat formatting, training loop
# 4: Stack Exchange HTML as Markdown (paragraph breaks kept, code byte-exact in fences), the
#    prompt's title/description draw seeded from data.subset_seed with a title fallback, LIMA-style
#    ids with the release label, wikiHow's own cleaning and separators, NI dedup on instances.
# 5: the flat padding-free layout under varlen attention (train.layout=auto), TargetNLL.
# 6: the derived regime (config/regime.py): batch 64 x scale, 15 epochs, lr 1/30 of the base's
#    pretraining peak, lm_head at the full lr, max_length the base's context.
# 7: the top decoder layer's MLP at labelled positions only (trainer.prune_top_layer): exact up to
#    float rounding, but the top layer's dropout draws fewer numbers.
RUBRIC_VERSION = (
    "3"  # the reference judge's levels (3: reads sentences against the world's grammar)
)
