"""Registers the ``limalab.regime`` resolver (``limalab.config.regime``) that ``conf/train.yaml``
reads every derived training value through. Hydra imports its plugins before it composes a
config, so every composition (``src/train.py``, a sweep agent, ``compose()``, tests) has it."""

from limalab.config.regime import register_resolver

register_resolver()
