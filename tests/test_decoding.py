"""Bodies are decoded to a bound: a decompression bomb costs the proxy a megabyte, not gigabytes."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import brotli
import pytest
import zstandard

from helpers import default_policy, http_flow
from statuslint.auditor import Auditor
from statuslint.decoding import decode_bounded
from statuslint.flowview import DEFAULT_LIMITS, FlowView

BODY = b'{"error": "boom", "detail": "' + b"x" * 5000 + b'"}'


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


ENCODERS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda d: zstandard.ZstdCompressor().compress(d),
}


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_every_coding_decodes_whole_under_the_limit_and_stops_at_it(coding: str) -> None:
    encoded = ENCODERS[coding](BODY)
    assert decode_bounded(encoded, coding, 1 << 20) == BODY
    assert decode_bounded(encoded, coding.upper(), 100) == BODY[:100]


def test_raw_deflate_chains_and_identity() -> None:
    assert decode_bounded(_raw_deflate(BODY), "deflate", 1 << 20) == BODY
    chained = brotli.compress(gzip.compress(BODY))  # "gzip, br": gzip applied first
    assert decode_bounded(chained, "gzip, br", 1 << 20) == BODY
    assert decode_bounded(BODY, "identity", 10) == BODY


@pytest.mark.parametrize(
    ("raw", "coding"), [(b"not gzip", "gzip"), (b"x", "br"), (b"\xff\xff\xff\xff", "br"), (b"y", "compress")]
)
def test_corrupt_data_and_unknown_codings_give_none(raw: bytes, coding: str) -> None:
    assert decode_bounded(raw, coding, 100) is None


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_a_decompression_bomb_costs_a_bounded_amount_of_memory(coding: str) -> None:
    bomb = ENCODERS[coding](b"[" + b" " * (200 << 20) + b"]")  # 200 MB of JSON, compressed
    assert len(bomb) < 1 << 20
    f = http_flow(
        "GET",
        "/v1/bomb",
        200,
        resp_headers={"Content-Type": "application/json", "Content-Encoding": coding},
        body=b"",
    )
    f.response.raw_content = bomb
    auditor = Auditor(default_policy())
    tracemalloc.start()
    try:
        auditor.audit_response(f, 0, "t")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The limit (1 MiB of decoded body by default), the flow itself and at most one
    # decoding step (brotli 1.1's window), not 200 MB.
    assert peak < 24 << 20, f"{peak / (1 << 20):.0f} MiB"
    assert auditor.summary()["internal_errors"] == {}
    assert len(FlowView(f).response_content) == DEFAULT_LIMITS.max_body + 1


def test_a_body_over_the_limit_makes_json_rules_undecidable_not_wrong() -> None:
    big = b'{"error": "' + b"y" * (DEFAULT_LIMITS.max_body + 10) + b'"}'
    f = http_flow(body=b"", resp_headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    f.response.raw_content = gzip.compress(big)
    auditor = Auditor(default_policy())
    assert "error-in-success" not in [x.rule for x in auditor.audit_response(f, 0, "t")]
    assert auditor.summary()["coverage"]["rules"]
    assert auditor.undecidable["error-in-success"] == 1
