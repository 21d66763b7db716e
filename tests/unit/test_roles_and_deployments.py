"""Roles, policies and deployments from the helpers (iam, functions), through botocore's Stubber."""

from __future__ import annotations

import json

import pytest
from botocore.stub import ANY

from helpers import functions, iam, packaging
from helpers.clients import Pacing
from tests.unit.stubs import StubBackend

ROLE_ARN = "arn:aws:iam::123456789012:role/processor-role"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:processor"


@pytest.fixture(autouse=True)
def fresh_accounts(monkeypatch):
    monkeypatch.setattr(iam, "_ACCOUNTS", {})


def identity(backend: StubBackend) -> None:
    backend.stub("sts").add_response("get_caller_identity", {
        "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/u", "UserId": "u"})


def test_removing_a_policy_the_role_lacks_says_so():
    # given
    backend = StubBackend("iam")
    backend.stub("iam").add_client_error("delete_role_policy", "NoSuchEntity", "none", 404)
    # when / then
    assert iam.remove_policy(backend, "processor-role", iam.POLICY_STREAM_READ) is False


def test_a_role_is_deleted_with_its_inline_and_attached_policies():
    # given
    backend = StubBackend("iam")
    stub = backend.stub("iam")
    stub.add_response("list_role_policies", {"PolicyNames": ["read-stream"]})
    stub.add_response("delete_role_policy", {}, {"RoleName": "r", "PolicyName": "read-stream"})
    stub.add_response("list_attached_role_policies", {"AttachedPolicies": [
        {"PolicyName": "m", "PolicyArn": iam.MANAGED_STREAM_POLICY_ARN}]})
    stub.add_response("detach_role_policy", {},
                      {"RoleName": "r", "PolicyArn": iam.MANAGED_STREAM_POLICY_ARN})
    stub.add_response("delete_role", {}, {"RoleName": "r"})
    # when
    deleted = iam.delete_role(backend, "r")
    # then
    assert deleted is True
    backend.assert_all_used()


def test_the_stream_read_policy_covers_every_stream_of_the_table_present_and_future():
    # given
    backend = StubBackend("sts")
    identity(backend)
    # when
    document = iam.stream_read_policy(backend, "orders")
    # then
    resources = [r for s in document["Statement"] for r in iam._as_list(s["Resource"])]
    assert "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/*" in resources


def test_missing_actions_are_those_no_statement_allows():
    # given: the role may only DescribeStream
    backend = StubBackend("iam")
    stub = backend.stub("iam")
    stub.add_response("list_role_policies", {"PolicyNames": ["read-stream"]})
    stub.add_response("get_role_policy", {
        "RoleName": "r", "PolicyName": "read-stream", "PolicyDocument": json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "dynamodb:DescribeStream", "Resource": "*"}]})})
    stub.add_response("list_attached_role_policies", {"AttachedPolicies": []})
    # when
    missing = iam.missing_actions(backend, "r", iam.STREAM_READ_ACTIONS, "arn:aws:dynamodb:x")
    # then
    assert "dynamodb:DescribeStream" not in missing
    assert "dynamodb:GetRecords" in missing


def test_a_new_function_is_created_once_its_role_can_be_assumed():
    # given: Lambda refuses the fresh role once (IAM propagating), then accepts it
    backend = StubBackend("lambda", pacing=Pacing(poll_s=0.0, propagation_s=60.0))
    stub = backend.stub("lambda")
    stub.add_client_error("get_function_configuration", "ResourceNotFoundException", "no", 404)
    stub.add_client_error("create_function", "InvalidParameterValueException",
                          "The role defined for the function cannot be assumed by Lambda.", 400)
    config = {"FunctionName": "processor", "FunctionArn": FUNCTION_ARN, "State": "Active",
              "LastUpdateStatus": "Successful", "CodeSha256": "abc"}
    stub.add_response("create_function", {**config, "State": "Pending"},
                      {"FunctionName": "processor", "Code": ANY, "Architectures": ["x86_64"],
                       "Tags": ANY, "Publish": False, "Runtime": "python3.12", "Handler": ANY,
                       "Role": ROLE_ARN, "MemorySize": 128, "Timeout": 30, "Description": "",
                       "Environment": {"Variables": {}}})
    stub.add_response("get_function_configuration", config)
    # when
    deployment = functions.deploy_function(backend, "processor", role_arn=ROLE_ARN,
                                           source="stream_processor")
    # then
    assert deployment.action == "created"
    backend.assert_all_used()


def test_a_deployed_function_with_the_same_code_and_settings_is_left_unchanged():
    # given
    backend = StubBackend("lambda")
    package = functions.package_function("stream_processor")
    handler = packaging.WORKSHOP_FUNCTIONS["stream_processor"][1]
    config = {"FunctionName": "processor", "FunctionArn": FUNCTION_ARN, "State": "Active",
              "LastUpdateStatus": "Successful", "CodeSha256": package.code_sha256,
              "Runtime": "python3.12", "Handler": handler, "Role": ROLE_ARN,
              "MemorySize": 128, "Timeout": 30}
    for _ in range(3):
        backend.stub("lambda").add_response("get_function_configuration", config)
    # when
    deployment = functions.deploy_function(backend, "processor", role_arn=ROLE_ARN,
                                           source="stream_processor")
    # then
    assert deployment.action == "unchanged"
    backend.assert_all_used()
