"""The grammars and detectors the condition language names (statuslint.syntax)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statuslint import syntax


def _json_containers(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)


@pytest.mark.parametrize(
    ("grammar", "good", "bad"),
    [
        ("entity-tag", ['"abc"', 'W/"abc"', '""', '"5f-3a"'], ["abc", '"abc', 'W/"a"b"', '"a b"', 'w/"a"', "W/abc"]),
        (
            "uri-reference",
            ["/v1/books/42", "https://api.example.com/x?y=1#f", "../x", "//h/p", "urn:isbn:1", "/a%20b", "?page=2"],
            ["/v1/my book", "/a%2", "/a#b#c", "1a:b", "/caf\u00e9", "", "/x\ty"],
        ),
        (
            "retry-after",
            ["120", "0", "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"],
            ["1.5", "2s", "-1", "2024-01-01T00:00:00Z", "Sun, 06 Nov 1994 08:49:37 UTC", ""],
        ),
        (
            "content-range",
            ["bytes 0-99/2048", "bytes 0-99/*", "bytes */2048", "items 0-9/100"],
            [
                "bytes 0-99",
                "bytes 100-0/200",
                "bytes 0-99/50",
                "bytes 0-99/99",
                "bytes=0-99/100",
                "0-99/100",
                "bytes */*",
            ],
        ),
        (
            "method-list",
            ["GET, HEAD, POST", "GET", "", "GET,,HEAD", "PROPFIND,MKCOL"],
            ["GET HEAD", "GET; POST", "GET/HEAD"],
        ),
    ],
)
def test_grammars(grammar: str, good: list[str], bad: list[str]) -> None:
    check = syntax.GRAMMARS[grammar]
    assert [v for v in good if not check(v)] == []
    assert [v for v in bad if check(v)] == []


def test_challenges_parse_params_and_several_schemes() -> None:
    value = 'Basic realm="a, b", Bearer realm="api", error="invalid_token", error_description="x \\"y\\""'
    assert syntax.challenges(value) == [
        ("basic", {"realm": "a, b"}),
        ("bearer", {"realm": "api", "error": "invalid_token", "error_description": 'x "y"'}),
    ]
    assert syntax.challenges("Negotiate abc123==, Bearer") == [("negotiate", {}), ("bearer", {})]
    assert syntax.challenges("Bearer error=invalid_token") == [("bearer", {"error": "invalid_token"})]
    assert syntax.has_challenge(["Basic realm=x", 'bearer error="insufficient_scope"'], "Bearer", "error", None)
    assert not syntax.has_challenge(['Basic error="x"'], "Bearer", "error", None)
    assert not syntax.has_challenge(['Bearer error="invalid_token"'], "Bearer", "error", "insufficient_scope")


TRACES = {
    "python": b'Traceback (most recent call last):\n  File "/srv/app.py", line 3, in <module>\n',
    "node": b"TypeError: x\n    at f (/srv/a.js:1:2)\n    at Layer.handle [as handle_request] (/srv/l.js:95:5)\n",
    "node-html": b"<pre>Error: x<br> &nbsp; &nbsp;at /srv/a.js:1:2<br> &nbsp; &nbsp;at /srv/b.js:3:4</pre>",
    "jvm": b"java.lang.NullPointerException\n\tat com.x.Foo.bar(Foo.java:12)\n\tat com.x.Main.main(Main.java:5)\n",
    ".net": b"   at Api.Books.Get(Int32 id) in C:\\src\\Books.cs:line 42\n   at Api.X.Y() in C:\\src\\X.cs:line 7\n",
    "php": b"Stack trace:\n#0 /var/www/app.php(12): f()\n#1 /var/www/index.php(3): g()\n",
    "ruby": b"app/models/book.rb:12:in `save'\napp/controllers/books.rb:7:in `create'\n",
    "go": b"goroutine 1 [running]:\nmain.main()\n\t/src/main.go:12 +0x1d\n",
}


@pytest.mark.parametrize("name", sorted(TRACES))
def test_stack_traces_are_recognised(name: str) -> None:
    assert syntax.looks_like_stack_trace(TRACES[name])


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": "not found"}',
        b"Meet us at noon (room 4:30:00)",  # one frame-like phrase is prose
        b'{"error": "invalid", "at": "field (name:1:2)"}',
        b"<h1>500 Internal Server Error</h1>",
        b"File not found, line 3",
    ],
)
def test_ordinary_error_bodies_are_not_stack_traces(body: bytes) -> None:
    assert not syntax.looks_like_stack_trace(body)


@pytest.mark.parametrize(
    "text",
    ["at " * 100_000, "at a (" * 50_000, "a" * 300_000, ".rb:1:in `" * 30_000, "#1 /" * 80_000, 'File "' * 60_000],
)
def test_detection_stays_bounded_on_hostile_bodies(text: str) -> None:
    """No nested quantifiers: these complete (a catastrophic pattern would hang the suite).
    The speed itself is measured in benchmarks, not asserted here."""
    assert syntax.looks_like_stack_trace(text.encode()) in (True, False)


def test_json_validity_is_bounded() -> None:
    assert syntax.json_valid(b'{"a": [1, 2]}') is True
    assert syntax.json_valid(b"404 page not found") is False
    assert syntax.json_valid(b"") is False
    assert syntax.json_valid(b"[" * 100_000 + b"]" * 100_000) is None  # too deep to decide
    assert syntax.json_valid(b" " * (syntax.JSON_CAP + 1)) is None


def _loads_outcome(load, content: bytes) -> object:
    """What a JSON loader makes of ``content``: its value, or the kind of error it raised."""
    try:
        return ("value", load(content))
    except RecursionError:
        return ("error", RecursionError)
    except ValueError:
        return ("error", ValueError)


JSON_EDGES = [
    b"{}",
    b"[]",
    b'{"a": [1, 2.5e3, true, null], "b": {"c": "d"}}',
    b"[1] \t\r\n",
    b"[1] x",
    b"[1]\xc2\xa0",  # a no-break space is not JSON whitespace
    b"[1]\x00",
    b"[1][2]",
    b"{",
    b"[",
    b"[\x00]",
    b"{\x00",
    b"[\x00\x00\x00",
    b"{\x00\x00\x00",
    b'["\xed\xa0\x80"]',  # a UTF-8-encoded surrogate: json.loads takes it (surrogatepass)
    b'["\xff"]',  # not UTF-8
    b'["\\ud800"]',
    b"[NaN, Infinity, -Infinity]",
    b'["a\tb"]',  # a raw control character in a string
    '[1, "\u00e9"]'.encode("utf-16-le"),
    '[1, "\u00e9"]'.encode("utf-16"),
    '{"a": 1}'.encode("utf-32"),
    b"\xef\xbb\xbf[1]",
    b" [1]",
    b"1",
    b"",
    b"[" * 100_000 + b"]" * 100_000,
]


@pytest.mark.parametrize("content", JSON_EDGES, ids=repr)
def test_json_loads_is_json_loads(content: bytes) -> None:
    """The fast path of json_loads answers exactly what json.loads answers."""
    assert _loads_outcome(syntax.json_loads, content) == _loads_outcome(json.loads, content)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(), _json_containers))
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
def test_json_loads_is_json_loads_on_any_value(value: object) -> None:
    text = json.dumps(value)
    for content in (text.encode(), text.encode() + b" x", text.encode()[:-1], text.encode("utf-16")):
        assert _loads_outcome(syntax.json_loads, content) == _loads_outcome(json.loads, content)


@pytest.mark.parametrize(("value", "says"), [(None, False), (False, False), ("", False), ([], False), ({}, False)])
def test_empty_json_values_say_nothing(value: object, says: bool) -> None:
    assert syntax.non_empty(value) is says


@pytest.mark.parametrize("value", [0, True, "x", [None], {"a": None}])
def test_json_values_that_say_something(value: object) -> None:
    assert syntax.non_empty(value)
