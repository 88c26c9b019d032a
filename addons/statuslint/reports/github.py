"""GitHub Actions workflow commands: one annotation per finding, without code scanning.

Printed as ruff's ``--output-format github`` prints them::

    ::warning title=statuslint (created-without-location),file=recordings/demo.flows,line=1::recordings/...

error → ``::error``, warning → ``::warning``, info → ``::notice``. The file is the
recording a finding came from, or for live traffic the policy file at the rule's line;
paths are relative to the working directory, as the job's checkout is. Values are
escaped as the runner expects (``%``, CR and LF everywhere; ``:`` and ``,`` in properties).

GitHub shows only the first 10 annotations of each kind per step (50 per job), so the
order is chosen for them: most severe first, and within a severity the first finding of
each (rule, endpoint) before any repeat, so the ones shown are different problems.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from .model import SEVERITY_ORDER, Model, group_findings, origin_parts, rules_by_id, where

COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}
LIVE_SOURCES = ("live",)


def render(model: Model) -> str:
    rules = rules_by_id(model)
    lines = []
    for finding in ordered(model["findings"]):
        file, line = _location(finding, rules)
        props = [f"title={escape_property('statuslint (' + finding['rule'] + ')')}"]
        if file:
            props.append(f"file={escape_property(file)}")
            props.append(f"line={line}")
        message = f"{where(finding)}: {finding['rule']} {finding['message']}"
        fix = rules.get(finding["rule"], {}).get("fix_summary")
        if fix:
            message += f"\n  fix: {fix}"
        command = COMMANDS.get(finding["severity"], "warning")
        lines.append(f"::{command} {','.join(props)}::{escape_data(message)}")
    return "".join(line + "\n" for line in lines)


def ordered(findings: list[dict]) -> list[dict]:
    groups = group_findings(findings)
    firsts = [items[0] for _, _, items in groups]
    repeats = [f for _, _, items in groups for f in items[1:]]
    # sorted() is stable: first appearance order within a severity.
    return sorted(firsts, key=lambda f: -SEVERITY_ORDER.get(f["severity"], 0)) + sorted(
        repeats, key=lambda f: -SEVERITY_ORDER.get(f["severity"], 0)
    )


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _location(finding: dict, rules: dict) -> tuple[str | None, int]:
    ref = finding.get("flow") or next(iter(finding.get("evidence") or []), None)
    if ref and ref["source"] not in LIVE_SOURCES:
        return _relative(ref["source"]), 1
    policy_file, line = origin_parts(rules.get(finding["rule"], {}).get("origin", ""))
    return (_relative(policy_file), line or 1) if policy_file else (None, 1)


def _relative(path: str) -> str:
    # Thousands of findings share a handful of files.
    return _cached_relative(path, os.getcwd())


@functools.lru_cache(maxsize=256)
def _cached_relative(path: str, cwd: str) -> str:
    absolute = Path(os.path.abspath(os.path.join(cwd, path)))
    try:
        return absolute.relative_to(Path(cwd).resolve()).as_posix()
    except ValueError:
        return absolute.as_posix()
