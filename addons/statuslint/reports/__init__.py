"""Report formats. Each module renders the report model (``model.build``) of a finished
audit; ``render`` picks one by name, ``format_for_path`` by file suffix, and
``write_atomic`` writes it so a reader never sees half a report. A format's module is
imported when it is first used (html needs jinja2, junit ElementTree): most audits
write one format or none."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path

from ..auditor import Auditor
from . import model
from .model import Model

Renderer = Callable[[Model], str]


class _Formats(MutableMapping[str, Renderer]):
    """Format name -> its module's ``render``, the module imported on first use."""

    def __init__(self, modules: dict[str, str]) -> None:
        self._modules = dict(modules)
        self._renderers: dict[str, Renderer] = {}

    def __getitem__(self, name: str) -> Renderer:
        renderer = self._renderers.get(name)
        if renderer is None:
            renderer = importlib.import_module(f".{self._modules[name]}", __name__).render
            self._renderers[name] = renderer
        return renderer

    def __setitem__(self, name: str, renderer: Renderer) -> None:
        self._modules.setdefault(name, "")
        self._renderers[name] = renderer

    def __delitem__(self, name: str) -> None:
        del self._modules[name]
        self._renderers.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)


FORMATS: MutableMapping[str, Renderer] = _Formats(
    {
        "json": "json_report",
        "sarif": "sarif",
        "junit": "junit",
        "github": "github",
        "markdown": "markdown",
        "html": "html",
    }
)
# github has no suffix of its own: --format github, to stdout or to any --output.
SUFFIXES: dict[str, str] = {
    ".json": "json",
    ".sarif": "sarif",
    ".xml": "junit",
    ".md": "markdown",
    ".html": "html",
    ".htm": "html",
}


def format_for_path(path: str) -> str:
    """The report format a file name asks for; ValueError for an unknown suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        known = ", ".join(sorted(SUFFIXES))
        raise ValueError(f"cannot tell the report format of '{path}' (supported suffixes: {known})")
    return SUFFIXES[suffix]


def build_model(auditor: Auditor, policy_label: str, *, partial: bool = False) -> Model:
    return model.build(auditor, policy_label, partial=partial)


def render(report: Model, fmt: str) -> str:
    """One format of a report model (build it once for several formats)."""
    # Whatever slipped through as a lone surrogate (raw non-UTF-8 bytes of a request)
    # becomes an escape, never a report that cannot be written.
    return FORMATS[fmt](report).encode("utf-8", "backslashreplace").decode("utf-8")


def write_atomic(path: str, text: str) -> None:
    # Imported here: start-up that an audit writing no report file does without.
    import tempfile

    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fo:
            fo.write(text)
            fo.flush()
            os.fsync(fo.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
