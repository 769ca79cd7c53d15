"""Structure-aware mutations of a JSON body: a field deleted, a value of another type,
odd strings and timestamps, huge strings and arrays, deep nesting (10,000 levels),
duplicate keys, numbers Python cannot hold. The body is re-serialized in a random
style; bodies that are not JSON are left to the byte mutators."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from random import Random
from typing import Any

JsonPath = tuple[str | int, ...]
JsonMutator = Callable[[Random, Any, int], str]

ODD_STRINGS = (
    "",
    " ",
    "null",
    "0",
    "-1",
    "\u0000",
    "\ud800",  # a lone surrogate: valid JSON (escaped), invalid Unicode
    "\u202eevil",
    "ÅÄÖ中文😀",
    "x" * 300,
    "../../etc/passwd",
    "urn:epc:id:sscc:",
    "%s%n",
)
ODD_TIMESTAMPS = (
    "2026-02-30T10:00:00Z",
    "2026-03-02T04:00:00+25:00",
    "2026-03-02T24:00:00Z",
    "2026-03-02",
    "2026-03-02T04:00:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59+14:00",
    "+275760-09-13T00:00:00Z",
    "2026-03-02T04:00:00.123456789012Z",
    "2026-W10-1T04:00Z",
    "1709352000",
    "Mon, 02 Mar 2026 04:00:00 GMT",
)
REPLACEMENTS: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1.5,
    1e308,
    -0.0,
    float("nan"),
    float("inf"),
    2**64,
    "",
    "garbage",
    [],
    {},
    [None],
    {"": None},
)


def paths(value: Any, prefix: JsonPath = ()) -> list[JsonPath]:
    """Every node's path, the root included (breadth is what the fixtures have)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def _get(value: Any, path: JsonPath) -> Any:
    for step in path:
        value = value[step]
    return value


def _set(root: Any, path: JsonPath, new: Any) -> Any:
    if not path:
        return new
    _get(root, path[:-1])[path[-1]] = new
    return root


def _dumps(rng: Random, value: Any) -> str:
    indent = rng.choice((None, None, 2))
    return json.dumps(value, indent=indent, ensure_ascii=rng.random() < 0.5)


def delete_field(rng: Random, doc: Any, _limit: int) -> str:
    candidates = [p for p in paths(doc) if p]
    if candidates:
        path = rng.choice(candidates)
        parent = _get(doc, path[:-1])
        del parent[path[-1]]
    return _dumps(rng, doc)


def swap_type(rng: Random, doc: Any, _limit: int) -> str:
    for _ in range(rng.randint(1, 3)):
        doc = _set(doc, rng.choice(paths(doc)), copy.deepcopy(rng.choice(REPLACEMENTS)))
    return _dumps(rng, doc)


def odd_string(rng: Random, doc: Any, _limit: int) -> str:
    strings = [p for p in paths(doc) if isinstance(_get(doc, p), str)]
    for _ in range(rng.randint(1, 3)):
        if not strings:
            break
        path = rng.choice(strings)
        text = _get(doc, path)
        looks_like_time = len(text) >= 10 and text[4:5] == "-" and text[:4].isdigit()
        pool = ODD_TIMESTAMPS if looks_like_time and rng.random() < 0.8 else ODD_STRINGS
        doc = _set(doc, path, rng.choice(pool))
    return _dumps(rng, doc)


def huge_value(rng: Random, doc: Any, limit: int) -> str:
    """A string or array grown to a good part of the size limit."""
    path = rng.choice(paths(doc))
    node = _get(doc, path)
    room = max(limit // rng.choice((2, 4, 16)), 1)
    if isinstance(node, list) and node:
        one = len(json.dumps(node[0])) + 2
        doc = _set(doc, path, [node[0]] * max(room // one, 1))
    else:
        doc = _set(doc, path, rng.choice("x9 é") * (room // 2))
    return _dumps(rng, doc)[:limit] if rng.random() < 0.1 else _dumps(rng, doc)


def deep_nesting(rng: Random, doc: Any, limit: int) -> str:
    """A node replaced by thousands of nested arrays or objects (text built, not dumped:
    the encoder itself would recurse)."""
    depth = rng.choice((100, 1000, 10_000, 100_000))
    depth = min(depth, limit // 8)
    if rng.random() < 0.5:
        nested = "[" * depth + "1" + "]" * depth
    else:
        nested = '{"a":' * depth + "1" + "}" * depth
    marker = "\u2063nested\u2063"
    doc = _set(doc, rng.choice(paths(doc)), marker)
    return (
        _dumps(rng, doc)
        .replace(json.dumps(marker), nested)
        .replace(json.dumps(marker, ensure_ascii=False), nested)
    )


def duplicate_keys(rng: Random, doc: Any, _limit: int) -> str:
    """An object given the same key twice, the second time with another value."""
    text = _dumps(rng, doc)
    objects = [p for p in paths(doc) if isinstance(_get(doc, p), dict) and _get(doc, p)]
    if not objects:
        return text
    obj = _get(doc, rng.choice(objects))
    key = rng.choice(list(obj))
    needle = json.dumps(key) + ":"
    at = text.find(needle)
    if at < 0:
        return text
    extra = f"{json.dumps(key)}: {json.dumps(rng.choice(REPLACEMENTS))},"
    return text[:at] + extra + text[at:]


def huge_number(rng: Random, doc: Any, _limit: int) -> str:
    """A number literal Python refuses (over 4,300 digits) or one that overflows a float."""
    literal = rng.choice(("9" * 5000, "1e999999", "-" + "1" * 4301, "0." + "0" * 5000 + "1"))
    marker = "\u2063number\u2063"
    doc = _set(doc, rng.choice(paths(doc)), marker)
    return _dumps(rng, doc).replace(json.dumps(marker), literal)


def rename_key(rng: Random, doc: Any, _limit: int) -> str:
    """A key spelt another way (case, blank, prefix): the field the mapper wants is gone."""
    objects = [p for p in paths(doc) if isinstance(_get(doc, p), dict) and _get(doc, p)]
    if objects:
        obj = _get(doc, rng.choice(objects))
        key = rng.choice(list(obj))
        new = rng.choice((key.upper(), key + " ", "_" + key, key.replace("_", ""), ""))
        obj[new] = obj.pop(key)
    return _dumps(rng, doc)


JSON_MUTATORS: tuple[JsonMutator, ...] = (
    delete_field,
    swap_type,
    swap_type,
    odd_string,
    odd_string,
    huge_value,
    deep_nesting,
    duplicate_keys,
    huge_number,
    rename_key,
)


def mutate_json(rng: Random, body: bytes, limit: int) -> bytes | None:
    """One or two structural mutations of a JSON body; None when it is not JSON."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None
    text = rng.choice(JSON_MUTATORS)(rng, doc, limit)
    return text.encode("utf-8", errors="surrogatepass")[:limit]
