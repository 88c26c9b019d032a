"""The HTML report: a self-contained page where recorded traffic is always text, checked
as markup here and in a real headless Chromium (Debian's package, driven by Playwright)."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from fnmatch import fnmatch
from html.parser import HTMLParser
from pathlib import Path

import pytest
from mitmproxy import io as mitmio

from helpers import BIN, ROOT, http_flow
from statuslint import reports
from statuslint.auditor import Auditor
from statuslint.policy import load_policy
from statuslint.reports import html as html_report

CHROMIUM = Path("/usr/bin/chromium")
DEMO = [str(ROOT / "recordings" / "demo.flows"), str(ROOT / "recordings" / "demo.har")]
XSS = "<script>alert(1)</script>"
BREAKOUT = "</script><script>alert(2)</script><!--"
IMG = "<img src=x onerror=alert(3)>"  # runs where text is parsed as HTML (innerHTML)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data_block: list[str] = []
        self._in_data = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_data = tag == "script" and dict(attrs).get("type") == "application/json"

    def handle_endtag(self, tag: str) -> None:
        self._in_data = False

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self.data_block.append(data)


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    return tags


def hostile_flows():
    """Findings whose path, headers and bodies carry markup meant to run."""
    return [
        http_flow(
            "GET",
            f"/v1/{XSS}/items/{IMG}",
            401,
            req_headers={"X-Note": XSS, "X-Img": IMG, "Authorization": "Bearer hostile-secret-1"},
            resp_headers={"Content-Type": "application/json", "X-Reply": BREAKOUT},
            body=json.dumps({"error": BREAKOUT, "html": XSS}).encode(),
        ),
        http_flow("POST", "/v1/books", 201, body=b'{"id": 2}'),
        http_flow("POST", "/v1/authors", 201, body=b'{"id": 3}'),
        http_flow("GET", "/v1/reports", 500, body=b'{"error": "boom"}'),
        http_flow("GET", "/v1/teapot", 499, body=b'{"x": 1}'),
        http_flow("DELETE", "/v1/books/2", 200, body=b'{"deleted": true}'),
        http_flow("GET", "/v1/books/2", 200, body=b'{"id": 2}'),  # served-after-delete: evidence #5
    ]


def render(flows) -> tuple[str, dict]:
    a = Auditor(load_policy())
    for i, f in enumerate(flows):
        a.feed(f, i, "hostile.flows")
    model = reports.build_model(a, "default")
    return reports.render(model, "html"), model


def test_html_is_a_registered_format() -> None:
    assert reports.FORMATS["html"] is html_report.render
    assert reports.format_for_path("out/report.html") == "html"


def test_templates_ship_in_the_wheel() -> None:
    """Every template file is matched by the package-data globs of statuslint.reports."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["statuslint.reports"]
    base = ROOT / "addons" / "statuslint" / "reports"
    templates = [p.relative_to(base).as_posix() for p in (base / "templates").iterdir()]
    assert templates and all(any(fnmatch(t, g) for g in globs) for t in templates)
    assert "Jinja2" in " ".join(pyproject["project"]["dependencies"])


def test_page_is_self_contained() -> None:
    a = Auditor(load_policy())
    from statuslint.readers import read_flows, sniff_har

    for path in DEMO:
        with open(path, "rb") as fo:
            for i, f in enumerate(read_flows(fo, sniff_har(path))):
                a.feed(f, i, path, har=sniff_har(path))
    model = reports.build_model(a, "default")
    page = reports.render(model, "html")
    tags = parse(page)
    names = [t for t, _ in tags.tags]
    assert "link" not in names and "img" not in names and "iframe" not in names
    assert not [attrs for _, attrs in tags.tags if "src" in attrs or "href" in attrs]
    assert not re.search(r"url\(|@import", page)
    assert [attrs.get("type") for t, attrs in tags.tags if t == "script"] == ["application/json", None]
    csp = [a for t, a in tags.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]["content"]
    rows = [a for t, a in tags.tags if t == "tr" and a.get("class") == "finding"]
    assert len(rows) == len(model["findings"]) > 50
    data = json.loads("".join(tags.data_block))
    assert len(data["findings"]) == len(model["findings"])
    assert set(data["rules"]) == {f["rule"] for f in model["findings"]}
    # The charts: one bar per rule with findings, one row per charted endpoint.
    assert page.count('<g class="bar"') == len(model["summary"]["by_rule"])
    assert page.count("<svg") == 2


