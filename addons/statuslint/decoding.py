"""Content-Encoding decoding with a bound on the output.

A rule that reads a body decodes it, and mitmproxy's decoders inflate a body whole: ten
megabytes of gzip'd zeros would become ten gigabytes inside the proxy. Here every coding is
decoded to at most ``limit`` bytes and stops there; what lies beyond the limit is never
produced. Corrupt data and unknown codings give ``None``, and the caller keeps the raw
bytes, as mitmproxy's non-strict ``get_content`` does.
"""

from __future__ import annotations

import io
import zlib

# Brotli 1.2 bounds its output (mitmproxy 12 pins it). Brotli 1.1 (mitmproxy 11) cannot:
# its input is fed a few bytes at a time, which bounds one step's output by the decoder's
# window (measured: 8 MiB for an 8-byte step of a 200 MB bomb), and decoding stops once the
# output passes the limit.
_BROTLI_STEP = 8


def decode_bounded(raw: bytes, encoding: str, limit: int) -> bytes | None:
    """``raw`` decoded through its Content-Encoding (a list, applied in order), at most
    ``limit`` bytes of it; None when a coding is unknown or the data does not decode."""
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    data = raw
    try:
        for coding in reversed(codings):
            if coding in ("identity", "none"):
                continue
            decoder = _DECODERS.get(coding)
            if decoder is None:
                return None
            data = decoder(data, limit)
    except Exception:  # zlib.error, brotli.error, zstd errors: corrupt data
        return None
    return data


def _gzip(data: bytes, limit: int) -> bytes:
    return _zlib(data, limit, 16 + zlib.MAX_WBITS)


def _deflate(data: bytes, limit: int) -> bytes:
    # "deflate" is meant to be zlib-wrapped; many servers send it raw.
    try:
        return _zlib(data, limit, zlib.MAX_WBITS)
    except zlib.error:
        return _zlib(data, limit, -zlib.MAX_WBITS)


def _zlib(data: bytes, limit: int, wbits: int) -> bytes:
    decoder = zlib.decompressobj(wbits)
    return decoder.decompress(data, limit)


def _brotli(data: bytes, limit: int) -> bytes:
    import brotli

    decoder = brotli.Decompressor()
    if hasattr(decoder, "can_accept_more_data"):  # brotli >= 1.2: output_buffer_limit
        out = decoder.process(data, output_buffer_limit=limit)
    else:
        buffer = bytearray()
        for start in range(0, len(data), _BROTLI_STEP):
            buffer += decoder.process(data[start : start + _BROTLI_STEP])
            if len(buffer) >= limit:
                break
        out = bytes(buffer)
    if len(out) < limit and not decoder.is_finished():
        raise ValueError("brotli: the stream ends early")  # corrupt or cut short, as brotli.decompress says
    return out[:limit]


def _zstd(data: bytes, limit: int) -> bytes:
    import zstandard

    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
        return reader.read(limit)


_DECODERS = {"gzip": _gzip, "x-gzip": _gzip, "deflate": _deflate, "br": _brotli, "zstd": _zstd}
