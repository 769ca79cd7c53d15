"""The EPCIS connector's code table: ``epcis_codes.json`` read into typed rows.

The table is data (bizStep -> milestone and role, with the *at a stocking site* and *after
a warehouse dispatch* variants; disposition overrides; which business transaction types
are identifiers); this module only gives it types and checks it. Every milestone, role and
identifier kind is converted to its enum when the module loads, so a typo in the JSON fails
the import instead of mis-mapping events. The rules the table encodes are described in
the ``connectors.epcis`` docstring.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.common import IdentifierKind, PartyRole
from schemas.milestones import Milestone

CODES_FILE = Path(__file__).with_name("epcis_codes.json")


@dataclass(frozen=True, slots=True)
class Outcome:
    milestone: Milestone
    role: PartyRole


@dataclass(frozen=True, slots=True)
class BizStepRule:
    plain: Outcome
    at_stocking_site: Outcome | None = None
    after_warehouse_dispatch: Outcome | None = None


@dataclass(frozen=True, slots=True)
class DispositionRule:
    milestone: Milestone
    by_bizstep: Mapping[str, Milestone]


@dataclass(frozen=True, slots=True)
class CodeTable:
    bizsteps: Mapping[str, BizStepRule]
    unlisted_bizstep: Outcome
    dispositions: Mapping[str, DispositionRule]
    stocking_site_bizsteps: frozenset[str]
    observed_by_destination: frozenset[str]
    biz_transaction_types: Mapping[str, IdentifierKind]


def load_code_table(path: Path = CODES_FILE) -> CodeTable:
    """The table, every milestone, role and identifier kind checked (a typo fails import)."""
    data = json.loads(path.read_text(encoding="utf-8"))

    def outcome(row: Mapping[str, Any]) -> Outcome:
        return Outcome(Milestone(row["milestone"]), PartyRole(row["role"]))

    def rule(row: Mapping[str, Any]) -> BizStepRule:
        variants = ("at_stocking_site", "after_warehouse_dispatch")
        unknown = set(row) - {"milestone", "role", *variants}
        if unknown:
            raise ValueError(f"{path.name}: unknown bizStep row keys {sorted(unknown)}")
        return BizStepRule(outcome(row), **{k: outcome(row[k]) for k in variants if k in row})

    return CodeTable(
        bizsteps={step: rule(row) for step, row in data["bizsteps"].items()},
        unlisted_bizstep=outcome(data["unlisted_bizstep"]),
        dispositions={
            disp: DispositionRule(
                Milestone(row["milestone"]),
                {step: Milestone(m) for step, m in row.get("by_bizstep", {}).items()},
            )
            for disp, row in data["dispositions"].items()
        },
        stocking_site_bizsteps=frozenset(data["stocking_site_bizsteps"]),
        observed_by_destination=frozenset(data["observed_by_destination"]),
        biz_transaction_types={
            btt: IdentifierKind(kind) for btt, kind in data["biz_transaction_types"].items()
        },
    )


CODES = load_code_table()
