"""The config schema (every key once, with its type and range) and its validation."""

from limalab.config.validate import ConfigError, validate

__all__ = ["ConfigError", "validate"]
