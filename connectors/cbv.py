"""GS1 Core Business Vocabulary (CBV) values reduced to their bare word.

EPCIS senders write one CBV value in several forms: bare (``shipping``), as a URN
(``urn:epcglobal:cbv:bizstep:shipping``), as a web URI (``https://ref.gs1.org/cbv/
BizStep-shipping``, ``https://gs1.org/voc/BizStep-shipping``, ...) or as a compact URI
(``cbv:BizStep-shipping``). Code tables are keyed by the bare word, so every form must
reduce to it; a URI of another vocabulary (a different CBV list, or a sender's own
extension) is kept verbatim so it can never be mistaken for a CBV term. Pure, and apart
from any one connector because the vocabulary is GS1's, not one format's.
"""

from __future__ import annotations

import re

_CBV_TERM = re.compile(
    r"^(?:urn:epcglobal:cbv:(?P<urn>[a-z]+):"
    r"|(?:https?://(?:www\.)?(?:ref\.gs1\.org/cbv/|ns\.gs1\.org/cbv/|gs1\.org/voc/)|cbv:|gs1:)"
    r"(?P<web>[A-Za-z]+)-)"
    r"(?P<term>[A-Za-z0-9_]+)$",
    re.IGNORECASE,
)
# CBV vocabularies by their word in URNs and web URIs (lower-cased): urn:epcglobal:cbv:disp:x,
# https://ref.gs1.org/cbv/Disp-x
BIZSTEP, DISPOSITION, BTT, SDT, ERROR_REASON = "bizstep", "disp", "btt", "sdt", "er"


def bare_term(value: str, vocabulary: str) -> str:
    """A CBV value as its bare word (``shipping``); a value of another vocabulary verbatim."""
    text = value.strip()
    match = _CBV_TERM.match(text)
    if match is None:
        return text if ":" in text else text.lower()
    if (match.group("urn") or match.group("web")).lower() != vocabulary:
        return text
    return match.group("term").lower()
