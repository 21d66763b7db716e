"""Each item of a DynamoDB transaction names exactly one action (before moto sees it)."""

from __future__ import annotations

import json

import pytest

from localaws.errors import ServiceError
from localaws.rules import check_rules
from tests.unit.wsgi import call, signed


def _transaction(operation: str, items: list[dict]) -> tuple:
    params = {"TransactItems": items}
    request = call(headers=signed("dynamodb", **{
        "X-Amz-Target": f"DynamoDB_20120810.{operation}",
        "Content-Type": "application/x-amz-json-1.0"}), body=json.dumps(params).encode())
    return request, params


@pytest.mark.parametrize(("operation", "item", "names"), [
    ("TransactWriteItems", {"Put": {}, "Delete": {}}, "Check, Put, Update or Delete"),
    ("TransactWriteItems", {}, "Check, Put, Update or Delete"),
    ("TransactGetItems", {}, "Get"),
])
def test_a_transaction_item_with_no_action_or_two_is_refused_in_awss_words(
        operation, item, names):
    # given
    request, params = _transaction(operation, [item])
    # when
    with pytest.raises(ServiceError) as err:
        check_rules(request, params)
    # then
    assert err.value.code == "ValidationException"
    assert err.value.message == f"TransactItems can only contain one of {names}"


def test_a_transaction_item_with_one_action_passes():
    # given
    request, params = _transaction("TransactWriteItems", [{"ConditionCheck": {}}, {"Put": {}}])
    # then
    assert check_rules(request, params) is None
