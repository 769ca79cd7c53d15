"""The load's webhooks, taken from the code rather than written out by hand.

Routes come from the gateway's own route table (``create_gateway_app``'s router, the
``webhook`` route, filled in for each configured source); the sources and their formats
from ``connectors.registry``; the bodies from the simulator's wire encoders
(``hub.simulate.wire``) over seeded journeys; the signatures from
``hub.simulate.signing``, each source's real scheme, signed at send time (Standard
Webhooks timestamps must be within five minutes of the gateway's clock).

Every body is unique, so every delivery is new to the gateway and must be written once
(a 200 "duplicate" would mean the load repeated itself, and is counted): the n-th
webhook's event is moved n minutes back (further if that body was made already), since
not every format carries a message id (17TRACK and Cargo-IMP FSU have none), and the
encoders that have one get a fresh ``reference``. Estimates are left out of the pool (their issue time would need moving
too).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from connectors.gateway import SOURCES, WEBHOOK_ROUTE, create_gateway_app
from connectors.registry import connector_names
from hub.settings import Settings, SourceConfig
from hub.simulate.journeys import SimConfig, generate
from hub.simulate.signing import signed_headers
from hub.simulate.wire import WireEvent, encoder

LOAD_SECRET = "whsec_" + base64.b64encode(b"trackhub-load-profile-secret-32b").decode()


def load_sources() -> dict[str, SourceConfig]:
    """One source per format of the registry, ``load-<format>``, each with a secret."""
    return {
        f"load-{name}": SourceConfig(format=name, secrets=[LOAD_SECRET])
        for name in connector_names()
    }


@dataclass(frozen=True, slots=True)
class Route:
    """Where one source's webhooks go and how they are made."""

    source: str
    format: str
    path: str  # from the gateway's route table
    content_type: str
    events: tuple[WireEvent, ...]  # what this format can carry, cycled


@dataclass(frozen=True, slots=True)
class Webhook:
    path: str
    body: bytes
    headers: dict[str, str]
    source: str


def gateway_routes(settings: Settings, seed: int = 11, shipments: int = 40) -> list[Route]:
    """A route per configured source with a secret, and the seeded events its format can say.

    The gateway app is built only to read its router and sources (its Kafka producer is
    made on first write, so nothing connects).
    """
    app = create_gateway_app(settings)
    journeys = generate(SimConfig(seed=seed, shipments=shipments), end=datetime.now(UTC))
    pool = [event for journey in journeys for event in journey.events]
    routes = []
    for name, source in sorted(app[SOURCES].items()):
        if not source.secrets:
            continue
        module = encoder(source.connector.name)
        events = tuple(
            e
            for e in pool
            if not e.estimated and e.milestone in module.SUPPORTED and _encodes(module, e)
        )
        if not events:
            raise ValueError(f"no simulated event can be said in {source.connector.name}")
        path = str(app.router[WEBHOOK_ROUTE].url_for(source=name))
        routes.append(Route(name, source.connector.name, path, module.CONTENT_TYPE, events))
    return routes


def _encodes(module: object, event: WireEvent) -> bool:
    try:
        module.encode([event], reference="probe")  # type: ignore[attr-defined]
    except ValueError:
        return False
    return True


class WebhookFactory:
    """Round-robin over the routes; the n-th webhook is unique to this run (``run_id``)."""

    def __init__(self, routes: list[Route], secret: str, run_id: str | None = None) -> None:
        self._routes = routes
        self._secret = secret
        self._run = run_id or uuid.uuid4().hex[:12]
        self._cursors = {r.source: itertools.cycle(r.events) for r in routes}
        self._ready: dict[int, tuple[Route, bytes]] = {}
        self._made: set[bytes] = set()  # digests of the bodies made: each must be new

    def body(self, n: int, route: Route | None = None) -> tuple[Route, bytes]:
        """The n-th webhook's route (round-robin unless given) and body (the costly part:
        encoding), never a body this factory made before."""
        route = route or self._routes[n % len(self._routes)]
        event = next(self._cursors[route.source])
        module = encoder(route.format)
        shift = n
        while True:  # two events of a shipment can be k minutes apart: move on past them
            moved = replace(event, occurred_at=event.occurred_at - timedelta(minutes=shift))
            body = module.encode([moved], reference=f"load-{self._run}-{n}")
            digest = hashlib.blake2b(body, digest_size=16).digest()
            if digest not in self._made:
                self._made.add(digest)
                return route, body
            shift += 7

    def prepare(self, first: int, count: int) -> None:
        """Encode webhooks ``first`` .. ``first + count - 1`` now, so that a burst costs
        the load only its signing and sending."""
        for n in range(first, first + count):
            self._ready[n] = self.body(n)

    def make(self, n: int, route: Route | None = None) -> Webhook:
        """The n-th webhook (to ``route``, else round-robin), signed now."""
        route, body = self._ready.pop(n, None) or self.body(n, route)
        headers = signed_headers(
            route.format,
            self._secret,
            body,
            message_id=f"msg_load-{self._run}-{n}",
            at=datetime.now(UTC),
        )
        headers["Content-Type"] = route.content_type
        return Webhook(route.path, body, headers, route.source)
