"""Format-blind mutations of a body: byte damage, truncation at boundaries, wrong
encodings, oversized bodies. Each mutator is ``(rng, body, limit) -> bytes`` and never
returns more than ``limit`` bytes (the largest body the gateway would hand the parser)."""

from __future__ import annotations

import codecs
from collections.abc import Callable
from random import Random

Mutator = Callable[[Random, bytes, int], bytes]

# characters where a parser changes state: cutting right before or after one of them
# stops a body at "every kind of boundary" (mid-token, mid-string, between records)
BOUNDARY_BYTES = frozenset(b'{}[],:"\\ \t\r\n/*~^|>-+.0123456789')
INVALID_UTF8 = (
    b"\xff",
    b"\xfe\xff",
    b"\xc3",  # a lead byte without its continuation
    b"\x80",  # a continuation byte alone
    b"\xc0\xaf",  # overlong "/"
    b"\xed\xa0\x80",  # a UTF-16 surrogate encoded in UTF-8
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xe2\x82",  # a truncated 3-byte sequence
)
BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE)
ODD_TEXT = ("é", "ü", "ß", "€", "Ω", "中", "\u200b", "\u202e", "\ufeff", "\x00", "\x1c", "😀")


def flip_bytes(rng: Random, body: bytes, limit: int) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 8)):
        if not data:
            break
        at = rng.randrange(len(data))
        data[at] = data[at] ^ (1 << rng.randrange(8)) if rng.random() < 0.5 else rng.randrange(256)
    return bytes(data[:limit])


def splice_bytes(rng: Random, body: bytes, limit: int) -> bytes:
    """Delete, duplicate or insert a random range (random bytes or another part of body)."""
    if not body:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    start = rng.randrange(len(body))
    end = min(len(body), start + rng.randint(1, 256))
    choice = rng.randrange(3)
    if choice == 0:
        out = body[:start] + body[end:]
    elif choice == 1:
        out = body[:end] + body[start:end] * rng.randint(1, 20) + body[end:]
    else:
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
        out = body[:start] + junk + body[start:]
    return out[:limit]


def truncate_anywhere(rng: Random, body: bytes, limit: int) -> bytes:
    return body[: rng.randint(0, len(body))][:limit]


def truncate_at_boundary(rng: Random, body: bytes, limit: int) -> bytes:
    """Cut just before or after a structural character, or inside a multi-byte character."""
    spots = [i for i, b in enumerate(body) if b in BOUNDARY_BYTES or b >= 0xC0]
    if not spots:
        return truncate_anywhere(rng, body, limit)
    at = rng.choice(spots) + rng.choice((0, 1))
    return body[:at][:limit]


def wrong_encoding(rng: Random, body: bytes, limit: int) -> bytes:
    """The same text in another encoding, with or without a BOM, or with invalid UTF-8."""
    text = body.decode("utf-8", errors="replace")
    choice = rng.randrange(7)
    if choice == 0:
        out = text.encode(rng.choice(("utf-16", "utf-16-le", "utf-16-be", "utf-32")))
    elif choice == 1:  # Latin-1 / cp1252 with a few accented characters put in
        chars = list(text)
        for _ in range(rng.randint(1, 5)):
            if chars:
                chars[rng.randrange(len(chars))] = rng.choice("éüßñÅ€")
        codec = rng.choice(("latin-1", "cp1252"))
        out = "".join(chars).encode(codec, errors="replace")
    elif choice == 2:
        out = rng.choice(BOMS) + body
    elif choice == 3:
        out = codecs.BOM_UTF8 * rng.randint(2, 3) + body
    elif choice == 4:
        at = rng.randint(0, len(body))
        out = body[:at] + rng.choice(INVALID_UTF8) + body[at:]
    elif choice == 5:
        chars = list(text)
        for _ in range(rng.randint(1, 5)):
            chars.insert(rng.randint(0, len(chars)), rng.choice(ODD_TEXT))
        out = "".join(chars).encode("utf-8", errors="surrogatepass")
    else:
        out = text.encode("utf-8").replace(b"\n", b"\r\n") if rng.random() < 0.5 else body + b"\x00"
    return out[:limit]


def oversized(rng: Random, body: bytes, limit: int) -> bytes:
    """A body near the size limit: repeated, padded with blanks, or padded inside."""
    target = rng.randint(limit // 2, limit)
    choice = rng.randrange(3)
    if choice == 0 and body:
        return (body * (target // len(body) + 1))[:target]
    if choice == 1:
        return (body + b" " * target)[:target]
    at = rng.randint(0, len(body))
    filler = rng.choice((b"A", b"\n", b"0", b"\\u0041", b"[", b"{"))
    return (body[:at] + filler * (target // len(filler)) + body[at:])[:limit]


def degenerate(rng: Random, body: bytes, limit: int) -> bytes:
    """Bodies that are almost nothing: empty, blanks, one byte, a BOM alone, NULs."""
    return rng.choice(
        (b"", b" ", b"\r\n", b"\x00" * 16, codecs.BOM_UTF8, b"null", b"0", b"[]", b"{}", b'""')
    )[:limit]


BYTE_MUTATORS: tuple[Mutator, ...] = (
    flip_bytes,
    splice_bytes,
    truncate_anywhere,
    truncate_at_boundary,
    wrong_encoding,
    oversized,
    degenerate,
)
