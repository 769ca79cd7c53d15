"""Structure-aware mutations of X12 214 interchanges: the ISA-declared separators varied
(odd characters, control characters, non-ASCII, letters, and ones that collide with each
other or with the data), segments deleted, duplicated, reordered, counts and control
numbers broken, elements emptied, grown or given separators, ISA fields resized."""

from __future__ import annotations

from random import Random

from connectors.x12 import ISA_LENGTH

ODD_SEPARATORS = (
    "*", "|", "^", "~", ":", ">", "!", "\\", "+", "'", "`", "\n", "\r", "\t",
    "\x1c", "\x1d", "\x1e", "\x1f", "\x07", "\x00", "§", "¦", "\u00a0",
    "A", "0", " ", "-", ".", "/",
)  # fmt: skip


def split_interchange(text: str) -> tuple[str, str, str, str, list[list[str]]] | None:
    """(element, component, repetition, segment terminator, segments) of the first
    interchange; None when the ISA header cannot be read."""
    text = text.lstrip()
    if len(text) < ISA_LENGTH or not text.startswith("ISA"):
        return None
    element, segment = text[3], text[ISA_LENGTH - 1]
    isa = text[: ISA_LENGTH - 1].split(element)
    if len(isa) != 17:
        return None
    rows = [s.strip("\r\n").split(element) for s in text.split(segment)]
    return element, isa[16], isa[11], segment, [r for r in rows if r != [""]]


def join_interchange(
    rows: list[list[str]], element: str, component: str, repetition: str, segment: str
) -> str:
    """Rows back to text with these separators, ISA11 and ISA16 set to them."""
    out = []
    for row in rows:
        if row and row[0] == "ISA" and len(row) == 17:
            row = [*row[:11], repetition, *row[12:16], component]
        out.append(element.join(row))
    return segment.join(out) + segment


def odd_separators(rng: Random, rows: list[list[str]], seps: tuple[str, str, str, str]) -> str:
    """New separators, sometimes colliding with each other or with characters in data."""
    element, component, repetition, segment = (rng.choice(ODD_SEPARATORS) for _ in range(4))
    if rng.random() < 0.5:  # mostly distinct, so the parser gets past the ISA check
        pool = [c for c in ODD_SEPARATORS if not c.isalnum() and c != " "]
        element, component, repetition, segment = rng.sample(pool, 4)
    if rng.random() < 0.2:
        segment = segment + rng.choice(("\r\n", "\n"))
    text = join_interchange(rows, element, component, repetition, segment)
    return text if rng.random() < 0.8 else text.replace(seps[0], element)


def _edit_rows(rng: Random, rows: list[list[str]]) -> list[list[str]]:
    rows = [list(r) for r in rows]
    inner = list(range(1, len(rows))) or [0]
    choice = rng.randrange(8)
    at = rng.choice(inner)
    if choice == 0:
        del rows[at]
    elif choice == 1:
        rows.insert(at, list(rows[at]))
    elif choice == 2:
        other = rng.choice(inner)
        rows[at], rows[other] = rows[other], rows[at]
    elif choice == 3 and len(rows[at]) > 1:  # an element emptied, grown or made odd
        n = rng.randrange(1, len(rows[at]))
        rows[at][n] = rng.choice(("", " ", "X" * 5000, "99999999", "20261332", "2561", "-1"))
    elif choice == 4:  # elements added or removed
        rows[at] = rows[at][: rng.randint(1, len(rows[at]))] + ["EXTRA"] * rng.randint(0, 30)
    elif choice == 5:  # a segment id spelt another way
        rows[at][0] = rng.choice(("", "at7", "AT", "AT77", "ZZ9", "SE", "ST", "GE", "ISA", "IEA"))
    elif choice == 6 and rows[0][0] == "ISA" and len(rows[0]) == 17:  # ISA field resized
        n = rng.randrange(1, 17)
        rows[0][n] = rows[0][n][: rng.randint(0, len(rows[0][n]))] + "X" * rng.randint(0, 3)
    else:  # a count or control number wrong
        for row in rows:
            if row and row[0] in ("SE", "GE", "IEA") and len(row) > 1:
                row[rng.choice((1, len(row) - 1))] = str(rng.randint(0, 99))
                break
    return rows


def mutate_x12(rng: Random, body: bytes, limit: int) -> bytes | None:
    """One structural mutation, or several interchanges, or many status loops; None when
    the body has no readable ISA header."""
    text = body.decode("utf-8", errors="replace")
    parsed = split_interchange(text)
    if parsed is None:
        return None
    element, component, repetition, segment, rows = parsed
    seps = (element, component, repetition, segment)
    choice = rng.randrange(5)
    if choice == 0:
        out = odd_separators(rng, rows, seps)
    elif choice == 1:
        out = join_interchange(_edit_rows(rng, rows), *seps)
    elif choice == 2:  # interchanges back to back, sometimes with blanks between
        gap = rng.choice(("", "\n", "\r\n", " ", "\x00"))
        out = gap.join([text] * rng.randint(2, 20))
    elif choice == 3:  # many status loops: a big but well-formed-looking set
        loop = [r for r in rows if r and r[0] in ("LX", "AT7", "MS1", "MS2")]
        where = next((i for i, r in enumerate(rows) if r and r[0] == "SE"), len(rows))
        grown = rows[:where] + loop * rng.randint(20, 400) + rows[where:]
        out = join_interchange(grown, *seps)
    else:  # separators inside data: a component or repetition char in a simple element
        rows = [list(r) for r in rows]
        row = rng.choice(rows[1:] or rows)
        if len(row) > 1:
            n = rng.randrange(1, len(row))
            row[n] = row[n] + rng.choice((component, repetition, element, segment))
        out = join_interchange(rows, *seps)
    return out.encode("utf-8")[:limit]
