"""Report formats. Each module renders the report model (``model.build``) of a finished
audit; ``render`` picks one by name, ``format_for_path`` by file suffix, and
``write_atomic`` writes it so a reader never sees half a report."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..auditor import Auditor
from . import github, html, json_report, junit, markdown, model, sarif
from .model import Model

Renderer = Callable[[Model], str]

FORMATS: dict[str, Renderer] = {
    "json": json_report.render,
    "sarif": sarif.render,
    "junit": junit.render,
    "github": github.render,
    "markdown": markdown.render,
    "html": html.render,
}
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
