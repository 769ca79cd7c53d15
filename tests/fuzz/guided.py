"""Coverage-guided fuzzing of every parser with atheris (libFuzzer), beside the seeded run.

    .venv/bin/python -m tests.fuzz.guided [--runs 100000] [--format F ...] [--seed S]

``tests.fuzz.run`` mutates the fixtures blindly, with structure-aware mutators; this run
lets libFuzzer steer its mutations by the branches they reach in ``connectors/``,
``schemas/`` and ``hub/normalize.py`` (atheris instruments their bytecode), so it finds
paths no hand-written mutator thought of. Each format runs in a process of its own,
starting from its fixtures as the corpus and with a dictionary of their JSON keys and
values or text tokens (``json_tokens``, ``text_tokens``), and every input goes through the same oracle
(``tests.fuzz.oracle.run_case``): events valid against their schema, or a dead letter
with a clear reason holding the whole payload, within ``--time-limit`` of CPU. A crash or
hang stops that format's run; its input is written to ``--failures``
(``<format>/guided-seed<S>-<sha256 prefix>.bin`` plus ``.txt``) to reproduce with
``run_case``. Prints per format: runs, the oracle's tallies, libFuzzer's coverage
features (``ft``) of the fixtures alone and at the end, the inputs it kept, the distinct
dead-letter reasons, the slowest input and runs per second. Exits 1 on any crash or hang.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported at run time only once atheris instruments the parsers
    from tests.fuzz.stats import FormatStats

DEFAULT_FAILURES = Path(".trackhub/fuzz-failures")
INSTRUMENTED = ["connectors", "schemas", "hub.normalize"]
MIN_MAX_LEN = 16 * 1024
MAX_DICTIONARY = 2000
_COVERAGE = re.compile(r"\bft: (\d+) corp: (\d+)")


@dataclass(frozen=True)
class GuidedResult:
    """What one format's run reported (the child's JSON line) and libFuzzer printed."""

    format: str
    runs: int
    outcomes: dict[str, int]
    messages: int  # distinct dead-letter reasons
    slowest_ms: float
    seconds: float
    failures: list[str]
    fixture_features: int  # libFuzzer's coverage features of the fixtures alone
    features: int  # ... at the end: more means its guidance found new paths
    corpus: int  # inputs libFuzzer kept for new coverage (the fixtures included)
    exit_code: int

    @property
    def failed(self) -> int:
        return self.outcomes.get("crash", 0) + self.outcomes.get("hang", 0)

    def row(self) -> str:
        o = self.outcomes
        rate = self.runs / self.seconds if self.seconds else 0.0
        return (
            f"{self.format:<10} {self.runs:>8} {o.get('events', 0):>7} {o.get('empty', 0):>6} "
            f"{o.get('error', 0):>7} {o.get('crash', 0):>7} {o.get('hang', 0):>5} "
            f"{self.fixture_features:>5}->{self.features:<6} {self.corpus:>6} {self.messages:>8} "
            f"{self.slowest_ms:>10.1f} "
            f"{rate:>7.0f}"
        )


HEADER = (
    f"{'format':<10} {'runs':>8} {'events':>7} {'empty':>6} {'errors':>7} {'crashes':>7} "
    f"{'hangs':>5} {'ft fixtures->end':>12} {'corpus':>6} {'messages':>8} {'slowest ms':>10} {'runs/s':>7}"
)


def max_len(seeds: tuple[bytes, ...], limit: int) -> int:
    """libFuzzer's input size cap: room to grow the largest fixture fourfold, within the
    format's own body limit."""
    return min(limit, max(MIN_MAX_LEN, 4 * max(len(s) for s in seeds)))


def dictionary_entry(token: bytes) -> str:
    """One line of a libFuzzer dictionary: the token quoted, anything but printable ASCII
    (and the quote and backslash) as ``\\xNN``."""
    body = "".join(
        chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02x}" for b in token
    )
    return f'"{body}"'


