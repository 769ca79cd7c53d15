"""Hypothesis-generated inputs per format: arbitrary bytes, JSON built from the format's
own vocabulary (its keys and values, so the mapper gets past its first checks), X12
interchanges from a valid-looking ISA with generated separators and segments, FSU
messages from real codes and fields. Deterministic for a seed."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.fuzz.seeds import seed_bodies

JSON_FORMATS = frozenset({"easypost", "aftership", "17track", "dcsa", "epcis", "customs", "native"})


def _walk(value: Any, keys: set[str], texts: set[str]) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            keys.add(key)
            _walk(child, keys, texts)
    elif isinstance(value, list):
        for child in value:
            _walk(child, keys, texts)
    elif isinstance(value, str):
        texts.add(value)


@functools.cache
def json_vocabulary(format_name: str) -> tuple[list[str], list[str]]:
    """Every key and every string value of the format's JSON fixtures, sorted."""
    keys: set[str] = set()
    texts: set[str] = set()
    for body in seed_bodies(format_name):
        try:
            _walk(json.loads(body), keys, texts)
        except ValueError:
            continue
    return sorted(keys), sorted(texts)


def json_strategy(format_name: str) -> st.SearchStrategy[bytes]:
    keys, texts = json_vocabulary(format_name)
    key = st.sampled_from(keys) | st.text(max_size=10)
    scalar = (
        st.none()
        | st.booleans()
        | st.integers(-(2**70), 2**70)
        | st.floats(allow_nan=True)
        | st.sampled_from(texts)
        | st.text(max_size=40)
    )
    tree = st.recursive(
        scalar,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(key, children, max_size=8)
        ),
        max_leaves=60,
    )
    return tree.map(lambda v: json.dumps(v).encode())


@functools.cache
def _lines(format_name: str, pattern: str) -> list[str]:
    found: set[str] = set()
    for body in seed_bodies(format_name):
        found.update(re.split(pattern, body.decode("utf-8", errors="replace")))
    return sorted(line for line in found if line)


def x12_strategy() -> st.SearchStrategy[bytes]:
    separators = st.sampled_from("*|^~:>!+\n\x1c\x1d\x1e\x1f§A ")
    segments = _lines("x12_214", r"[~\n^]")
    body_segment = st.sampled_from([s for s in segments if not s.startswith("ISA")]) | st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789*~>^|: \n", max_size=40
    )

    @st.composite
    def interchange(draw: st.DrawFn) -> bytes:
        element, component, segment = draw(separators), draw(separators), draw(separators)
        isa = (
            f"ISA{element}00{element}{' ' * 10}{element}00{element}{' ' * 10}{element}02"
            f"{element}{'SLTL':<15}{element}ZZ{element}{'TRACKHUB':<15}{element}251103"
            f"{element}1815{element}{draw(separators)}{element}"
            f"{draw(st.sampled_from(['00401', '00501', '00200', '99999']))}"
            f"{element}000000101{element}0{element}P{element}{component}{segment}"
        )
        rows = draw(st.lists(body_segment, max_size=40))
        rows = [r.replace("*", element) for r in rows]
        return (isa + segment.join(rows) + segment).encode("utf-8")

    return interchange()


def fsu_strategy() -> st.SearchStrategy[bytes]:
    lines = _lines("iata_fsu", r"\r\n|\n")
    fields = sorted({f for line in lines for f in line.split("/")})
    status = st.lists(st.sampled_from(fields) | st.text(max_size=12), min_size=1, max_size=8).map(
        "/".join
    )
    line = st.sampled_from(lines) | status
    message = st.tuples(
        st.sampled_from(["FSU/14", "FSA/14", "FSU/", "FSU/14/x", ""]),
        st.lists(line, max_size=12),
        st.sampled_from(["\r\n", "\n", "\r"]),
    )
    return message.map(lambda m: m[2].join([m[0], *m[1]]).encode("utf-8"))


def strategy_for(format_name: str) -> st.SearchStrategy[bytes]:
    shaped = {"x12_214": x12_strategy, "iata_fsu": fsu_strategy}.get(format_name)
    structured = shaped() if shaped else json_strategy(format_name)
    return st.binary(max_size=2000) | structured | structured | structured


def hypothesis_bodies(format_name: str, seed_value: int, count: int) -> list[bytes]:
    """``count`` generated bodies (fewer only if hypothesis runs out of new ones twice)."""
    bodies: list[bytes] = []
    for round_ in range(3):
        if len(bodies) >= count:
            break

        @seed(seed_value * 1_000 + round_)
        @settings(
            max_examples=count - len(bodies),
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(body=strategy_for(format_name))
        def collect(body: bytes) -> None:
            bodies.append(body)

        collect()
    return bodies[:count]
