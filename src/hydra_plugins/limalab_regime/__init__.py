"""Registers the ``limalab.regime`` resolver (``limalab.config.regime``) that ``conf/train.yaml``
reads every derived training value through, and ``limalab.base`` (``limalab.config.base_recipe``)
that a larger miniature base derives its pretraining recipe through. Hydra imports its plugins
before it composes a config, so every composition (``src/train.py``, a sweep agent,
``compose()``, tests) has them."""

from limalab.config import base_recipe, regime

regime.register_resolver()
base_recipe.register_resolver()
