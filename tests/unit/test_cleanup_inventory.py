"""The cleanup (helpers.cleanup): what counts as the workshop's, the deletion order, re-runs and
the final check. The account is moto's, in-process (no endpoint); the error paths go through
botocore's Stubber."""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest
from moto import mock_aws

from helpers import cleanup, iam
from helpers.clients import Backend, Pacing
from helpers.naming import WORKSHOP_TAG_KEY, WORKSHOP_TAG_VALUE, Names, workshop_tags
from tests.unit.stubs import StubBackend

REGION = "us-east-1"
TAG = {WORKSHOP_TAG_KEY: WORKSHOP_TAG_VALUE}
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}
KEYS = {"KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "PK", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST"}


def zipped() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return None\n")
    return buffer.getvalue()


@pytest.fixture
def cloud(monkeypatch):
    """An empty moto account (one region), with instant pacing."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr(iam, "_ACCOUNTS", {})
    with mock_aws():
        session = boto3.session.Session(aws_access_key_id="testing",
                                        aws_secret_access_key="testing")
        yield Backend("endpoint", REGION, None, session,
                      Pacing(poll_s=0.0, patience_s=5.0, propagation_s=0.0, quiet_s=0.0))


def build_workshop(cloud: Backend, names: Names) -> None:
    """A table, a role with an inline policy, a function with its log group, a topic with a
    subscribed queue, an alarm and the dashboard: each made as the notebooks make it."""
    c = cloud.client
    c("dynamodb").create_table(TableName=names.ecommerce_table, Tags=workshop_tags(), **KEYS)
    role = c("iam").create_role(RoleName=names.stream_processor_role,
                                AssumeRolePolicyDocument=json.dumps(TRUST),
                                Tags=workshop_tags())["Role"]
    c("iam").put_role_policy(RoleName=names.stream_processor_role, PolicyName="logs",
                             PolicyDocument=json.dumps(iam.logs_policy(cloud, "f")))
    c("lambda").create_function(FunctionName=names.stream_processor_function,
                                Runtime="python3.12", Role=role["Arn"],
                                Handler="app.lambda_handler", Code={"ZipFile": zipped()}, Tags=TAG)
    c("logs").create_log_group(logGroupName=f"/aws/lambda/{names.stream_processor_function}")
    topic = c("sns").create_topic(Name=names.alerts_topic, Tags=workshop_tags())["TopicArn"]
    queue = c("sqs").create_queue(QueueName=names.failure_queue, tags=TAG)["QueueUrl"]
    arn = c("sqs").get_queue_attributes(QueueUrl=queue,
                                        AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    c("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    c("cloudwatch").put_metric_alarm(
        AlarmName=f"{names.stream_processor_function}-errors", Namespace="AWS/Lambda",
        MetricName="Errors", Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=0,
        ComparisonOperator="GreaterThanThreshold", Tags=workshop_tags())
    c("cloudwatch").put_dashboard(DashboardName=cleanup.dashboard_name(names),
                                  DashboardBody=json.dumps({"widgets": []}))


def test_the_inventory_finds_the_workshops_resources_and_leaves_a_look_alike_alone(cloud):
    # given: the workshop, plus an untagged table with the workshop's name
    names = Names()
    build_workshop(cloud, names)
    cloud.client("dynamodb").create_table(TableName=names.logfile_table, **KEYS)
    # when
    found = cleanup.inventory(cloud, names).frame()
    # then: in deletion order, IAM as "global"
    assert found["kind"].tolist() == ["function", "log group", "alarm", "dashboard",
                                      "subscription", "topic", "queue", "policy", "role", "table"]
    assert names.logfile_table not in found["name"].tolist()
    assert found.set_index("kind").loc["role", "region"] == cleanup.GLOBAL
    assert found.set_index("kind").loc["policy", "id"] == (
        f"inline:{names.stream_processor_role}:logs")


def test_cleanup_deletes_everything_once_and_the_check_then_passes(cloud):
    # given
    names = Names()
    build_workshop(cloud, names)
    cloud.client("dynamodb").create_table(TableName=names.logfile_table, **KEYS)
    # when
    deleted = cleanup.cleanup(cloud, names)
    again = cleanup.cleanup(cloud, names)
    # then
    assert set(deleted["result"]) == {"deleted"} and len(deleted) == 10
    assert again.empty  # idempotent: nothing left to find
    assert cleanup.verify(cloud, names) == f"Nothing of the workshop is left in {REGION}."
    assert cloud.client("dynamodb").list_tables()["TableNames"] == [names.logfile_table]


def test_with_a_prefix_tagged_resources_starting_with_it_are_found_too(cloud):
    # given: a queue and a role named with the prefix but unknown to the workshop
    names = Names.with_prefix("alice-")
    cloud.client("sqs").create_queue(QueueName="alice-extra", tags=TAG)
    cloud.client("sqs").create_queue(QueueName="bob-extra", tags=TAG)
    cloud.client("iam").create_role(RoleName="alice-extra-role", Tags=workshop_tags(),
                                    AssumeRolePolicyDocument=json.dumps(TRUST))
    # when
    found = cleanup.inventory(cloud, names).frame()
    # then
    assert cleanup.prefix_of(names) == "alice-"
    assert found[["kind", "name"]].values.tolist() == [["queue", "alice-extra"],
                                                      ["role", "alice-extra-role"]]


def test_a_managed_policy_of_the_workshop_is_detached_and_its_versions_deleted(cloud):
    # given: a tagged customer managed policy with a second version, attached to a role
    names = Names.with_prefix("alice-")
    client = cloud.client("iam")
    client.create_role(RoleName="alice-r", AssumeRolePolicyDocument=json.dumps(TRUST))
    document = json.dumps(iam.queue_send_policy("arn:aws:sqs:us-east-1:123456789012:q"))
    arn = client.create_policy(PolicyName="alice-send", PolicyDocument=document,
                               Tags=workshop_tags())["Policy"]["Arn"]
    client.create_policy_version(PolicyArn=arn, PolicyDocument=document, SetAsDefault=True)
    client.attach_role_policy(RoleName="alice-r", PolicyArn=arn)
    # when
    deleted = cleanup.cleanup(cloud, names)
    # then: the untagged role stays, without the policy
    assert deleted[["kind", "name", "result"]].values.tolist() == [
        ["policy", "alice-send", "deleted"]]
    assert client.list_attached_role_policies(RoleName="alice-r")["AttachedPolicies"] == []


def test_known_names_cover_every_function_role_and_table_of_the_workshop():
    # when
    known = cleanup.known_names(Names.with_prefix("alice-"))
    # then
    assert "alice-logfile" in known["table"]
    assert {f"/aws/lambda/{f}" for f in known["function"]} <= known["log group"]
    assert known["policy"] == set()


def found_once(kind: str, name: str, ident: str) -> cleanup.Inventory:
    found = cleanup.Inventory(region=REGION)
    found.add(kind, name, ident)
    return found


def test_a_resource_deleted_meanwhile_is_reported_as_already_gone(monkeypatch):
    # given
    backend = StubBackend("sqs")
    backend.stub("sqs").add_client_error(
        "delete_queue", "AWS.SimpleQueueService.NonExistentQueue", "gone", 400)
    monkeypatch.setattr(cleanup, "inventory",
                        lambda *a: found_once("queue", "q", "http://127.0.0.1:9/1/q"))
    # when
    done = cleanup.cleanup(backend)  # type: ignore[arg-type]
    # then
    assert done.to_dict("records") == [{"kind": "queue", "name": "q", "region": REGION,
                                        "result": "already gone"}]


def test_a_refused_deletion_is_raised(monkeypatch):
    # given
    backend = StubBackend("sns")
    backend.stub("sns").add_client_error("delete_topic", "AuthorizationError", "denied", 403)
    monkeypatch.setattr(cleanup, "inventory", lambda *a: found_once(
        "topic", "t", "arn:aws:sns:us-east-1:123456789012:t"))
    # when / then
    with pytest.raises(cleanup.ClientError, match="AuthorizationError"):
        cleanup.cleanup(backend)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "ident", "service", "method", "params"), [
    ("log group", "/aws/lambda/f", "logs", "delete_log_group", {"logGroupName": "/aws/lambda/f"}),
    ("alarm", "f-errors", "cloudwatch", "delete_alarms", {"AlarmNames": ["f-errors"]}),
    ("dashboard", "d", "cloudwatch", "delete_dashboards", {"DashboardNames": ["d"]}),
    ("subscription", "arn:aws:sns:us-east-1:123456789012:t:1", "sns", "unsubscribe",
     {"SubscriptionArn": "arn:aws:sns:us-east-1:123456789012:t:1"}),
    ("policy", "inline:r:p", "iam", "delete_role_policy", {"RoleName": "r", "PolicyName": "p"}),
])
def test_each_kind_is_deleted_with_its_own_call(kind, ident, service, method, params):
    # given
    backend = StubBackend(service)
    backend.stub(service).add_response(method, {}, params)
    # when
    cleanup._delete(backend, kind, ident)  # type: ignore[arg-type]
    # then
    backend.assert_all_used()


def test_the_check_lists_what_is_left_after_waiting(monkeypatch):
    # given: a queue still listed on each of three looks
    slept: list[float] = []
    monkeypatch.setattr(cleanup.time, "sleep", slept.append)
    clock = iter([0.0, 1.0, 20.0])
    monkeypatch.setattr(cleanup.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(cleanup, "inventory", lambda *a: found_once("queue", "q", "u"))
    backend = StubBackend(pacing=Pacing(propagation_s=10.0))
    # when / then
    with pytest.raises(cleanup.CleanupError, match=r"1 resource\(s\) left: queue q: run cleanup"):
        cleanup.verify(backend)  # type: ignore[arg-type]
    assert slept == [5]


def test_the_check_names_the_local_endpoint_when_nothing_is_left(monkeypatch):
    # given
    monkeypatch.setattr(cleanup, "inventory", lambda *a: cleanup.Inventory())
    # when
    said = cleanup.verify(StubBackend(), regions=["us-east-1", "eu-west-1"])  # type: ignore[arg-type]
    # then
    assert said == "Nothing of the workshop is left in the local endpoint (us-east-1, eu-west-1)."
