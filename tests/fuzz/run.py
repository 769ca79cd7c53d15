"""Benchmark-style fuzz run: many cases per format (or against the gateway), figures out.

    .venv/bin/python -m tests.fuzz.run [--cases 100000] [--format F ...] [--seed S]
    .venv/bin/python -m tests.fuzz.run --target gateway [--cases 20000] [--seed S]

Per format it prints cases, cases giving events, empty results, typed errors (each
dead-lettered with its reason), crashes, hangs, the slowest case, cases per second and the
number of distinct error messages. Each format runs in a worker process watched from here:
a case over ``--time-limit`` of CPU is interrupted in the worker (ITIMER_PROF); a worker that stops
answering altogether (a hang in C code) or dies is killed or replaced, its case recorded
as a hang or crash, and the run goes on from the next case. Failing inputs are written to
``--failures`` (``<format>/seed<S>-case<N>.bin`` plus ``.txt``) to reproduce with
``tests.fuzz.oracle.run_case``. Exits 1 on any crash or hang. One worker at a time: the
machine is shared.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

from tests.fuzz.corpus import FuzzCase, case_at, fuzz_cases
from tests.fuzz.oracle import DEFAULT_TIME_LIMIT_S, Outcome, quiet_mapper_logs, run_case
from tests.fuzz.seeds import FORMATS
from tests.fuzz.stats import HEADER, FormatStats, row

DEFAULT_FAILURES = Path(".trackhub/fuzz-failures")


def save_failure(folder: Path, seed: int, case: FuzzCase, detail: str) -> Path:
    """The failing body and what it did, named so the case can be rebuilt too."""
    target = folder / case.format
    target.mkdir(parents=True, exist_ok=True)
    stem = target / f"seed{seed}-case{case.index}"
    stem.with_suffix(".bin").write_bytes(case.body)
    stem.with_suffix(".txt").write_text(f"{case.label}\n{detail}\n", encoding="utf-8")
    return stem.with_suffix(".bin")


def _worker(
    format_name: str,
    seed: int,
    total: int,
    start: int,
    time_limit_s: float,
    failures: Path,
    progress: Synchronized,
    conn: Connection,
) -> None:
    """Run cases ``start`` .. ``total - 1`` and send the tallies back when done."""
    quiet_mapper_logs()
    stats = FormatStats(format_name)
    began = time.perf_counter()
    for case in fuzz_cases(format_name, seed, total, start):
        progress.value = case.index
        result = run_case(format_name, case.body, time_limit_s)
        stats.add(case.index, case.label, result)
        if result.outcome.failed:
            save_failure(failures, seed, case, f"{result.outcome}: {result.detail}")
    stats.seconds = time.perf_counter() - began
    conn.send(stats)
    conn.close()


def fuzz_format(
    format_name: str, seed: int, total: int, time_limit_s: float, failures: Path
) -> FormatStats:
    """All cases of one format in a watched worker, restarted past a case that killed or
    wedged it."""
    context = multiprocessing.get_context("fork")
    merged = FormatStats(format_name)
    start = 0
    # wall time, generous: the worker's own watchdog (CPU time) fires long before, unless
    # the case is stuck where signals are not handled (in C code)
    silent_limit_s = max(60.0, time_limit_s * 10)
    while start < total:
        progress = context.Value("q", start)
        receiver, sender = context.Pipe(duplex=False)
        args = (format_name, seed, total, start, time_limit_s, failures, progress, sender)
        process = context.Process(target=_worker, args=args, daemon=True)
        began = time.perf_counter()
        process.start()
        sender.close()
        last, last_change = progress.value, time.monotonic()
        try:
            while True:
                if receiver.poll(0.5):
                    merged.merge(receiver.recv())
                    start = total
                    break
                current = progress.value
                if current != last:
                    last, last_change = current, time.monotonic()
                died = not process.is_alive() and not receiver.poll(0.5)
                wedged = time.monotonic() - last_change > silent_limit_s
                if died or wedged:
                    merged.merge(_lost_case(format_name, seed, total, current, died, failures))
                    merged.seconds += time.perf_counter() - began
                    start = current + 1
                    break
        finally:
            if process.is_alive():
                process.kill()
            process.join()
            receiver.close()
    return merged


def _lost_case(
    format_name: str, seed: int, total: int, index: int, died: bool, failures: Path
) -> FormatStats:
    """A case the worker did not survive: counted, rebuilt and saved from here."""
    case = case_at(format_name, seed, total, index)
    outcome = Outcome.CRASH if died else Outcome.HANG
    detail = "the worker process died" if died else "the worker stopped answering (C-level hang)"
    save_failure(failures, seed, case, f"{outcome}: {detail}")
    stats = FormatStats(format_name)
    stats.outcomes[outcome] += 1
    stats.failures.append(f"#{index} {case.label}: {outcome}: {detail}")
    return stats


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__)
    parser.add_argument("--target", choices=("parsers", "gateway"), default="parsers")
    parser.add_argument("--cases", type=int, default=100_000, help="per format (or in all)")
    parser.add_argument("--format", action="append", choices=FORMATS, dest="formats")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT_S)
    parser.add_argument("--failures", type=Path, default=DEFAULT_FAILURES)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if args.target == "gateway":
        from tests.fuzz.gateway_run import run_gateway_fuzz

        return run_gateway_fuzz(args.cases, args.seed, args.failures)
    print(f"fuzzing parsers: {args.cases} cases per format, seed {args.seed}, "
          f"time limit {args.time_limit:g} s per case", flush=True)  # fmt: skip
    print(HEADER, flush=True)
    failed = 0
    for format_name in args.formats or FORMATS:
        stats = fuzz_format(format_name, args.seed, args.cases, args.time_limit, args.failures)
        print(row(stats), flush=True)
        for failure in stats.failures[:10]:
            print(f"    {failure[:400]}", flush=True)
        failed += stats.failed
    if failed:
        print(f"{failed} failing case(s); inputs in {args.failures}/", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