def dictionary_tokens(found: set[bytes]) -> list[bytes]:
    """What libFuzzer may splice into inputs: at most ``MAX_DICTIONARY`` tokens of at most
    64 bytes (libFuzzer's limit), sorted."""
    return sorted(t for t in found if 0 < len(t) <= 64)[:MAX_DICTIONARY]


def json_tokens(keys: list[str], texts: list[str]) -> set[bytes]:
    """A JSON format's fixture keys as quoted keys (``"key":``) and its short string values
    quoted: a mapper's dict lookups are no comparison libFuzzer can see."""
    return {json.dumps(k).encode() + b":" for k in keys} | {
        json.dumps(t).encode() for t in texts if len(t) <= 40
    }


def text_tokens(seeds: tuple[bytes, ...]) -> set[bytes]:
    """A text format's words and separators."""
    found: set[bytes] = set()
    for body in seeds:
        text = body.decode("utf-8", errors="replace")
        found.update(w.encode() for w in re.findall(r"[A-Za-z0-9]{2,20}|[^A-Za-z0-9\s]", text))
    return found


def save_failure(folder: Path, format_name: str, seed: int, body: bytes, detail: str) -> Path:
    target = folder / format_name
    target.mkdir(parents=True, exist_ok=True)
    stem = target / f"guided-seed{seed}-{hashlib.sha256(body).hexdigest()[:16]}"
    stem.with_suffix(".bin").write_bytes(body)
    stem.with_suffix(".txt").write_text(f"atheris\n{detail}\n", encoding="utf-8")
    return stem.with_suffix(".bin")


def _child(format_name: str, runs: int, seed: int, time_limit_s: float, failures: Path) -> None:
    """Fuzz one format in this process; print one JSON line of tallies, then exit."""
    import atheris

    already = sorted(m for m in sys.modules if m.split(".")[0] in ("connectors", "schemas"))
    assert not already, f"imported before instrumentation, so not guided: {already[:5]}"

    with atheris.instrument_imports(include=INSTRUMENTED):
        from connectors.registry import get_connector
        from tests.fuzz.hypothesis_inputs import JSON_FORMATS, json_vocabulary
        from tests.fuzz.oracle import quiet_mapper_logs, run_case
        from tests.fuzz.seeds import max_body_bytes, seed_bodies
        from tests.fuzz.stats import FormatStats

        get_connector(format_name)  # connectors are imported on first use: here, instrumented

    quiet_mapper_logs()
    stats = FormatStats(format_name)
    seeds = seed_bodies(format_name)
    corpus = Path(tempfile.mkdtemp(prefix=f"guided-{format_name}-"))
    for n, body in enumerate(seeds):
        (corpus / f"fixture-{n}").write_bytes(body)
    if format_name in JSON_FORMATS:
        found = json_tokens(*json_vocabulary(format_name))
    else:
        found = text_tokens(seeds)
    dictionary = corpus.with_suffix(".dict")
    dictionary.write_text("\n".join(dictionary_entry(t) for t in dictionary_tokens(found)) + "\n")
    began = time.perf_counter()

    def finish() -> None:
        """Report the tallies and remove the run's corpus and dictionary."""
        stats.seconds = time.perf_counter() - began
        print(json.dumps(_tallies(stats)), flush=True)
        shutil.rmtree(corpus, ignore_errors=True)
        dictionary.unlink(missing_ok=True)

    def one_input(data: bytes) -> None:
        result = run_case(format_name, data, time_limit_s)
        stats.add(stats.cases, "guided", result)
        if result.outcome.failed:
            path = save_failure(failures, format_name, seed, data, result.detail)
            finish()
            raise AssertionError(f"{result.outcome}: {result.detail} (input: {path})")
        if stats.cases >= runs:
            finish()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)  # libFuzzer never returns from Fuzz(); this run is done

    argv = [
        "guided",
        f"-seed={seed}",
        f"-max_len={max_len(seeds, max_body_bytes(format_name))}",
        "-print_final_stats=0",
        f"-dict={dictionary}",
        f"-artifact_prefix={failures / format_name}/",
        str(corpus),
    ]
    (failures / format_name).mkdir(parents=True, exist_ok=True)
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


