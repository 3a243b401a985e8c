"""The search-run configuration: one validated, flat mapping of dotted keys to values.

- :mod:`~diffnas.config.fields` — :class:`Field`, one declared value, and its one coercion;
- :mod:`~diffnas.config.keys` — every config key declared once (:data:`FIELDS`), the identity rules;
- :mod:`~diffnas.config.search_config` — :class:`SearchConfig`, YAML + ``--set`` overrides, ``config_id``.

Pure Python + PyYAML: no torch, so sweeps validate specs before Ray or torch start.
"""

from __future__ import annotations

from diffnas.config.fields import Field
from diffnas.config.keys import FIELDS, LATER_KEYS, NON_IDENTITY_KEYS, SEARCH_KEYS, TEST_HOOKS
from diffnas.config.search_config import SearchConfig, flatten, load_config, parse_override, unflatten
from diffnas.names import SPACE_OPS

__all__ = ["FIELDS", "LATER_KEYS", "NON_IDENTITY_KEYS", "SEARCH_KEYS", "SPACE_OPS", "TEST_HOOKS", "Field",
           "SearchConfig", "flatten", "load_config", "parse_override", "unflatten"]
