"""GS1 keys as EPCIS and other supply-chain messages write them: SSCC, GLN, document ids.

The GS1 General Specifications and Tag Data Standard define one number per thing (an SSCC
for a logistic unit, a GLN for a party or a place, a GSIN for a shipment, a GINC for a
consignment, a GDTI for a document) and several spellings of it: an EPC URN
(``urn:epc:id:sscc:<company prefix>.<serial reference>``, without the check digit) or a
GS1 Digital Link (``https://<any host>/00/<18 digits>``, with it). These helpers reduce
every spelling to the number, so two forms of one key always compare equal. They are
format-neutral, kept out of any one connector so a second GS1 format reuses them rather
than copying them, and pure: no I/O.

``sscc_from_epc`` raises the caller's ``ConnectorError`` subclass for an SSCC that is
malformed (a key that matches nothing must refuse its message); ``gln_from_uri`` returns
None for anything that is not a valid GLN, since a place or a party can still be named
as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from connectors.base import ConnectorError


def gs1_check_digit(digits: str) -> str:
    """The GS1 mod-10 check digit of a key's digits (weights 3, 1, ... from the right)."""
    # two slices instead of a per-digit weight: this runs for every SSCC and GLN read
    total = 3 * sum(map(int, digits[::-2])) + sum(map(int, digits[-2::-2]))
    return str((10 - total % 10) % 10)


def _epc_urn_digits(urn: str, scheme: str, parts: int, total: int) -> list[str] | None:
    """The dot-separated fields of ``urn:epc:id:<scheme>:`` when the company prefix (6-12
    digits) and the next field are digits adding up to ``total``; None otherwise."""
    fields = urn[len(f"urn:epc:id:{scheme}:") :].split(".")
    if len(fields) != parts or not (6 <= len(fields[0]) <= 12):
        return None
    if not (fields[0] + fields[1]).isdigit() or len(fields[0]) + len(fields[1]) != total:
        return None
    return fields


def _digital_link(uri: str) -> list[str] | None:
    """The path segments of an http(s) URI (Digital Links may use any host and a prefix)."""
    if not uri.lower().startswith(("https://", "http://")):
        return None
    try:
        path = urlsplit(uri).path
    except ValueError:  # no URI at all ("http://[" is an unclosed IPv6 host): no link
        return None
    return [unquote(s) for s in path.split("/") if s]


def sscc_from_epc(epc: str, error: type[ConnectorError]) -> str | None:
    """The 18-digit SSCC an EPC names, None when it names something else (an SGTIN, ...),
    ``error`` when it claims to be an SSCC and is malformed."""
    if epc.lower().startswith("urn:epc:id:sscc:"):
        fields = _epc_urn_digits(epc, "sscc", 2, 17)
        if fields is None:
            raise error(
                f"{epc[:60]!r} is not an SSCC URN (company prefix of 6-12 digits + serial "
                "reference, 17 digits together)"
            )
        company, serial = fields
        body = serial[0] + company + serial[1:]  # the extension digit leads the SSCC
        return body + gs1_check_digit(body)
    segments = _digital_link(epc)
    if not segments or len(segments) < 2 or segments[-2] != "00":
        return None
    value = segments[-1]
    if not (len(value) == 18 and value.isdigit()):
        raise error(f"{epc[:80]!r}: an SSCC has 18 digits")
    if gs1_check_digit(value[:17]) != value[17]:
        raise error(f"{epc[:80]!r}: wrong SSCC check digit")
    return value


@dataclass(frozen=True, slots=True)
class GLN:
    """A Global Location Number and the extension (a sub-location) an SGLN or link adds."""

    number: str  # 13 digits
    extension: str | None = None

    @property
    def label(self) -> str:
        return f"GLN {self.number}" + (f" ext {self.extension}" if self.extension else "")


def gln_from_uri(uri: str) -> GLN | None:
    """The GLN of an SGLN or PGLN URN or a Digital Link 414 (location) / 417 (party);
    None for anything else, including a GLN with a wrong check digit."""
    # Pure and hot: a document names the same few sites and parties in every event, each
    # read several times (site, party, location). Only short URIs are cached (payload text
    # can be megabytes long).
    if len(uri) <= _CACHED_LENGTH:
        return _gln_cached(uri)
    return _gln(uri)


def _gln(uri: str) -> GLN | None:
    lowered = uri.lower()
    for scheme, parts in (("sgln", 3), ("pgln", 2)):
        if lowered.startswith(f"urn:epc:id:{scheme}:"):
            fields = _epc_urn_digits(uri, scheme, parts, 12)
            if fields is None:
                return None
            number = fields[0] + fields[1]
            extension = fields[2] if parts == 3 and fields[2] != "0" else None
            return GLN(number + gs1_check_digit(number), extension or None)
    segments = _digital_link(uri) or []
    for i, segment in enumerate(segments[:-1]):
        number = segments[i + 1]
        if segment in ("414", "417") and len(number) == 13 and number.isdigit():
            if gs1_check_digit(number[:12]) != number[12]:
                return None
            rest = segments[i + 2 :]
            extension = rest[1] if len(rest) >= 2 and rest[0] == "254" else None
            return GLN(number, extension)
    return None


_CACHED_LENGTH = 512
_gln_cached = lru_cache(maxsize=4096)(_gln)


def transaction_reference(value: str) -> tuple[str, str | None]:
    """(reference, issuer) of a business transaction id.

    ``urn:epcglobal:cbv:bt:<GLN>:<id>`` gives the id, issued by ``gln-<GLN>``; a GSIN, GINC
    or GDTI URN gives its GS1 number (the check digit computed for GSIN and GDTI); a Digital
    Link the value after AI 253, 401 or 402, and any other http(s) URL its last path
    segment; plain text is kept. Only the CBV URN names an issuer.
    """
    text = value.strip()
    lowered = text.lower()
    if lowered.startswith("urn:epcglobal:cbv:bt:"):
        issuer, _, reference = text[len("urn:epcglobal:cbv:bt:") :].partition(":")
        if reference and len(issuer) == 13 and issuer.isdigit():
            return reference, f"gln-{issuer}"
        return reference or issuer, None
    for scheme, parts, check in (("gsin", 2, True), ("ginc", 2, False), ("gdti", 3, True)):
        if lowered.startswith(f"urn:epc:id:{scheme}:"):
            fields = text[len(f"urn:epc:id:{scheme}:") :].split(".")
            if len(fields) == parts:
                key = fields[0] + fields[1]
                key += gs1_check_digit(key) if check and key.isdigit() else ""
                return key + "".join(fields[2:]), None
            return text, None
    segments = _digital_link(text)
    if segments:
        for ai in ("253", "401", "402"):
            if ai in segments[:-1]:
                return segments[segments.index(ai) + 1], None
        return segments[-1], None
    return text, None
