"""Secrets in URLs never reach findings, logs or reports."""

from __future__ import annotations

import pytest

from statuslint.redact import redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.test/v1/x?api_key=abc&page=2", "https://a.test/v1/x?api_key=REDACTED&page=2"),
        (
            "https://a.test/x?access_token=t&X-Amz-Signature=s&sig=1",
            "https://a.test/x?access_token=REDACTED&X-Amz-Signature=REDACTED&sig=REDACTED",
        ),
        ("https://user:pw@a.test/x", "https://user:REDACTED@a.test/x"),
        ("https://tok@a.test/x", "https://REDACTED@a.test/x"),
        ("https://a.test/x?password=hunter2#frag", "https://a.test/x?password=REDACTED#frag"),
        ("https://a.test/x?q=token", "https://a.test/x?q=token"),
        ("https://a.test/x?flag", "https://a.test/x?flag"),
        ("https://a.test/v1/books/1", "https://a.test/v1/books/1"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_finding_urls_are_redacted() -> None:
    from helpers import http_flow
    from statuslint.auditor import Auditor
    from statuslint.policy import load_policy

    f = http_flow(status=401, path="/v1/x?token=s3cret&page=1")
    (finding,) = Auditor(load_policy()).audit_response(f, 0, "t")
    assert "s3cret" not in finding.flow.url
    assert finding.flow.url.endswith("/v1/x?token=REDACTED&page=1")
