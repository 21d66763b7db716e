"""Reading and changing a role's policies (helpers.iam) through botocore's Stubber, and what the
two-region exercise reads and draws (helpers.replication) from log events made here."""

from __future__ import annotations

import json
from urllib.parse import quote

import matplotlib
import pandas as pd
import pytest
from botocore.exceptions import ClientError

from helpers import iam, replication
from tests.unit.stubs import StubBackend

matplotlib.use("Agg")

A, B = "us-east-1", "eu-west-1"
MANAGED = iam.MANAGED_STREAM_POLICY_ARN
READ_ALL = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "dynamodb:*",
                                                   "Resource": "*"}}


@pytest.fixture(autouse=True)
def fresh_accounts(monkeypatch):
    monkeypatch.setattr(iam, "_ACCOUNTS", {})


def managed_version(stub, document: str) -> None:
    stub.add_response("get_policy", {"Policy": {"PolicyName": "m", "Arn": MANAGED,
                                                "DefaultVersionId": "v3"}}, {"PolicyArn": MANAGED})
    stub.add_response("get_policy_version", {"PolicyVersion": {"Document": document,
                                                               "VersionId": "v3"}},
                      {"PolicyArn": MANAGED, "VersionId": "v3"})


def test_a_roles_policies_are_tabled_one_row_per_statement_inline_and_managed():
    # given: one inline policy with two statements, one managed policy (URL-encoded, as IAM
    # sends it) with one statement given as an object
    backend = StubBackend("iam")
    stub = backend.stub("iam")
    inline = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": ["a", "b"]},
        {"Effect": "Deny", "NotAction": "s3:*"}]}
    stub.add_response("list_role_policies", {"PolicyNames": ["logs"]}, {"RoleName": "r"})
    stub.add_response("get_role_policy", {"RoleName": "r", "PolicyName": "logs",
                                          "PolicyDocument": json.dumps(inline)})
    stub.add_response("list_attached_role_policies", {"AttachedPolicies": [
        {"PolicyName": "m", "PolicyArn": MANAGED}]}, {"RoleName": "r"})
    managed_version(stub, quote(json.dumps(READ_ALL)))
    # when
    table = iam.role_policies_table(backend, "r")
    # then
    backend.assert_all_used()
    assert table.values.tolist() == [
        ["inline:logs", "Allow", "logs:PutLogEvents", "a, b"],
        ["inline:logs", "Deny", "", ""],
        [f"managed:{MANAGED}", "Allow", "dynamodb:*", "*"]]


def test_the_managed_policy_document_is_read_from_its_default_version():
    # given
    backend = StubBackend("iam")
    managed_version(backend.stub("iam"), json.dumps(READ_ALL))
    # when / then
    assert iam.managed_policy_document(backend) == READ_ALL


