"""SizeBytes of stream records: DynamoDB's sizes of number attributes."""

from __future__ import annotations

import pytest

from localaws.streams.records import attribute_size


@pytest.mark.parametrize(("number", "size"), [
    ("42", 2), ("101", 3), ("0", 2), ("-7", 2), ("100", 2), ("0.005", 2), ("1.50", 2),
    ("12345.6789", 6), ("1E+5", 2), ("-0.000120", 2),
    ("1" * 38, 20),             # 38 significant digits, DynamoDB's precision
    ("9" * 20 + "." + "1" * 18, 20),
])
def test_a_number_costs_one_byte_per_two_significant_digits_plus_one(number, size):
    # given / when / then
    assert attribute_size({"N": number}) == size
