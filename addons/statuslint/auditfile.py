"""Auditing one recorded file (.flows or HAR) with an Auditor: ``statuslint audit``, in
this process or a ``--jobs`` worker, and ``statuslint diff``.

A file that cannot be read whole is one line naming the file (and the flow the reader
stopped at); what was read before stays audited.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from .auditor import Auditor
from .escape import escape
from .findings import Finding
from .readers import InputError, read_indexed, sniff_har
from .redact import redact_text
from .terminal import console_for

# Inputs above this size get a progress bar when stderr is a terminal.
PROGRESS_BYTES = 4 << 20


class Interrupt(Protocol):
    @property
    def requested(self) -> bool: ...


def say_on_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def audit_file(
    auditor: Auditor,
    path: str,
    *,
    on_found: Callable[[list[Finding]], None] | None = None,
    progress: bool = False,
    allow_empty: bool = False,
    interrupt: Interrupt | None = None,
    say: Callable[[str], None] = say_on_stderr,
) -> bool:
    """Audit one recording; False (with a one-line error, told to ``say``) when it could
    not be read whole, or had no flow at all (unless ``allow_empty``). ``on_found`` gets
    each flow's findings as they are made. Stops early when ``interrupt`` asks."""
    info = auditor.input(path)
    try:
        fo = open(path, "rb")  # noqa: SIM115 - closed below, after streaming
    except OSError as e:
        info.error = e.strerror or str(e)
        say(f"statuslint: {escape(path)}: cannot open: {escape(info.error)}")
        return False
    har = sniff_har(path)
    bar = None
    try:
        size = os.fstat(fo.fileno()).st_size
        if progress and size > PROGRESS_BYTES and sys.stderr.isatty():
            from rich.progress import Progress

            bar = Progress(console=console_for(sys.stderr), transient=True)
            bar.start()
            task = bar.add_task(Path(path).name, total=size)
        for index, f in read_indexed(fo, har, for_audit=True):
            info.flows += 1
            found = auditor.feed(f, index, path, har=har)
            if found and on_found is not None:
                on_found(found)
            if bar is not None and index % 256 == 0:
                bar.update(task, completed=fo.tell())
            if interrupt is not None and interrupt.requested:
                return True
    except InputError as e:
        # A reader's message may quote the recording: no secret, no raw control byte.
        info.error = redact_text(str(e))
        say(f"statuslint: {escape(path)}: {escape(info.error)}")
        return False
    finally:
        if bar is not None:
            bar.stop()
        fo.close()
    if not info.flows and not allow_empty:
        # An export that failed or a capture that caught nothing: green CI on nothing
        # would hide it.
        info.error = "no flows"
        say(f"statuslint: {escape(path)}: no flows (pass --allow-empty if that is expected)")
        return False
    return True
