"""Point a config's ``node.state_dir`` at a new folder, keeping the rest of the YAML as written.

The value's span is found in the composed YAML and replaced in place, so the
comments ``gateway init`` wrote survive. A config without ``node.state_dir``
(it used the default) gets the key added to its ``node`` mapping, or a
``node`` mapping; a flow-style ``node`` mapping is re-dumped instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from gateway.errors import ConfigError


def with_state_dir(text: str, config_path: Path, state_dir: Path) -> str:
    """``text`` with ``node.state_dir`` set to ``state_dir``.

    The path is written relative to the config's folder when it lies inside it,
    else absolute.
    """
    relative = os.path.relpath(state_dir, config_path.parent)
    shown = str(state_dir) if relative.split(os.sep)[0] == os.pardir else relative
    value = json.dumps(shown)  # a JSON string is a YAML double-quoted scalar
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(config_path, "", "YAML", detail=str(exc)) from None
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(config_path, "", "a mapping at the top level")
    node = _child(root, "node")
    if node is None:
        return text.rstrip("\n") + f"\nnode:\n  state_dir: {value}\n"
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(config_path, "node", "a mapping")
    found = _child(node, "state_dir")
    if found is not None:
        start, end = found.start_mark.index, found.end_mark.index
        return text[:start] + value + text[end:]
    if node.flow_style or not node.value:
        return _redumped(text, value)
    first_key = node.value[0][0]
    line_start = text.rfind("\n", 0, first_key.start_mark.index) + 1
    indent = " " * first_key.start_mark.column
    return text[:line_start] + f"{indent}state_dir: {value}\n" + text[line_start:]


def _child(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    for key_node, value_node in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            found: yaml.Node = value_node
            return found
    return None


def _redumped(text: str, value: str) -> str:
    data = yaml.safe_load(text)
    node = data.get("node") or {}
    node["state_dir"] = json.loads(value)
    data["node"] = node
    dumped: str = yaml.safe_dump(data, sort_keys=False)
    return dumped
