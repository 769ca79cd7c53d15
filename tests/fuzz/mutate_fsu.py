"""Structure-aware mutations of Cargo-IMP FSU messages: lines missing (header, air
waybill, status), reordered, duplicated; CR/LF variants; fields of a status line dropped,
repeated or garbled (dates such as 31APR, times such as 2460, day-change indicators,
pieces and weights); Type-B address lines, continuation lines in odd places."""

from __future__ import annotations

import re
from random import Random

ODD_FIELDS = (
    "", "31APR", "29FEB", "00JAN", "32DEC", "01XYZ", "02feb", "02FEB2460", "02FEB9999",
    "02FEB1630-N", "02FEB1630-Z", "02FEB1630-P-N", "T0K0", "T-1K5", "T12K", "K350.5",
    "T99999999K99999999.99", "ZZZ", "PVG", "PVGPVG", "A0931", "E", "S9999", "CX367",
    "X" * 2000, "é", "\x00", "/", "//HWB/I/", "-", "DEP", "176-00000000",
)  # fmt: skip
LINE_BREAKS = ("\r\n", "\n", "\r", "\r\r\n", "\n\r", "\r\n\r\n", "\x0b", " \r\n")
EXTRA_LINES = (
    "QD PVGFMCX",
    ".PVGFMCX 021630",
    "/CONTINUED TEXT",
    "OSI/FRAGILE",
    "ULD/AKE12345CX",
    "OCI/CN/EXP/M/26CN00000000000001",
    "FSU/14",
    "FSA/14",
    "FSU/99",
    "160-55501235",
    "XXX/02FEB/PVG",
    "",
)


def _garble_line(rng: Random, line: str) -> str:
    fields = line.split("/")
    choice = rng.randrange(5)
    at = rng.randrange(len(fields))
    if choice == 0 and len(fields) > 1:
        del fields[at]
    elif choice == 1:
        fields.insert(at, fields[at])
    elif choice == 2:
        fields[at] = rng.choice(ODD_FIELDS)
    elif choice == 3:  # a field's characters scrambled within its shape
        fields[at] = re.sub(r"[0-9]", lambda _: str(rng.randrange(10)), fields[at])
        fields[at] = re.sub(r"[A-Z]", lambda _: chr(rng.randrange(65, 91)), fields[at])
    else:
        fields.append(rng.choice(ODD_FIELDS))
    return "/".join(fields)


def mutate_fsu(rng: Random, body: bytes, limit: int) -> bytes | None:
    """One structural mutation of an FSU message; None when the body is not text."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = re.split(r"\r\n|\n|\r", text)
    while lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return None
    choice = rng.randrange(7)
    if choice == 0:  # missing lines: header, air waybill, status lines, or all but one
        for _ in range(rng.randint(1, 3)):
            if lines:
                del lines[rng.choice((0, min(1, len(lines) - 1), rng.randrange(len(lines))))]
    elif choice == 1:
        rng.shuffle(lines) if rng.random() < 0.3 else lines.insert(0, lines.pop())
    elif choice == 2:  # duplicated lines, sometimes thousands of status lines
        line = rng.choice(lines)
        times = rng.choice((2, 3, 100, 5000))
        at = rng.randrange(len(lines) + 1)
        lines[at:at] = [line] * times
    elif choice == 3:
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(lines))
            lines[at] = _garble_line(rng, lines[at])
    elif choice == 4:
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(EXTRA_LINES))
    elif choice == 5:  # the air waybill line garbled
        at = min(1, len(lines) - 1)
        lines[at] = _garble_line(rng, lines[at].replace("-", rng.choice(("", "-", "--", " "))))
    else:  # lower case, or blanks around fields
        at = rng.randrange(len(lines))
        lines[at] = lines[at].lower() if rng.random() < 0.5 else lines[at].replace("/", " / ")
    if rng.random() < 0.4:  # mixed line breaks
        out = "".join(line + rng.choice(LINE_BREAKS) for line in lines)
    else:
        out = rng.choice(LINE_BREAKS).join(lines) + rng.choice(("", "\r\n", "\n"))
    return out.encode("utf-8")[:limit]
