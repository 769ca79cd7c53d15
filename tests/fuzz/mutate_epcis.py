"""EPCIS-specific mutations: bizStep, disposition, EPCs and time-zone offsets in bare,
CBV URN and GS1 web URI forms, mixed with each other and with garbage."""

from __future__ import annotations

import json
from random import Random
from typing import Any

from tests.fuzz.mutate_json import paths

WORDS = ("shipping", "departing", "arriving", "receiving", "loading", "in_transit", "damaged")
GARBAGE = (
    "",
    "urn:epcglobal:cbv:bizstep:",
    "https://ref.gs1.org/cbv/",
    "BizStep-",
    "💥",
    "x" * 500,
)
EPCS = (
    "urn:epc:id:sscc:0614141.1234567890",
    "urn:epc:id:sscc:0614141.123456789",
    "urn:epc:id:sscc:.",
    "https://id.gs1.org/00/106141412345678908",
    "https://id.gs1.org/00/",
    "00106141412345678908",
    "urn:epc:id:sgtin:0614141.107346.2017",
    "urn:epc:class:lgtin:4012345.012345.998877",
    "not-an-epc",
)
OFFSETS = ("+01:00", "-05:30", "+14:00", "+25:00", "Z", "01:00", "+1:00", "", "+00:00:00")


def _form(rng: Random, word: str, kind: str) -> str:
    """The word in one of its spellings, or garbage."""
    title = "".join(part.title() for part in word.split("_"))
    return rng.choice(
        (
            word,
            word.upper(),
            f"urn:epcglobal:cbv:{kind.lower()}:{word}",
            f"https://ref.gs1.org/cbv/{kind}-{word}",
            f"https://ref.gs1.org/cbv/{kind}-{title}",
            f"https://example.com/{word}",
            rng.choice(GARBAGE),
        )
    )


def mutate_epcis(rng: Random, body: bytes, limit: int) -> bytes | None:
    """bizStep, disposition, epcList entries or eventTimeZoneOffset respelt; None when
    the body is not JSON."""
    try:
        doc: Any = json.loads(body)
    except (ValueError, RecursionError):
        return None
    fields = {"bizStep": "BizStep", "disposition": "Disp"}
    for path in paths(doc):
        if not path or rng.random() < 0.5:
            continue
        key = path[-1]
        try:  # an earlier change may have replaced this node's parent
            parent = doc
            for step in path[:-1]:
                parent = parent[step]
        except (LookupError, TypeError):
            continue
        if not isinstance(parent, dict):
            continue
        if key in fields:
            parent[key] = _form(rng, rng.choice(WORDS), fields[key])
        elif key == "eventTimeZoneOffset":
            parent[key] = rng.choice(OFFSETS)
        elif key in ("epcList", "childEPCs", "parentID") and rng.random() < 0.7:
            chosen = [rng.choice(EPCS) for _ in range(rng.randint(0, 4))]
            parent[key] = chosen if key != "parentID" else (chosen or [""])[0]
    return json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode("utf-8")[:limit]