def test_recorded_markup_stays_text() -> None:
    page, _ = render(hostile_flows())
    assert XSS not in page and "<script>alert" not in page and "alert(2)</script>" not in page and IMG not in page
    tags = parse(page)
    assert [t for t, _ in tags.tags].count("script") == 2
    data = json.loads("".join(tags.data_block))
    (hostile,) = [f for f in data["findings"] if f["rule"] == "unauthorized-without-challenge"]
    assert ["X-Note", XSS] in hostile["exchange"]["request"]["headers"]
    assert ["X-Reply", BREAKOUT] in hostile["exchange"]["response"]["headers"]
    assert XSS in hostile["exchange"]["request_line"]
    assert "hostile-secret-1" not in page


def test_suppressed_findings_are_counted_not_listed(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("extends: default\nsuppress:\n  - rule: server-error\n    reason: backend <being> replaced\n")
    a = Auditor(load_policy(policy))
    for i, f in enumerate(hostile_flows()):
        a.feed(f, i, "hostile.flows")
    page = reports.render(reports.build_model(a, "p"), "html")
    assert "<code>server-error</code>: 1 finding, because backend &lt;being&gt; replaced" in page
    rows = [attrs for t, attrs in parse(page).tags if t == "tr" and attrs.get("class") == "finding"]
    assert rows and "server-error" not in {r["data-rule"] for r in rows}


def test_empty_report_renders() -> None:
    page, model = render([])
    assert model["findings"] == []
    assert "No findings: every audited flow held to every enabled rule." in page


# In a real browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("html")
    recording = tmp / "hostile.flows"
    with recording.open("wb") as fo:
        writer = mitmio.FlowWriter(fo)
        for f in hostile_flows():
            writer.add(f)
    out = tmp / "report.html"
    result = subprocess.run(
        [BIN / "statuslint", "audit", recording, "--fail-on", "none", "--output", out],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (apt-get install chromium)")
def test_in_a_real_browser(report_page: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    dialogs: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report_page.as_uri())

            rows = page.locator("tr.finding")
            total = rows.count()
            assert total >= 6
            assert page.locator("#shown").inner_text() == f"{total} of {total} shown"

            # A finding's details open on click, with the recorded markup as text.
            hostile = page.locator("tr.finding", has_text="unauthorized-without-challenge")
            hostile.click()
            detail = page.locator("tr.detail")
            assert detail.count() == 1 and detail.is_visible()
            text = detail.inner_text()
            assert f"X-Note: {XSS}" in text
            assert f"X-Reply: {BREAKOUT}" in text
            assert f"X-Img: {IMG}" in text
            assert f"GET /v1/{XSS}/items/{IMG} HTTP/1.1" in text
            assert "Authorization: Bearer [redacted]" in text
            assert "WWW-Authenticate" in text  # the rule's documentation (its fix)
            assert page.locator("script").count() == 2
            page.screenshot(path=str(tmp_path / "details.png"), full_page=True)
            hostile.click()
            assert not detail.is_visible()

            # A cross-flow finding shows the flows it rests on.
            page.locator("tr.finding", has_text="served-after-delete").click()
            evidence = page.locator("tr.detail", has_text="Evidence flows")
            assert evidence.is_visible()
            assert "hostile.flows #5\tDELETE\thttps://api.example.test/v1/books/2\t200" in evidence.inner_text()

            # Filters hide rows.
            page.select_option("#f-rule", "created-without-location")
            visible = [r for r in rows.all() if r.is_visible()]
            assert len(visible) == 2 and all("created-without-location" in r.inner_text() for r in visible)
            assert page.locator("#shown").inner_text() == f"2 of {total} shown"
            page.fill("#f-text", "/v1/authors")
            assert [r.get_attribute("data-endpoint") for r in rows.all() if r.is_visible()] == [
                "POST api.example.test /v1/authors"
            ]
            page.click("#f-reset")
            page.select_option("#f-severity", "info")
            assert all(r.get_attribute("data-severity") == "info" for r in rows.all() if r.is_visible())
            page.click("#f-reset")
            assert sum(r.is_visible() for r in rows.all()) == total

            # Sorting: by status up, then down.
            def statuses() -> list[int]:
                return [
                    int(s or 0) for s in page.eval_on_selector_all("tr.finding", "rs => rs.map(r => r.dataset.status)")
                ]

            page.click("th button[data-key=status]")
            assert statuses() == sorted(statuses()) and statuses() != statuses()[::-1]
            page.click("th button[data-key=status]")
            assert statuses() == sorted(statuses(), reverse=True)
            # A bar of the rule chart filters the table to its rule.
            page.click("#chart-rules g.bar[data-rule=server-error]")
            assert [r.get_attribute("data-rule") for r in rows.all() if r.is_visible()] == ["server-error"]
        finally:
            browser.close()
    assert problems == []
    assert dialogs == []
    assert all(url.startswith("file://") for url in requests), requests
