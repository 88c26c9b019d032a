"""Safe YAML loading that remembers where every mapping key and list item stood.

Policy errors must name ``file:line``; plain ``yaml.safe_load`` forgets positions,
so mappings and sequences are built as subclasses that carry them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, SequenceNode


class PolicyError(Exception):
    """A policy that cannot be used; ``str()`` is the one-line message for the user."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        self.source = source
        self.line = line
        self.message = message
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {message}")


class LineDict(dict[str, Any]):
    """A mapping from YAML with the line of the mapping and of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    """A sequence from YAML with the line of the sequence and of each item (1-based)."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _Loader(yaml.SafeLoader):
    source = "<policy>"

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> LineDict:  # type: ignore[override]
        self.flatten_mapping(node)
        result = LineDict()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise PolicyError(self.source, line, f"mapping key {key!r} must be a string")
            if key in result:
                raise PolicyError(self.source, line, f"duplicate key '{key}'")
            result[key] = self.construct_object(value_node, deep=True)
            result.key_lines[key] = line
        return result

    def construct_sequence(self, node: SequenceNode, deep: bool = False) -> LineList:  # type: ignore[override]
        result = LineList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result


def _construct_map(loader: _Loader, node: MappingNode) -> LineDict:
    return loader.construct_mapping(node)


def _construct_seq(loader: _Loader, node: SequenceNode) -> LineList:
    return loader.construct_sequence(node)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def load_yaml(path: Path, source: str) -> Any:
    """Parse one YAML document with the safe loader; errors become ``PolicyError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(source, None, f"cannot read policy: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise PolicyError(source, None, f"policy is not UTF-8 text: {e.reason}") from e
    loader = _Loader(text)
    loader.source = source
    try:
        return loader.get_single_data()
    except PolicyError:
        raise
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        problem = e.problem or e.context or "invalid YAML"
        if isinstance(e, ConstructorError) and "could not determine a constructor" in problem:
            problem = "tags are not allowed in a policy (safe YAML only)"
        raise PolicyError(source, line, f"invalid YAML: {problem}") from e
    except yaml.YAMLError as e:
        raise PolicyError(source, None, f"invalid YAML: {e}") from e
    finally:
        loader.dispose()
