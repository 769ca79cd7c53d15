"""The load profile: steady load at rate R, then bursts at ``burst_factor`` x R.

Phases: a short warm-up (not counted), ``steady_s`` at R, then ``bursts`` times
(``burst_s`` at factor x R, ``pause_s`` back at R). Real ``trackhub gateway`` replicas
take the load from this process (open loop, ``tests.load.open_loop``, its lanes spread
over them); their RSS and the CPU of every process are sampled throughout; at the end the
raw log is read to its end and every 202 must be on it once.
"""

from __future__ import annotations

import asyncio
import gc
import os
from dataclasses import dataclass, field
from pathlib import Path

import uvloop

from hub import local_kafka
from hub.settings import Settings
from tests.load.open_loop import Phase, PhaseResult, run_phases
from tests.load.raw_check import RawLogCheck, check_raw_log, raw_log_ends
from tests.load.rss_sampler import RssSampler
from tests.load.traffic import LOAD_SECRET, WebhookFactory, gateway_routes, load_sources
from tests.perf.common import cpu_seconds, percentile
from tests.support.gateway_process import GatewayProcess

WINDOW_S = 5.0  # the report's latency timeline: one p99 per window


@dataclass(frozen=True)
class ProfileConfig:
    rate: float
    steady_s: float = 600.0
    burst_factor: float = 5.0
    burst_s: float = 10.0
    pause_s: float = 20.0
    bursts: int = 3
    warmup_s: float = 5.0
    connections: int = 1024  # the load's lanes: as many as the gateways admit (2 x 512)
    max_in_flight: int = 512  # each gateway's TRACKHUB_GATEWAY_MAX_IN_FLIGHT
    gateways: int = 2  # replicas, as deploy/k8s/gateway.yml runs; lanes spread over them

    def phases(self) -> list[Phase]:
        phases = [Phase("warmup", "warmup", self.rate, self.warmup_s)] if self.warmup_s else []
        phases.append(Phase("steady", "steady", self.rate, self.steady_s))
        for n in range(1, self.bursts + 1):
            phases.append(Phase(f"burst-{n}", "burst", self.rate * self.burst_factor, self.burst_s))
            if self.pause_s:
                phases.append(Phase(f"pause-{n}", "pause", self.rate, self.pause_s))
        return phases


@dataclass(frozen=True)
class KindFigures:
    """What the load saw in all phases of one kind."""

    kind: str
    requested: int
    accepted: int  # final answer 202
    achieved_rate: float  # 202s per second over the phases' wall time
    retries: int  # 503s (shed or Kafka away) sent again after their Retry-After
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    send_lag_p99_ms: float  # how late this process started requests: its own lag
    statuses: dict[int, int]
    errors: dict[str, int]
    rss_max_mib: float
    # CPU each process spent per request started in these phases, in microseconds
    cpu_us_per_request: dict[str, float]
    # p99 of the webhooks falling due in each WINDOW_S window of these phases, in order
    window_p99_ms: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class ProfileReport:
    config: ProfileConfig
    sources: list[str]
    figures: dict[str, KindFigures]  # by kind: steady, burst, pause
    raw: RawLogCheck
    rss_start_mib: float
    rss_end_mib: float

    @property
    def not_accepted(self) -> int:
        """Webhooks whose final answer, after any retries, was not a 202."""
        return sum(f.requested - f.accepted for f in self.figures.values())

    def lines(self) -> list[str]:
        c = self.config
        out = [
            f"profile: warm-up {c.warmup_s:.0f} s, steady {c.steady_s:.0f} s at {c.rate:.0f}/s, "
            f"{c.bursts} bursts of {c.burst_s:.0f} s at {c.burst_factor:g}x "
            f"({c.rate * c.burst_factor:.0f}/s) each followed by {c.pause_s:.0f} s at "
            f"{c.rate:.0f}/s",
            f"sources ({len(self.sources)}): {', '.join(self.sources)}",
        ]
        for f in self.figures.values():
            out.append(
                f"{f.kind:>6}: {f.requested} webhooks, {f.accepted} accepted "
                f"({f.achieved_rate:,.0f}/s), {f.retries} retried after a 503; "
                f"time to 202 p50 {f.p50_ms:.1f} ms, p99 {f.p99_ms:.1f} ms, "
                f"p99.9 {f.p999_ms:.1f} ms, max {f.max_ms:.1f} ms; "
                f"load's own send lag p99 {f.send_lag_p99_ms:.1f} ms; "
                f"answers {dict(sorted(f.statuses.items()))}, errors {f.errors or 0}; "
                f"gateway RSS max {f.rss_max_mib:.0f} MiB; CPU per request "
                + ", ".join(f"{name} {us:.0f} µs" for name, us in f.cpu_us_per_request.items())
            )
            if f.window_p99_ms:
                out.append(
                    f"{f.kind:>6}: p99 by {WINDOW_S:.0f} s window (by due time), ms: "
                    + " ".join(f"{ms:.0f}" for ms in f.window_p99_ms)
                )
        out.append(
            f"gateway RSS: {self.rss_start_mib:.0f} MiB ready, {self.rss_end_mib:.0f} MiB at the end"
        )
        r = self.raw
        out.append(
            f"raw log: {r.accepted} accepted, {r.found} found, lost {r.lost}, "
            f"duplicates {r.duplicates} ({r.records_read} records read)"
        )
        return out


