"""Filter patterns on DynamoDB stream records, as Lambda applies FilterCriteria.

The ``aws_*`` cases are the ones recorded against AWS (LocalStack's AWS-validated
``test_dynamodb_event_filter`` scenarios; see esm-semantics §1.6).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from localaws.esm.filters import (
    MAX_PATTERN_LENGTH,
    FilterPatternError,
    UnsupportedFilterError,
    compile_pattern,
    compile_patterns,
    matches,
)

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000"
# Recorded against AWS: "42" matches (through anything-but), "101" does not.
AWS_NUMERIC_FILTER = {
    "dynamodb": {"NewImage": {"n": {"N": [{"numeric": [">", 100]}, {"anything-but": "101"}]}}}
}


def record(
    new_image: dict[str, Any] | None = None,
    *,
    event_name: str = "INSERT",
    created: float = 1700000000.0,
    user_identity: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A stream record as Lambda delivers it."""
    image = {"id": {"S": "id_value_1"}, **(new_image or {})}
    rec: dict[str, Any] = {
        "eventID": "c4ca4238a0b923820dcc509a6f75849b",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": created,
            "Keys": {"id": image["id"]},
            "NewImage": image,
            "SequenceNumber": "4421584500000000017450439091",
            "SizeBytes": 26,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": STREAM_ARN,
    }
    if user_identity is not None:
        rec["userIdentity"] = user_identity
    return rec


def passes(pattern: dict[str, Any] | str, rec: dict[str, Any]) -> bool:
    text = pattern if isinstance(pattern, str) else json.dumps(pattern)
    return matches([compile_pattern(text)], rec)


