"""Lambda's account settings and the unreserved-concurrency minimum, as AWS answers them."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.functional.support import deploy, make_role

pytestmark = pytest.mark.functional

NOOP = {"app.py": "def handler(event, context):\n    return None\n"}


def test_account_settings_count_functions_and_reserved_concurrency(backend, unique):
    # given a function with 25 reserved
    lam = backend.client("lambda")
    before = lam.get_account_settings()
    role = make_role(backend, f"acct-{unique}")
    deploy(backend, f"acct-{unique}", NOOP, role=role)
    lam.put_function_concurrency(FunctionName=f"acct-{unique}", ReservedConcurrentExecutions=25)
    # when the account settings are read
    after = lam.get_account_settings()
    # then the limit is the account's, and the unreserved part lost the reservation
    assert after["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert (before["AccountLimit"]["UnreservedConcurrentExecutions"]
            - after["AccountLimit"]["UnreservedConcurrentExecutions"]) == 25
    assert after["AccountUsage"]["FunctionCount"] == before["AccountUsage"]["FunctionCount"] + 1
    assert after["AccountUsage"]["TotalCodeSize"] > before["AccountUsage"]["TotalCodeSize"]


def test_a_reservation_that_leaves_less_than_100_unreserved_is_refused(backend, unique):
    # given a function
    lam = backend.client("lambda")
    role = make_role(backend, f"acct-{unique}")
    deploy(backend, f"acct-{unique}", NOOP, role=role)
    unreserved = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    # when it asks for all but 99 of the unreserved concurrency
    with pytest.raises(ClientError) as caught:
        lam.put_function_concurrency(FunctionName=f"acct-{unique}",
                                     ReservedConcurrentExecutions=unreserved - 99)
    # then AWS's refusal
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "below its minimum value of [100]" in caught.value.response["Error"]["Message"]
