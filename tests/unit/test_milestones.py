from __future__ import annotations

from schemas import Milestone, MilestoneGroup, group_of
from schemas.milestones import EXCEPTION_MILESTONES, TERMINAL_MILESTONES, milestones_in
from schemas.shipments import DEFAULT_CLOSES_ON, DEFAULT_OPENS_ON, Leg


def test_every_milestone_has_a_group_and_every_group_has_milestones() -> None:
    for milestone in Milestone:
        assert isinstance(group_of(milestone), MilestoneGroup)
    for group in MilestoneGroup:
        assert milestones_in(group), group


def test_every_leg_is_a_group_and_its_default_milestones_belong_to_it() -> None:
    for leg in Leg:
        group = MilestoneGroup(leg.value)
        for milestone in (*DEFAULT_OPENS_ON[leg], *DEFAULT_CLOSES_ON[leg]):
            assert group_of(milestone) is group, (leg, milestone)


def test_delivered_is_terminal_and_not_an_exception() -> None:
    assert Milestone.DELIVERED in TERMINAL_MILESTONES
    assert Milestone.DELIVERED not in EXCEPTION_MILESTONES
    assert Milestone.IMPORT_CUSTOMS_HELD in EXCEPTION_MILESTONES
