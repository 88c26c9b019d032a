"""Safe YAML loading that remembers where every mapping key and list item stood.

Policy errors must name ``file:line``; plain ``yaml.safe_load`` forgets positions,
so mappings and sequences are built as subclasses that carry them.

A policy may come from anyone, so loading is bounded: nesting deeper than
``MAX_DEPTH`` (PyYAML's composer, our constructor and the condition compiler all
recurse once per level) and aliases that would expand to more than
``MAX_ALIAS_NODES`` nodes (a "billion laughs" document is a few hundred bytes) are
refused while the document is composed, before anything is built from it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

# Far deeper than any real policy (the built-in one nests 9 levels), far below Python's
# recursion limit even at several frames per level.
MAX_DEPTH = 64
# Nodes that aliases may add to a document once expanded: aliases are for sharing a few
# conditions, not for multiplying them.
MAX_ALIAS_NODES = 10_000
# A one-line error quotes the user's values; a megabyte of them is not one line.
_MESSAGE_LIMIT = 1000
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def one_line(text: str) -> str:
    """``text`` escaped onto one printable line (control characters, line separators
    and lone surrogates as ``\\n``-style escapes) and clipped in the middle if long."""
    text = _UNPRINTABLE.sub(lambda m: repr(m.group())[1:-1], text)
    if len(text) > _MESSAGE_LIMIT:
        text = f"{text[: _MESSAGE_LIMIT - 200]}…{text[-199:]}"
    return text


class PolicyError(Exception):
    """A policy that cannot be used; ``str()`` is the one-line message for the user."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        self.source = source
        self.line = line
        self.message = message = one_line(message)
        where = f"{one_line(source)}:{line}" if line else one_line(source)
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


class _LineConstructor(yaml.constructor.SafeConstructor):
    """Safe construction into ``LineDict``/``LineList``, for either parser."""

    source = "<policy>"

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as e:
            # A scalar the resolver typed but Python cannot hold: 2024-13-45 as a date, an
            # integer of thousands of digits.
            line = node.start_mark.line + 1
            raise PolicyError(self.source, line, f"invalid value {_clip(str(node.value))!r}: {e}") from None

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


class _Loader(_LineConstructor, yaml.SafeLoader):
    """The loader for any policy: composed in Python, bounded while it is composed."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        # Every composed node: (its node count, its height), aliases expanded.
        self._expanded: dict[Node, tuple[int, int]] = {}
        self._alias_nodes = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, AliasEvent):
            node = super().compose_node(parent, index)
            expanded = self._expanded.get(node)
            if expanded is None:
                raise PolicyError(self.source, line, f"alias *{event.anchor} refers to a node that contains it")
            count, height = expanded
            self._alias_nodes += count
            if self._alias_nodes > MAX_ALIAS_NODES:
                raise PolicyError(
                    self.source,
                    line,
                    f"YAML aliases expand this policy by more than {MAX_ALIAS_NODES} nodes (alias *{event.anchor}): "
                    "write the values out instead",
                )
            if self._depth + height > MAX_DEPTH:
                raise PolicyError(self.source, line, f"policy nests deeper than {MAX_DEPTH} levels (through alias)")
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise PolicyError(self.source, line, f"policy nests deeper than {MAX_DEPTH} levels")
        node = super().compose_node(parent, index)
        self._depth -= 1
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        stats = [self._expanded[c] for c in children]
        self._expanded[node] = (1 + sum(c for c, _ in stats), 1 + max((h for _, h in stats), default=0))
        return node


# libyaml's parser and composer, several times faster than PyYAML's own, but its
# composer recurses in C with no bound: only for the policy shipped with statuslint.
_TrustedLoader: type[_LineConstructor] | None = None
if getattr(yaml, "__with_libyaml__", False):

    class _TrustedLoader(_LineConstructor, yaml.CSafeLoader):  # type: ignore[no-redef]
        pass


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _construct_map(loader: _Loader, node: MappingNode) -> LineDict:
    return loader.construct_mapping(node)


def _construct_seq(loader: _Loader, node: SequenceNode) -> LineList:
    return loader.construct_sequence(node)


for _cls in (_Loader, _TrustedLoader):
    if _cls is not None:
        _cls.add_constructor("tag:yaml.org,2002:map", _construct_map)
        _cls.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def load_yaml(path: Path, source: str, *, trusted: bool = False) -> Any:
    """Parse one YAML document with the safe loader; errors become ``PolicyError``.
    ``trusted``: the file is statuslint's own (its size and nesting are known), so
    libyaml may parse it where PyYAML was built with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(source, None, f"cannot read policy: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise PolicyError(source, None, f"policy is not UTF-8 text: {e.reason}") from e
    loader: Any = None
    try:
        # The reader checks every character when it is built: inside the try.
        loader = _TrustedLoader(text) if trusted and _TrustedLoader is not None else _Loader(text)
        loader.source = source
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
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1 if isinstance(e.position, int) else None
        what = f"#x{e.character:04x}" if isinstance(e.character, int) else repr(e.character)
        raise PolicyError(source, line, f"invalid YAML: character {what} is not allowed") from e
    except yaml.YAMLError as e:
        raise PolicyError(source, None, f"invalid YAML: {e}") from e
    finally:
        if loader is not None:
            loader.dispose()
