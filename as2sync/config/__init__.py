"""Configuration: the model (schema) and how it is loaded (loader)."""

from as2sync.config.loader import find_config, load_config, parse_config
from as2sync.config.schema import Config

__all__ = ["Config", "find_config", "load_config", "parse_config"]