def run_profile(broker_env: dict[str, str], config: ProfileConfig, work_dir: Path) -> ProfileReport:
    """Start a gateway on the broker of ``broker_env``, run the profile, check the raw log;
    the gateway is stopped whatever happens."""
    settings = _settings(broker_env)
    sources = load_sources()
    routes = gateway_routes(settings.model_copy(update={"sources": sources}))
    factory = WebhookFactory(routes, LOAD_SECRET)
    # every body encoded before the gateway starts (about 55 µs each, 1.5 million for 10
    # minutes at 2,500/s): during the run the load's CPU goes to signing and sending only
    factory.prepare(0, sum(int(phase.rate * phase.seconds) for phase in config.phases()))
    # millions of prepared (route, body) tuples: out of the collector's sight, or its full
    # collections stop the load for hundreds of milliseconds, counted against the gateway
    gc.freeze()
    start = raw_log_ends(settings)
    gateways = [
        GatewayProcess(
            broker_env,
            _folder(work_dir / f"gateway-{n}"),
            sources=sources,
            gateway_max_in_flight=str(config.max_in_flight),
            log_format="json",
        )
        for n in range(config.gateways)
    ]
    try:
        pids = [gateway.start().pid for gateway in gateways]
        sampler = RssSampler(pids)
        rss_start = sampler.sample()
        sampler.start()
        cpu = CpuMeter(
            {"load": [os.getpid()], "gateway": pids, "broker": [local_kafka.status(settings).pid]}
        )

        def enter(phase: Phase) -> None:
            sampler.phase = phase.kind
            cpu.enter(phase.kind)

        try:  # uvloop: the load's own CPU is taken from what it measures
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                results = runner.run(
                    run_phases(
                        [gateway.url for gateway in gateways],
                        config.phases(),
                        factory.make,
                        connections=config.connections,
                        on_phase=enter,
                    )
                )
        finally:
            sampler.stop()
            cpu.enter("end")
        rss_end = sampler.sample()
        for gateway in gateways:
            if gateway.process is not None and gateway.process.poll() is not None:
                raise RuntimeError(f"a gateway died: {gateway.log_text[-2000:]}")
    finally:
        for gateway in gateways:
            gateway.stop()
    accepted = [envelope for r in results for envelope in r.accepted]
    raw = check_raw_log(settings, start, accepted)
    figures = {
        kind: _figures(kind, [r for r in results if r.phase.kind == kind], sampler, cpu)
        for kind in ("steady", "burst", "pause")
        if any(r.phase.kind == kind for r in results)
    }
    return ProfileReport(
        config=config,
        sources=[r.source for r in routes],
        figures=figures,
        raw=raw,
        rss_start_mib=rss_start,
        rss_end_mib=rss_end,
    )


@dataclass
class CpuMeter:
    """CPU seconds each process (by name) used while each phase kind ran: ``enter`` is
    called as a phase starts; what was used since the previous call goes to that one's kind.
    Answers that arrive after their phase ended count for the next one."""

    pids: dict[str, list[int | None]]
    used: dict[str, dict[str, float]] = field(default_factory=dict)  # kind -> name -> s
    _kind: str = ""
    _last: dict[str, float] = field(default_factory=dict)

    def enter(self, kind: str) -> None:
        now = {
            name: sum(cpu_seconds(pid) for pid in pids if pid) for name, pids in self.pids.items()
        }
        if self._kind:
            totals = self.used.setdefault(self._kind, {})
            for name, seconds in now.items():
                totals[name] = totals.get(name, 0.0) + seconds - self._last[name]
        self._kind, self._last = kind, now


def _figures(
    kind: str, results: list[PhaseResult], sampler: RssSampler, cpu: CpuMeter
) -> KindFigures:
    ms = [x * 1000 for r in results for x in r.latencies_s]
    lag = [x * 1000 for r in results for x in r.send_lag_s]
    statuses: dict[int, int] = {}
    errors: dict[str, int] = {}
    for r in results:
        for status, count in r.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
        for error, count in r.errors.items():
            errors[error] = errors.get(error, 0) + count
    wall = sum(r.wall_s for r in results)
    accepted = sum(len(r.accepted) for r in results)
    return KindFigures(
        kind=kind,
        requested=sum(r.started for r in results),
        accepted=accepted,
        achieved_rate=accepted / wall if wall else 0.0,
        retries=sum(r.retries for r in results),
        p50_ms=percentile(ms, 0.50),
        p99_ms=percentile(ms, 0.99),
        p999_ms=percentile(ms, 0.999),
        max_ms=max(ms) if ms else float("nan"),
        send_lag_p99_ms=percentile(lag, 0.99),
        statuses=statuses,
        errors=errors,
        rss_max_mib=sampler.max_during(kind),
        cpu_us_per_request={
            name: seconds / started * 1e6
            for name, seconds in cpu.used.get(kind, {}).items()
            if (started := sum(r.started for r in results))
        },
        window_p99_ms=[p for r in results for p in window_p99_ms(r)],
    )


def window_p99_ms(result: PhaseResult, window_s: float = WINDOW_S) -> list[float]:
    """The p99 time to 202 of the webhooks due in each ``window_s`` of the phase, in ms: a
    stall shows as one window's spike, a gateway short of CPU as every window high."""
    windows: dict[int, list[float]] = {}
    for due, latency in zip(result.due_at_s, result.latencies_s, strict=True):
        windows.setdefault(int(due // window_s), []).append(latency * 1000)
    return [percentile(windows[n], 0.99) for n in sorted(windows)]


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _settings(env: dict[str, str]) -> Settings:
    fields = {k.removeprefix("TRACKHUB_").lower(): v for k, v in env.items()}
    return Settings(**fields)
