"""Config: load a YAML or JSON file, validate it against schema.yaml, fill the defaults."""

from hotcold.config.loader import Config, load_config, load_data, validate

__all__ = ["Config", "load_config", "load_data", "validate"]
