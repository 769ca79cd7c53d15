"""Which connectors exist: format name -> module. The one list to extend for a new format.

Modules are imported on first use, so a process that needs one format does not pay for
the others, and ``all_connectors`` still gives every one (the gateway, the CLI, tests).
"""

from __future__ import annotations

import importlib

from connectors.base import Connector, UnknownSourceError

CONNECTOR_MODULES: dict[str, str] = {
    "easypost": "connectors.easypost",
    "aftership": "connectors.aftership",
    "17track": "connectors.seventeen_track",
    "dcsa": "connectors.dcsa",
    "iata_fsu": "connectors.iata_fsu",
    "x12_214": "connectors.x12_214",
    "epcis": "connectors.epcis",
    "customs": "connectors.customs",
    "native": "connectors.native",
}


def connector_names() -> list[str]:
    return list(CONNECTOR_MODULES)


def get_connector(name: str) -> Connector:
    """The connector for a format name; ``UnknownSourceError`` for any other name."""
    module_name = CONNECTOR_MODULES.get(name)
    if module_name is None:
        raise UnknownSourceError(f"unknown format {name!r}; known: {', '.join(CONNECTOR_MODULES)}")
    connector: Connector = importlib.import_module(module_name).CONNECTOR
    if connector.name != name:
        raise RuntimeError(f"{module_name}.CONNECTOR is named {connector.name!r}, not {name!r}")
    return connector


def all_connectors() -> list[Connector]:
    return [get_connector(name) for name in CONNECTOR_MODULES]