def test_the_missing_actions_are_those_no_policy_allows():
    # given: an inline policy allowing two of the four stream actions on one table's streams
    backend = StubBackend("iam")
    stub = backend.stub("iam")
    streams = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/*"
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords"],
        "Resource": streams}]}
    stub.add_response("list_role_policies", {"PolicyNames": ["read"]})
    stub.add_response("get_role_policy", {"RoleName": "r", "PolicyName": "read",
                                          "PolicyDocument": json.dumps(policy)})
    stub.add_response("list_attached_role_policies", {"AttachedPolicies": []})
    # when
    missing = iam.missing_actions(backend, "r", iam.STREAM_READ_ACTIONS,
                                  streams.replace("*", "2026-01-01T00:00:00.000"))
    # then
    assert missing == [a for a in iam.STREAM_READ_ACTIONS
                       if a not in ("dynamodb:DescribeStream", "dynamodb:GetRecords")]


def test_revoking_stream_read_removes_the_inline_policy_and_detaches_the_managed_one():
    # given: the inline policy is there, the managed policy is not attached
    backend = StubBackend("iam")
    stub = backend.stub("iam")
    stub.add_response("delete_role_policy", {},
                      {"RoleName": "r", "PolicyName": iam.POLICY_STREAM_READ})
    stub.add_client_error("detach_role_policy", "NoSuchEntity", "not attached", 404)
    # when
    removed = iam.revoke_stream_read(backend, "r")
    # then
    backend.assert_all_used()
    assert removed is True


@pytest.mark.parametrize(("call", "method"), [
    (lambda b: iam.remove_policy(b, "r", "p"), "delete_role_policy"),
    (lambda b: iam.detach_managed_policy(b, "r"), "detach_role_policy"),
    (lambda b: iam.delete_role(b, "r"), "list_role_policies"),
])
def test_a_refusal_other_than_no_such_entity_is_raised(call, method):
    # given: the caller may not touch IAM
    backend = StubBackend("iam")
    backend.stub("iam").add_client_error(method, "AccessDenied", "denied", 403)
    # when / then
    with pytest.raises(ClientError, match="AccessDenied"):
        call(backend)


def test_deleting_a_role_that_is_not_there_says_so():
    # given
    backend = StubBackend("iam")
    backend.stub("iam").add_client_error("list_role_policies", "NoSuchEntity", "no role", 404)
    # when / then
    assert iam.delete_role(backend, "r") is False


def test_put_policy_sends_the_document_as_json_and_role_arn_reads_iam():
    # given
    backend = StubBackend("iam")
    stub = backend.stub("iam")
    document = iam.topic_publish_policy("arn:aws:sns:us-east-1:123456789012:alerts")
    stub.add_response("put_role_policy", {}, {"RoleName": "r", "PolicyName": "publish",
                                              "PolicyDocument": json.dumps(document)})
    stub.add_response("get_role", {"Role": {
        "RoleName": "r", "Arn": "arn:aws:iam::123456789012:role/r", "Path": "/",
        "RoleId": "AROAEXAMPLEEXAMPLE01", "CreateDate": "2026-01-01T00:00:00Z"}})
    # when
    iam.put_policy(backend, "r", "publish", document)
    arn = iam.role_arn(backend, "r")
    # then
    backend.assert_all_used()
    assert arn == "arn:aws:iam::123456789012:role/r"
    assert document["Statement"][0]["Action"] == ["sns:Publish"]


def test_a_stream_read_policy_needs_a_table():
    # when / then
    with pytest.raises(ValueError, match="at least one table name"):
        iam.stream_read_policy(StubBackend())  # type: ignore[arg-type]


# --------------------------------------------------------------------------- replication


def logged(region_lines: dict[str, list[str]]) -> dict[str, pd.DataFrame]:
    start = pd.Timestamp("2026-12-04 10:00", tz="UTC")
    frames = {}
    for n, (region, lines) in enumerate(region_lines.items()):
        times = pd.date_range(start + pd.Timedelta(milliseconds=n), periods=len(lines),
                              freq="10ms", tz="UTC")
        frames[region] = pd.DataFrame({"time": times, "message": lines})
    return frames


def line(outcome: str, item: str, origin: str, target: str, lag: int) -> str:
    return f"{outcome} INSERT {item} from {origin} to {target}: {lag} ms after the write"


def test_both_regions_activity_is_merged_in_time_order(monkeypatch):
    # given: A's replicator applied one record, B's skipped its echo
    frames = logged({A: ["START RequestId: a1", line("applied", "U#1", B, A, 40)],
                     B: ["START RequestId: b1", line("skipped", "U#1", A, B, 9)]})
    backends = [StubBackend(), StubBackend()]
    backends[1].region = B
    monkeypatch.setattr(replication, "log_events",
                        lambda backend, function, since: frames[backend.region])
    # when
    seen = replication.activity(backends, "f", since=0)  # type: ignore[arg-type]
    # then
    assert seen.invocations[["region", "request_id"]].values.tolist() == [[A, "a1"], [B, "b1"]]
    assert seen.records["outcome"].tolist() == ["applied", "skipped"]
    assert seen.count(["applied", "skipped"], "U#1") == 2


def test_the_loop_chart_counts_each_regions_invocations_up_the_time_axis():
    # given
    frames = logged({A: ["START RequestId: a1", "START RequestId: a2"],
                     B: ["START RequestId: b1"]})
    starts = pd.concat([replication.parse_activity(f, r).invocations for r, f in frames.items()])
    # when
    figure = replication.plot_loop(starts, "loop")
    empty = replication.plot_loop(starts.iloc[:0], "none")
    # then
    (ax,) = figure.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [B, A]
    assert max(max(line.get_ydata()) for line in ax.get_lines()) == 2
    assert ax.get_xlabel() == "seconds after 10:00:00 UTC"
    assert empty.axes[0].texts[0].get_text() == "no invocations"


def test_the_lag_chart_draws_one_strip_per_direction_of_applied_puts():
    # given
    records = replication.parse_activity(logged({A: [
        line("applied", "U#1", B, A, 40), line("applied", "U#2", A, B, 30),
        line("skipped", "U#3", A, B, 1)]})[A], A).records
    # when
    figure = replication.plot_lag(records, "lag")
    # then
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"{B} → {A}", f"{A} → {B}"]
    assert sum(len(c.get_offsets()) for c in ax.collections) == 2  # the skipped one is not drawn
