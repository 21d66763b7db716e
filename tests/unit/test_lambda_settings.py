"""Function settings the local Lambda API checks before moto stores them."""

from __future__ import annotations

import pytest

from localaws.errors import ServiceError
from localaws.lambda_api import _check_function_settings


@pytest.mark.parametrize("architectures", [["x86_64"], ["arm64"], None])
def test_either_architecture_is_accepted(architectures):
    # given
    body = {"FunctionName": "f", "Architectures": architectures}
    # when / then: no error
    _check_function_settings(body)


@pytest.mark.parametrize(
    ("architectures", "constraint"),
    [(["sparc"], "Member must satisfy constraint: [Member must satisfy enum value set: "
                 "[x86_64, arm64]]"),
     (["x86_64", "arm64"], "Member must have length less than or equal to 1"),
     ([], "Member must have length greater than or equal to 1")],
    ids=["unknown", "two", "none"],
)
def test_a_bad_architecture_list_is_a_validation_error(architectures, constraint):
    # given
    body = {"FunctionName": "f", "Architectures": architectures}
    # when
    with pytest.raises(ServiceError) as err:
        _check_function_settings(body)
    # then
    assert err.value.code == "ValidationException"
    assert err.value.message.endswith(constraint)
