"""The cached fast paths of identifier and GLN parsing agree with the uncached ones."""

from __future__ import annotations

import pytest

from connectors.gs1 import GLN, gln_from_uri, gs1_check_digit
from schemas.common import IdentifierKind, normalize_identifier


def _weighted_check_digit(digits: str) -> str:
    """The GS1 definition, digit by digit: weights 3, 1, 3, ... from the right."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


@pytest.mark.parametrize("length", range(0, 18))
def test_check_digit_matches_the_weighted_definition(length: int) -> None:
    digits = "9876543210123456789"[:length]
    assert gs1_check_digit(digits) == _weighted_check_digit(digits)


def test_long_values_take_the_uncached_path_with_the_same_result() -> None:
    short = "order 42  a"
    long = "order 42  " + "a" * 300
    assert normalize_identifier(IdentifierKind.ORDER_ID, short) == "ORDER 42 A"
    assert normalize_identifier(IdentifierKind.ORDER_ID, long) == "ORDER 42 " + "A" * 300
    uri = "https://id.example.com/" + "x/" * 300 + "414/0614141000005"
    assert gln_from_uri(uri) == GLN("0614141000005")


def test_errors_are_raised_on_every_call_not_cached_away() -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match="MAWB"):
            normalize_identifier(IdentifierKind.MAWB, "12-345")