def _tallies(stats: FormatStats) -> dict[str, object]:
    return {
        "runs": stats.cases,
        "outcomes": {str(k): v for k, v in stats.outcomes.items()},
        "messages": len(stats.shapes),
        "slowest_ms": round(stats.slowest_ms, 3),
        "seconds": round(stats.seconds, 3),
        "failures": stats.failures[:20],
    }


def run_format(
    format_name: str,
    runs: int,
    seed: int,
    time_limit_s: float,
    failures: Path,
    on_line: Callable[[str], None] = lambda _: None,
) -> GuidedResult:
    """One format's guided run in a child process; its tallies and libFuzzer's coverage."""
    command = [
        sys.executable,
        "-m",
        "tests.fuzz.guided",
        "--child",
        format_name,
        "--runs",
        str(runs),
        "--seed",
        str(seed),
        "--time-limit",
        str(time_limit_s),
        "--failures",
        str(failures),
    ]
    done = subprocess.run(command, capture_output=True, text=True, errors="replace")
    fixture_features = features = corpus = 0
    for line in done.stderr.splitlines():
        on_line(line)
        if found := _COVERAGE.search(line):
            features, corpus = int(found.group(1)), int(found.group(2))
            if "INITED" in line:
                fixture_features = features
    tallies = next(
        (json.loads(line) for line in reversed(done.stdout.splitlines()) if line.startswith("{")),
        None,
    )
    if tallies is None:  # the child died before it could report: a crash of its own
        detail = done.stderr.strip().splitlines()[-5:]
        tallies = {"runs": 0, "outcomes": {"crash": 1}, "messages": 0, "slowest_ms": 0.0}
        tallies |= {"seconds": 0.0, "failures": [f"child exited {done.returncode}: {detail}"]}
    return GuidedResult(
        format=format_name,
        runs=int(tallies["runs"]),
        outcomes={str(k): int(v) for k, v in tallies["outcomes"].items()},
        messages=int(tallies["messages"]),
        slowest_ms=float(tallies["slowest_ms"]),
        seconds=float(tallies["seconds"]),
        failures=list(tallies["failures"]),
        fixture_features=fixture_features,
        features=features,
        corpus=corpus,
        exit_code=done.returncode,
    )


def _child_main(argv: list[str]) -> None:
    """The child's own arguments: nothing of the parsers may be imported before them."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", required=True)
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--time-limit", type=float, required=True)
    parser.add_argument("--failures", type=Path, required=True)
    args = parser.parse_args(argv)
    _child(args.child, args.runs, args.seed, args.time_limit, args.failures)


def main() -> None:
    if "--child" in sys.argv:
        _child_main(sys.argv[1:])
        return
    from tests.fuzz.oracle import DEFAULT_TIME_LIMIT_S
    from tests.fuzz.seeds import FORMATS

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100_000, help="inputs per format")
    parser.add_argument("--format", action="append", choices=FORMATS, dest="formats")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT_S)
    parser.add_argument("--failures", type=Path, default=DEFAULT_FAILURES)
    args = parser.parse_args()
    results = []
    print(HEADER, flush=True)
    for format_name in args.formats or FORMATS:
        result = run_format(format_name, args.runs, args.seed, args.time_limit, args.failures)
        results.append(result)
        print(result.row(), flush=True)
        for failure in result.failures:
            print(f"  {failure}", flush=True)
    total = sum(r.runs for r in results)
    failed = sum(r.failed for r in results)
    print(f"total: {total} runs over {len(results)} formats, {failed} crashes or hangs")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
