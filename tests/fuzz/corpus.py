"""The fuzz cases of a format: case ``i`` of seed ``s`` is always the same bytes.

Most cases are mutations of a real fixture (structure-aware for the format, format-blind
byte damage, or both stacked); the last tenth are hypothesis-generated inputs. Every case
is addressable by its index alone, so a failure found at case 73,512 is rebuilt (and
saved) without replaying the 73,511 before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from random import Random

from tests.fuzz import mutate_bytes
from tests.fuzz.hypothesis_inputs import hypothesis_bodies
from tests.fuzz.mutate_epcis import mutate_epcis
from tests.fuzz.mutate_fsu import mutate_fsu
from tests.fuzz.mutate_json import mutate_json
from tests.fuzz.mutate_x12 import mutate_x12
from tests.fuzz.seeds import max_body_bytes, seed_bodies

GATEWAY_MAX_BODY_BYTES = 1024 * 1024  # TRACKHUB_GATEWAY_MAX_BODY_BYTES' default
HYPOTHESIS_SHARE = 0.1
# generated a chunk at a time (each from its own seed): a case is rebuilt from its chunk
# alone, and a worker never goes long without starting a case
HYPOTHESIS_CHUNK = 100

Structural = Callable[[Random, bytes, int], bytes | None]
STRUCTURAL: dict[str, tuple[tuple[str, Structural], ...]] = {
    "x12_214": (("x12", mutate_x12),),
    "iata_fsu": (("fsu", mutate_fsu),),
    "epcis": (("epcis", mutate_epcis), ("json", mutate_json)),
}
DEFAULT_STRUCTURAL: tuple[tuple[str, Structural], ...] = (("json", mutate_json),)
# byte mutators by weight: oversized bodies are slow to parse, so they are a small share
BYTE_WEIGHTS = {
    mutate_bytes.flip_bytes: 3,
    mutate_bytes.splice_bytes: 3,
    mutate_bytes.truncate_anywhere: 2,
    mutate_bytes.truncate_at_boundary: 3,
    mutate_bytes.wrong_encoding: 3,
    mutate_bytes.oversized: 0.2,
    mutate_bytes.degenerate: 0.5,
}


@dataclass(frozen=True, slots=True)
class FuzzCase:
    format: str
    index: int
    label: str  # how it was made: "x12", "bytes.wrong_encoding", "json+bytes.flip_bytes", ...
    body: bytes


def body_limit(format_name: str) -> int:
    """The largest body the gateway hands this format's parser (default settings)."""
    return min(max_body_bytes(format_name), GATEWAY_MAX_BODY_BYTES)


def mutation_count(total: int) -> int:
    """How many of ``total`` cases are mutations; the rest are hypothesis inputs."""
    return total - int(total * HYPOTHESIS_SHARE)


def _byte_mutation(rng: Random, body: bytes, limit: int) -> tuple[str, bytes]:
    mutator = rng.choices(list(BYTE_WEIGHTS), weights=list(BYTE_WEIGHTS.values()))[0]
    return f"bytes.{mutator.__name__}", mutator(rng, body, limit)


def mutation_case(format_name: str, seed: int, index: int) -> FuzzCase:
    """Case ``index`` among the mutations of ``format_name`` for ``seed``."""
    rng = Random(f"{seed}/{format_name}/{index}")
    limit = body_limit(format_name)
    body = rng.choice(seed_bodies(format_name))
    roll = rng.random()
    label, out = "", None
    if roll < 0.9:
        name, structural = rng.choice(STRUCTURAL.get(format_name, DEFAULT_STRUCTURAL))
        if roll < 0.55 or roll >= 0.75:
            out = structural(rng, body, limit)
            label = name
    if out is None or roll >= 0.75:  # byte damage alone, or on top of the structural change
        byte_label, out = _byte_mutation(rng, out if out is not None else body, limit)
        label = f"{label}+{byte_label}" if label else byte_label
    return FuzzCase(format_name, index, label, out)


def fuzz_cases(format_name: str, seed: int, total: int, start: int = 0) -> Iterator[FuzzCase]:
    """Cases ``start`` .. ``total - 1`` of a run of ``total``."""
    mutations = mutation_count(total)
    for index in range(start, min(mutations, total)):
        yield mutation_case(format_name, seed, index)
    chunk: list[bytes] = []
    for index in range(max(start, mutations), total):
        offset = index - mutations
        if offset % HYPOTHESIS_CHUNK == 0 or not chunk:
            chunk = hypothesis_bodies(
                format_name, seed * 100_000 + offset // HYPOTHESIS_CHUNK, HYPOTHESIS_CHUNK
            )
        body = chunk[offset % HYPOTHESIS_CHUNK] if offset % HYPOTHESIS_CHUNK < len(chunk) else b""
        yield FuzzCase(format_name, index, "hypothesis", body)


def case_at(format_name: str, seed: int, total: int, index: int) -> FuzzCase:
    """One case of a run, rebuilt (for a failure the worker could not save itself)."""
    return next(iter(fuzz_cases(format_name, seed, total, start=index)))