@pytest.mark.parametrize(
    ("pattern", "rec", "expected"),
    [
        pytest.param(
            {"dynamodb": {"NewImage": {"presentKey": {"S": ["presentValue"]}}}},
            record({"presentKey": {"S": "presentValue"}}),
            True,
            id="aws_content_filter_type_with_descriptor_matches",
        ),
        pytest.param(
            {"dynamodb": {"NewImage": {"presentKey": ["presentValue"]}}},
            record({"presentKey": {"S": "presentValue"}}),
            False,
            id="aws_content_filter_without_descriptor_does_not_match",
        ),
        pytest.param(
            {"dynamodb": {"NewImage": {"presentKey": {"S": [{"exists": True}]}}}},
            record({"presentKey": {"S": "presentValue"}}),
            True,
            id="aws_exists_true_on_leaf_matches_present_key",
        ),
        pytest.param(
            {"dynamodb": {"NewImage": {"presentKey": {"S": [{"exists": True}]}}}},
            record(),
            False,
            id="exists_true_does_not_match_missing_key",
        ),
        pytest.param(
            {"dynamodb": {"NewImage": {"presentKey": [{"exists": True}]}}},
            record({"presentKey": {"S": "presentValue"}}),
            False,
            id="exists_true_on_object_does_not_match",
        ),
        pytest.param(
            {"dynamodb": {"NewImage": {"presentKey": [{"exists": False}]}}},
            record(),
            True,
            id="aws_exists_false_matches_item_without_key",
        ),
        pytest.param(
            {"dynamodb": {"NewImage": {"presentKey": [{"exists": False}]}}},
            record({"presentKey": {"S": "presentValue"}}),
            True,
            id="aws_exists_false_on_object_matches_item_with_key",
        ),
        pytest.param(
            {"dynamodb": {"NewImage": {"presentKey": {"S": [{"exists": False}]}}}},
            record({"presentKey": {"S": "presentValue"}}),
            False,
            id="exists_false_on_leaf_does_not_match_present_key",
        ),
        pytest.param(
            {"dynamodb": {"NewImage": {"numericFilter": {"N": [{"numeric": [">", 100]}]}}}},
            record({"numericFilter": {"N": "101"}}),
            False,
            id="aws_numeric_never_matches_n_string",
        ),
        pytest.param(
            AWS_NUMERIC_FILTER,
            record({"n": {"N": "42"}}),
            True,
            id="aws_numeric_filter_42_matches_through_anything_but",
        ),
        pytest.param(
            AWS_NUMERIC_FILTER,
            record({"n": {"N": "101"}}),
            False,
            id="aws_numeric_filter_101_does_not_match",
        ),
        pytest.param(
            {"dynamodb": {"NewImage": {"prefix": {"S": [{"prefix": "us-1"}]}}}},
            record({"prefix": {"S": "us-1-other-suffix"}}),
            True,
            id="aws_prefix_matches",
        ),
        pytest.param(
            {"dynamodb": {"NewImage": {"prefix": {"S": [{"prefix": "us-1"}]}}}},
            record({"prefix": {"S": "other-suffix"}}),
            False,
            id="aws_prefix_does_not_match_other_start",
        ),
        pytest.param(
            {"dynamodb": {"ApproximateCreationDateTime": [{"numeric": [">", 0]}]}},
            record(),
            True,
            id="aws_date_time_conversion_numeric_on_creation_time",
        ),
        pytest.param(
            {"eventName": ["INSERT", "MODIFY"]},
            record(event_name="MODIFY"),
            True,
            id="aws_content_or_filter_matches_modify",
        ),
        pytest.param(
            {"eventName": ["INSERT", "MODIFY"]},
            record(event_name="REMOVE"),
            False,
            id="content_or_filter_does_not_match_remove",
        ),
        pytest.param(
            {"eventName": ["INSERT"], "eventSource": ["aws:dynamodb"]},
            record(),
            True,
            id="aws_content_multiple_filters_and_matches_insert",
        ),
        pytest.param(
            {"eventName": ["INSERT"], "eventSource": ["aws:dynamodb"]},
            record(event_name="MODIFY"),
            False,
            id="content_multiple_filters_and_rejects_modify",
        ),
        pytest.param(
            {"userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]}},
            record(event_name="REMOVE", user_identity={
                "type": "Service", "principalId": "dynamodb.amazonaws.com"}),
            True,
            id="ttl_delete_user_identity_matches",
        ),
        pytest.param(
            {"userIdentity": {"type": ["Service"]}},
            record(event_name="REMOVE"),
            False,
            id="user_identity_filter_does_not_match_user_delete",
        ),
        pytest.param(
            {"eventSourceARN": [STREAM_ARN], "awsRegion": ["us-east-1"], "eventVersion": ["1.1"]},
            record(),
            True,
            id="delivery_metadata_is_filterable",
        ),
    ],
)
def test_dynamodb_record_filtering(pattern: dict[str, Any], rec: dict[str, Any], expected: bool):
    # given a pattern and a record as Lambda delivers it
    # when / then
    assert passes(pattern, rec) is expected


@pytest.mark.parametrize(
    ("leaf", "value", "expected"),
    [
        pytest.param(["abc"], "abc", True, id="string_equal"),
        pytest.param(["abc"], "ABC", False, id="string_is_case_sensitive"),
        pytest.param([""], "", True, id="empty_string_matches_empty"),
        pytest.param([""], "x", False, id="empty_string_rejects_text"),
        pytest.param([None], None, True, id="null_matches_null"),
        pytest.param([None], "null", False, id="null_rejects_string"),
        pytest.param([300], 300.0, True, id="numbers_compare_numerically"),
        pytest.param([300], "300", False, id="number_rejects_string"),
        pytest.param(["300"], 300, False, id="string_rejects_number"),
        pytest.param([True], True, True, id="true_matches_true"),
        pytest.param([True], 1, False, id="true_rejects_one"),
        pytest.param([1], True, False, id="one_rejects_true"),
        pytest.param([{"suffix": ".png"}], "cat.png", True, id="suffix_matches"),
        pytest.param([{"suffix": ".png"}], "cat.jpg", False, id="suffix_rejects"),
        pytest.param([{"prefix": {"equals-ignore-case": "US-"}}], "us-1", True,
                     id="prefix_ignore_case_matches"),
        pytest.param([{"suffix": {"equals-ignore-case": ".PNG"}}], "a.png", True,
                     id="suffix_ignore_case_matches"),
        pytest.param([{"prefix": "1"}], 10, False, id="prefix_rejects_number"),
        pytest.param([{"equals-ignore-case": "Alice"}], "aLiCe", True,
                     id="equals_ignore_case_matches"),
        pytest.param([{"equals-ignore-case": "Alice"}], "Bob", False,
                     id="equals_ignore_case_rejects"),
        pytest.param([{"anything-but": "a"}], "b", True, id="anything_but_value_matches_other"),
        pytest.param([{"anything-but": "a"}], "a", False, id="anything_but_value_rejects_value"),
        pytest.param([{"anything-but": ["a", "b"]}], "b", False, id="anything_but_list_rejects"),
        pytest.param([{"anything-but": ["a", "b"]}], "c", True, id="anything_but_list_matches"),
        pytest.param([{"anything-but": [1, 2]}], 2.0, False, id="anything_but_number_rejects"),
        pytest.param([{"anything-but": 101}], "101", True,
                     id="anything_but_number_matches_n_string"),
        pytest.param([{"anything-but": {"prefix": "tmp-"}}], "tmp-1", False,
                     id="anything_but_prefix_rejects"),
        pytest.param([{"anything-but": {"prefix": "tmp-"}}], "data-1", True,
                     id="anything_but_prefix_matches"),
        pytest.param([{"anything-but": {"suffix": ".tmp"}}], "a.tmp", False,
                     id="anything_but_suffix_rejects"),
        pytest.param([{"anything-but": {"equals-ignore-case": ["X", "Y"]}}], "y", False,
                     id="anything_but_ignore_case_rejects"),
        pytest.param([{"numeric": ["=", 5]}], 5, True, id="numeric_equal"),
        pytest.param([{"numeric": ["=", 5]}], 5.5, False, id="numeric_not_equal"),
        pytest.param([{"numeric": ["<", 5]}], 4.9, True, id="numeric_less"),
        pytest.param([{"numeric": ["<", 5]}], 5, False, id="numeric_less_is_strict"),
        pytest.param([{"numeric": ["<=", 5]}], 5, True, id="numeric_less_or_equal"),
        pytest.param([{"numeric": [">", 5]}], 5, False, id="numeric_greater_is_strict"),
        pytest.param([{"numeric": [">=", 5]}], 5, True, id="numeric_greater_or_equal"),
        pytest.param([{"numeric": [">", 0, "<=", 5]}], 5, True, id="numeric_range_inside"),
        pytest.param([{"numeric": [">", 0, "<=", 5]}], 0, False, id="numeric_range_outside"),
        pytest.param([{"numeric": [">", 0]}], True, False, id="numeric_rejects_boolean"),
        pytest.param(["b"], ["a", "b"], True, id="event_array_matches_any_element"),
        pytest.param(["c"], ["a", "b"], False, id="event_array_without_match"),
        pytest.param([{"exists": False}], [], True, id="empty_event_array_has_no_leaf"),
    ],
)
def test_leaf_operator(leaf: list[Any], value: Any, expected: bool):
    # given a one-key pattern and an event holding that key
    pattern = {"k": leaf}
    # when / then
    assert passes(pattern, {"k": value}) is expected


def test_null_does_not_match_missing_key():
    # given
    pattern = {"k": [None]}
    # when / then
    assert passes(pattern, {"other": 1}) is False


def test_anything_but_needs_the_key():
    # given
    pattern = {"k": [{"anything-but": "a"}]}
    # when / then
    assert passes(pattern, {"other": "b"}) is False


def test_nested_pattern_matches_one_element_of_a_dynamodb_list():
    # given an L attribute holding several typed values
    pattern = {"dynamodb": {"NewImage": {"tags": {"L": {"S": ["red"]}}}}}
    rec = record({"tags": {"L": [{"S": "blue"}, {"S": "red"}]}})
    # when / then
    assert passes(pattern, rec) is True


def test_pattern_on_leaf_with_nested_object_does_not_match():
    # given a pattern that expects an object where the event has a string
    pattern = {"eventName": {"S": ["INSERT"]}}
    # when / then
    assert passes(pattern, record()) is False


def test_duplicate_keys_keep_the_last_value():
    # given a pattern written with the same key twice
    pattern = '{"eventName": ["REMOVE"], "eventName": ["INSERT"]}'
    # when / then
    assert passes(pattern, record()) is True


def test_no_filters_pass_every_record():
    # given no filters
    # when / then
    assert matches([], record()) is True


def test_filters_are_ored():
    # given two filters, only the second one matching
    patterns = compile_patterns(['{"eventName": ["REMOVE"]}', '{"eventName": ["INSERT"]}'])
    # when / then
    assert matches(patterns, record()) is True
    assert matches(patterns, record(event_name="MODIFY")) is False


def test_pattern_keeps_its_source():
    # given
    text = '{"eventName": ["INSERT"]}'
    # when
    pattern = compile_pattern(text)
    # then
    assert pattern.source == text


def test_pattern_of_maximum_length_is_accepted():
    # given a pattern padded with spaces to exactly 4096 characters
    body = '{"eventName": ["INSERT"]}'
    text = body + " " * (MAX_PATTERN_LENGTH - len(body))
    # when
    pattern = compile_pattern(text)
    # then
    assert pattern.matches(record())


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("single-string", id="aws_single_string_not_json"),
        pytest.param('[{"eventName": ["INSERT"=123}]', id="aws_broken_json"),
        pytest.param('["INSERT"]', id="array_not_object"),
        pytest.param('"INSERT"', id="string_not_object"),
        pytest.param("{}", id="empty_object"),
        pytest.param('{"dynamodb": {}}', id="nested_empty_object"),
        pytest.param('{"eventName": "INSERT"}', id="leaf_string_not_array"),
        pytest.param('{"eventName": 1}', id="leaf_number_not_array"),
        pytest.param('{"eventName": null}', id="leaf_null_not_array"),
        pytest.param('{"eventName": []}', id="empty_array"),
        pytest.param('{"eventName": [["INSERT"]]}', id="nested_array"),
        pytest.param('{"eventName": [{"contains": "INS"}]}', id="unknown_operator"),
        pytest.param('{"eventName": [{"prefix": "I", "suffix": "T"}]}', id="two_operators_in_one"),
        pytest.param('{"eventName": [{}]}', id="empty_operator"),
        pytest.param('{"k": [{"exists": "yes"}]}', id="exists_not_boolean"),
        pytest.param('{"k": [{"prefix": 1}]}', id="prefix_not_string"),
        pytest.param('{"k": [{"suffix": null}]}', id="suffix_not_string"),
        pytest.param('{"k": [{"equals-ignore-case": ["a"]}]}', id="equals_ignore_case_list"),
        pytest.param('{"k": [{"anything-but": true}]}', id="anything_but_boolean"),
        pytest.param('{"k": [{"anything-but": null}]}', id="anything_but_null"),
        pytest.param('{"k": [{"anything-but": []}]}', id="anything_but_empty_list"),
        pytest.param('{"k": [{"anything-but": {"numeric": [">", 1]}}]}',
                     id="anything_but_numeric_object"),
        pytest.param('{"k": [{"numeric": 5}]}', id="numeric_not_list"),
        pytest.param('{"k": [{"numeric": [">"]}]}', id="numeric_missing_bound"),
        pytest.param('{"k": [{"numeric": ["!=", 5]}]}', id="numeric_unknown_operator"),
        pytest.param('{"k": [{"numeric": [">", "5"]}]}', id="numeric_string_bound"),
        pytest.param('{"k": [{"numeric": [">", true]}]}', id="numeric_boolean_bound"),
        pytest.param('{"k": [{"numeric": ["=", 5, "<", 9]}]}', id="numeric_equal_in_range"),
        pytest.param('{"k": [{"numeric": [">", 1, ">", 2]}]}', id="numeric_two_lower_bounds"),
        pytest.param('{"k": [{"numeric": [">", 9, "<", 1]}]}', id="numeric_empty_range"),
        pytest.param('{"k": [{"numeric": [">", 1, "<", 9, "=", 3]}]}', id="numeric_too_long"),
        pytest.param('{"k": [NaN]}', id="not_a_number_constant"),
        pytest.param('{"eventName": ["INSERT"]}' + " " * MAX_PATTERN_LENGTH, id="too_long"),
    ],
)
def test_invalid_pattern_is_refused(text: str):
    # given an invalid pattern
    # when / then
    with pytest.raises(FilterPatternError) as err:
        compile_pattern(text)
    assert not isinstance(err.value, UnsupportedFilterError)


def test_non_string_pattern_is_refused():
    # given a pattern that is already an object
    # when / then
    with pytest.raises(FilterPatternError, match="must be a string"):
        compile_pattern({"eventName": ["INSERT"]})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "operator"),
    [
        pytest.param('{"sourceIp": [{"cidr": "10.0.0.0/24"}]}', "cidr", id="cidr"),
        pytest.param('{"k": [{"wildcard": "a*b"}]}', "wildcard", id="wildcard"),
        pytest.param('{"k": [{"anything-but": {"wildcard": "a*"}}]}', "wildcard",
                     id="anything_but_wildcard"),
        pytest.param('{"$or": [{"a": [1]}, {"b": [2]}]}', "$or", id="or_operator"),
    ],
)
def test_unsupported_operator_is_refused_clearly(text: str, operator: str):
    # given a pattern AWS may accept but the local endpoint does not emulate
    # when / then
    with pytest.raises(UnsupportedFilterError, match="local endpoint does not support") as err:
        compile_pattern(text)
    assert operator in str(err.value)
    assert isinstance(err.value, FilterPatternError)
