"""ANSI X12 interchanges: separators read from the ISA header, envelopes checked.

An interchange is ``ISA / GS ... / ST ... SE / GE / IEA`` with any number of functional
groups and transaction sets; a body may hold several interchanges one after another. Every
separator comes from the fixed-width ISA header, never from a default: the element
separator is its 4th character, the component separator ISA16, the segment terminator the
character right after ISA16, and, from ISA12 version 00402 on, the repetition separator
ISA11 (before it ISA11 is a standards identifier, "U"). Any characters work (``|``, ``^``,
a bare newline, control characters) as long as they are not letters, digits or space and
differ from one another. CR/LF around a segment are tolerated unless they are separators.

Nothing is handed to a mapper before the whole interchange checks out: ISA length and
shape, segment order, SE01 (segment count), ST02 = SE02, GE01 (set count), GE02 = GS06,
IEA01 (group count), IEA02 = ISA13. A mismatch raises ``X12EnvelopeError``: the interchange
is corrupt and none of it is used. A test interchange (ISA15 ``T``) is refused the same
way: test data must not become tracking events or alerts.

X12 has no release (escape) character: data never contains a separator. A simple element
that holds the component or repetition separator is an ``X12SegmentError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time
from typing import NamedTuple

from connectors.base import ConnectorError


class X12Error(ConnectorError):
    """An X12 body that cannot be mapped."""


class X12EnvelopeError(X12Error):
    """The interchange is corrupt: ISA shape or separators, envelope order, or a count or
    control number (SE01/SE02, GE01/GE02, IEA01/IEA02) that does not match the content."""


class X12SegmentError(X12Error):
    """A segment is missing or holds a value that cannot be read (date, code, reference)."""


ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)  # ISA01 .. ISA16
ISA_LENGTH = 3 + len(ISA_WIDTHS) + sum(ISA_WIDTHS) + 1  # 106, the segment terminator included
_SEPARATOR_AT = tuple(3 + i + sum(ISA_WIDTHS[:i]) for i in range(len(ISA_WIDTHS)))
_REPETITION_FROM = "00402"  # ISA11 is the repetition separator from this ISA12 version on
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}")
_DIGITS = re.compile(r"[0-9]+")  # not \d: it also matches non-ASCII digits
_TIME = re.compile(r"([0-9]{2})([0-9]{2})(?:([0-9]{2})([0-9]{1,2})?)?")
_BLANK = " \t\r\n"


@dataclass(frozen=True, slots=True)
class Separators:
    element: str
    component: str
    repetition: str | None  # None before version 00402
    segment: str


class Segment(NamedTuple):
    """One segment of a transaction set; ``position`` counts from ST = 1, as a 999 does.

    A named tuple, not a dataclass: a batch holds tens of thousands and it is 5x cheaper.
    """

    id: str
    elements: tuple[str, ...]  # XX01 is elements[0]
    position: int
    control: str  # ST02 of its transaction set
    separators: Separators

    @property
    def path(self) -> str:
        return f"ST {self.control} segment {self.position} ({self.id})"

    def value(self, n: int) -> str | None:
        """Simple element ``n`` (1-based), stripped; None when absent or empty."""
        text = self.elements[n - 1].strip() if n <= len(self.elements) else ""
        if not text:  # fast path: nothing to check (called for every element read)
            return None
        inner = (
            ("component", self.separators.component),
            ("repetition", self.separators.repetition),
        )
        for name, char in inner:
            if char is not None and char in text:
                raise X12SegmentError(
                    f"{self.id}{n:02d} holds the {name} separator {char!r} where a simple "
                    "value belongs",
                    path=self.path,
                )
        return text or None


@dataclass(frozen=True, slots=True)
class TransactionSet:
    control: str  # ST02
    segments: tuple[Segment, ...]  # between ST and SE
    created: tuple[date, time]  # GS04 / GS05: when the sender built the group (zone unstated)


def read_transaction_sets(
    text: str, *, functional_id: str, transaction_set: str, min_version: str
) -> list[TransactionSet]:
    """Every transaction set of every interchange in ``text``, each envelope checked.

    Every group must carry ``functional_id`` (GS01) and a GS08 version of at least
    ``min_version``, every set must be a ``transaction_set`` (ST01).
    """
    expect = (functional_id, transaction_set, min_version)
    text = text.removeprefix("\ufeff")
    start = _skip_blank(text, 0)
    if start == len(text):
        raise X12EnvelopeError("the body is empty")
    sets: list[TransactionSet] = []
    while start < len(text):
        separators, isa, start = _read_isa(text, start)
        segments, start = _segments_through_iea(text, start, separators)
        sets.extend(_check_interchange(isa, segments, separators, expect))
        start = _skip_blank(text, start)
    return sets


def x12_date(value: str | None, what: str, where: str, error: type[X12Error]) -> date:
    """A CCYYMMDD date (data element type DT), else ``error`` naming ``what``."""
    if not value:
        raise error(f"{what} (date) is missing", path=where)
    try:
        if len(value) != 8 or not _DIGITS.fullmatch(value):
            raise ValueError
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise error(f"{what} {value!r} is not a CCYYMMDD date", path=where) from None


def x12_time(value: str | None, what: str, where: str, error: type[X12Error]) -> time:
    """An HHMM, HHMMSS, HHMMSSD or HHMMSSDD time (type TM), else ``error``."""
    match = _TIME.fullmatch(value or "")
    try:
        if match is None:
            raise ValueError
        hour, minute, second, fraction = match.groups(default="")
        micro = int(fraction.ljust(6, "0")) if fraction else 0
        return time(int(hour), int(minute), int(second or 0), micro)
    except ValueError:
        raise error(f"{what} {value!r} is not an HHMM[SS[D[D]]] time", path=where) from None


def _skip_blank(text: str, start: int) -> int:
    while start < len(text) and text[start] in _BLANK:
        start += 1
    return start


def _read_isa(text: str, start: int) -> tuple[Separators, list[str], int]:
    header = text[start : start + ISA_LENGTH]
    if not header.startswith("ISA"):
        raise X12EnvelopeError(f"expected an ISA segment, found {header[:12]!r}")
    if len(header) < ISA_LENGTH:
        raise X12EnvelopeError(
            f"ISA is truncated: {len(header)} of its {ISA_LENGTH} characters", path="ISA"
        )
    element = header[3]
    for i, at in enumerate(_SEPARATOR_AT[1:], start=1):
        if header[at] != element:
            raise X12EnvelopeError(
                f"ISA is not fixed-width: ISA{i:02d} should be {ISA_WIDTHS[i - 1]} characters "
                f"followed by the element separator {element!r}",
                path="ISA",
            )
    isa = header[: ISA_LENGTH - 1].split(element)
    if len(isa) != len(ISA_WIDTHS) + 1:
        raise X12EnvelopeError(
            f"ISA has {len(isa) - 1} elements, not 16: a field holds the element separator",
            path="ISA",
        )
    for n, length in ((9, 6), (10, 4), (12, 5), (13, 9)):
        if not _DIGITS.fullmatch(isa[n]) or len(isa[n]) != length:
            raise X12EnvelopeError(f"ISA{n:02d} {isa[n]!r} is not {length} digits", path="ISA")
    repetition = isa[11] if isa[12] >= _REPETITION_FROM else None
    separators = Separators(element, isa[16], repetition, header[ISA_LENGTH - 1])
    _check_separators(separators)
    if isa[15] not in ("P", "T"):
        raise X12EnvelopeError(f"ISA15 {isa[15]!r} is neither P nor T", path="ISA")
    if isa[15] == "T":
        raise X12EnvelopeError(
            "ISA15 'T' marks test data: not mapped into tracking events", path=f"ISA {isa[13]}"
        )
    return separators, isa, start + ISA_LENGTH


def _check_separators(separators: Separators) -> None:
    named = {
        "element separator": separators.element,
        "component separator (ISA16)": separators.component,
        "segment terminator": separators.segment,
    }
    if separators.repetition is not None:
        named["repetition separator (ISA11)"] = separators.repetition
    for name, char in named.items():
        if char.isalnum() or char == " ":
            raise X12EnvelopeError(f"the {name} {char!r} is a letter, digit or space", path="ISA")
    if len(set(named.values())) != len(named):
        raise X12EnvelopeError(f"two separators are the same character: {named}", path="ISA")


def _segments_through_iea(
    text: str, start: int, separators: Separators
) -> tuple[list[list[str]], int]:
    """The segments after ISA up to and including IEA, split into elements."""
    used = (separators.element, separators.component, separators.repetition)
    line_breaks = "".join(c for c in "\r\n" if c not in used)
    segments: list[list[str]] = []
    while True:
        end = text.find(separators.segment, start)
        if end < 0:
            raise X12EnvelopeError(
                "the interchange ends without IEA (truncated?)",
                path=f"after segment {len(segments) + 1}",
            )
        elements = text[start:end].strip(line_breaks).split(separators.element)
        start = end + 1
        if not _SEGMENT_ID.fullmatch(elements[0]):
            raise X12EnvelopeError(
                f"not a segment: {separators.element.join(elements)[:24]!r}",
                path=f"segment {len(segments) + 2} of the interchange",
            )
        segments.append(elements)
        if elements[0] == "IEA":
            return segments, start


def _element(segment: list[str], n: int) -> str:
    return segment[n].strip() if n < len(segment) else ""


def _check_interchange(
    isa: list[str],
    segments: list[list[str]],
    separators: Separators,
    expect: tuple[str, str, str],
) -> list[TransactionSet]:
    sets: list[TransactionSet] = []
    body, iea = segments[:-1], segments[-1]
    groups, i = 0, 0
    while i < len(body):
        gs = body[i]
        if gs[0] != "GS":
            raise X12EnvelopeError(f"expected GS or IEA, found {gs[0]}", path=f"ISA {isa[13]}")
        created = _check_gs(gs, expect)
        where, count, i = f"GS {_element(gs, 6)}", 0, i + 1
        while i < len(body) and body[i][0] == "ST":
            ends = ("SE", "ST", "GS", "GE")
            end = next((j for j in range(i + 1, len(body)) if body[j][0] in ends), len(body))
            if end == len(body) or body[end][0] != "SE":
                raise X12EnvelopeError(
                    f"transaction set {_element(body[i], 2)!r} has no SE", path=where
                )
            sets.append(_transaction_set(body[i : end + 1], created, separators, expect[1]))
            count, i = count + 1, end + 1
        if i == len(body) or body[i][0] != "GE":
            found = body[i][0] if i < len(body) else "IEA"
            raise X12EnvelopeError(f"expected ST or GE, found {found}", path=where)
        ge = body[i]
        _same_count("GE01", _element(ge, 1), count, "transaction sets in the group", where)
        _same_control("GE02", _element(ge, 2), "GS06", _element(gs, 6), where)
        groups, i = groups + 1, i + 1
    where = f"ISA {isa[13]}"
    _same_count("IEA01", _element(iea, 1), groups, "functional groups", where)
    _same_control("IEA02", _element(iea, 2), "ISA13", isa[13], where)
    return sets


def _check_gs(gs: list[str], expect: tuple[str, str, str]) -> tuple[date, time]:
    functional_id, transaction_set, min_version = expect
    where = f"GS {_element(gs, 6)}"
    if _element(gs, 1) != functional_id:
        raise X12EnvelopeError(
            f"GS01 {_element(gs, 1)!r} is not {functional_id} ({transaction_set})", path=where
        )
    if not _DIGITS.fullmatch(_element(gs, 6)):
        raise X12EnvelopeError(f"GS06 {_element(gs, 6)!r} is not a control number", path=where)
    version = _element(gs, 8)
    if not re.match(r"[0-9]{6}", version) or version[:6] < min_version:
        raise X12EnvelopeError(
            f"GS08 version {version!r} is older than {min_version}, which this mapper reads",
            path=where,
        )
    return (
        x12_date(_element(gs, 4), "GS04", where, X12EnvelopeError),
        x12_time(_element(gs, 5), "GS05", where, X12EnvelopeError),
    )


def _transaction_set(
    segments: list[list[str]], created: tuple[date, time], separators: Separators, kind: str
) -> TransactionSet:
    st, se = segments[0], segments[-1]
    control = _element(st, 2)
    where = f"ST {control}"
    if _element(st, 1) != kind:
        raise X12EnvelopeError(
            f"transaction set {control!r} is a {_element(st, 1)!r}, not a {kind}", path=where
        )
    if not control:
        raise X12EnvelopeError("ST02 (control number) is missing", path=where)
    _same_count("SE01", _element(se, 1), len(segments), "segments in the set", where)
    _same_control("SE02", _element(se, 2), "ST02", control, where)
    body = tuple(
        Segment(s[0], tuple(s[1:]), position, control, separators)
        for position, s in enumerate(segments[1:-1], start=2)
    )
    return TransactionSet(control, body, created)


def _same_count(name: str, said: str, actual: int, what: str, where: str) -> None:
    if not _DIGITS.fullmatch(said) or int(said) != actual:
        raise X12EnvelopeError(f"{name} says {said!r}, but there are {actual} {what}", path=where)


def _same_control(name: str, said: str, other: str, expected: str, where: str) -> None:
    numeric = _DIGITS.fullmatch(said) and _DIGITS.fullmatch(expected)
    if said != expected and not (numeric and int(said) == int(expected)):
        raise X12EnvelopeError(f"{name} {said!r} does not match {other} {expected!r}", path=where)
