"""``helpers.cleanup``: it deletes the workshop's resources in every region it is given,
and leaves everything else alone: one resource of each kind outside the workshop's
names (some carrying the workshop's tag), and some with a workshop name but no tag."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from typing import Any

import pytest

from helpers import cleanup
from helpers.dashboards import dashboard_name
from helpers.metric_alarms import inbox_queue_name
from helpers.naming import WORKSHOP_TAG, WORKSHOP_TAG_KEY, WORKSHOP_TAG_VALUE, Names

pytestmark = pytest.mark.functional

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})
READ_STREAMS = "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole"
OTHER_REGION = "eu-west-1"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 1\n")
    return buffer.getvalue()


def _one_of_each(backend: Any, base: str, *, tagged: bool,
                 dashboard: str | None = None) -> dict[str, str]:
    """A role (inline and managed policy), a function with a mapping on a table's stream,
    its log group, a queue, a topic with a subscription, an alarm and a dashboard."""
    tags = [WORKSHOP_TAG] if tagged else []
    tag_map = {WORKSHOP_TAG_KEY: WORKSHOP_TAG_VALUE} if tagged else {}
    iam, lam, ddb = backend.client("iam"), backend.client("lambda"), backend.client("dynamodb")
    role = iam.create_role(RoleName=f"{base}-role", AssumeRolePolicyDocument=TRUST,
                           Tags=tags)["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="inline",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                            "Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}))
    iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=READ_STREAMS)
    policy = iam.create_policy(PolicyName=f"{base}-policy", Tags=tags,
                               PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                                   "Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}))
    iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=policy["Policy"]["Arn"])
    table = ddb.create_table(
        TableName=f"{base}-table", BillingMode="PAY_PER_REQUEST", Tags=tags,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    function = lam.create_function(FunctionName=f"{base}-fn", Runtime="python3.12",
                                   Role=role["Arn"], Handler="app.handler",
                                   Code={"ZipFile": _zip()}, Tags=tag_map)
    mapping = lam.create_event_source_mapping(
        FunctionName=function["FunctionName"], StartingPosition="LATEST",
        EventSourceArn=table["TableDescription"]["LatestStreamArn"])
    logs = backend.client("logs")
    logs.create_log_group(logGroupName=f"/aws/lambda/{function['FunctionName']}")
    sqs, sns = backend.client("sqs"), backend.client("sns")
    queue = sqs.create_queue(QueueName=f"{base}-queue", tags=tag_map)["QueueUrl"]
    topic = sns.create_topic(Name=f"{base}-topic", Tags=tags)["TopicArn"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                                 ReturnSubscriptionArn=True)["SubscriptionArn"]
    cloudwatch = backend.client("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName=f"{base}-alarm", Namespace="AWS/Lambda",
                                MetricName="Errors", Statistic="Sum", Period=60,
                                EvaluationPeriods=1, Threshold=1, Tags=tags,
                                ComparisonOperator="GreaterThanOrEqualToThreshold")
    dashboard = dashboard or f"{base}-dashboard"
    cloudwatch.put_dashboard(DashboardName=dashboard, DashboardBody=json.dumps({"widgets": []}))
    return {"role": role["RoleName"], "policy": policy["Policy"]["Arn"],
            "table": f"{base}-table", "function": function["FunctionName"],
            "mapping": mapping["UUID"], "queue": queue, "topic": topic,
            "subscription": subscription, "alarm": f"{base}-alarm",
            "dashboard": dashboard}


def _every(client: Any, method: str, key: str, **params: Any) -> list[Any]:
    """Every entry of a listing, all pages (a session's endpoint holds more than a page)."""
    return [entry for page in client.get_paginator(method).paginate(**params)
            for entry in page.get(key, [])]


def _still_there(backend: Any, made: dict[str, str]) -> dict[str, bool]:
    iam, lam = backend.client("iam"), backend.client("lambda")
    sns, cloudwatch = backend.client("sns"), backend.client("cloudwatch")
    return {
        "role": any(r["RoleName"] == made["role"] for p in iam.get_paginator(
            "list_roles").paginate() for r in p["Roles"]),
        "inline policy": bool(made["role"]) and "inline" in iam.list_role_policies(
            RoleName=made["role"])["PolicyNames"],
        "policy": any(p["Arn"] == made["policy"] for page in iam.get_paginator(
            "list_policies").paginate(Scope="Local") for p in page["Policies"]),
        "table": made["table"] in _every(backend.client("dynamodb"), "list_tables",
                                         "TableNames"),
        "function": any(f["FunctionName"] == made["function"]
                        for f in _every(lam, "list_functions", "Functions")),
        "mapping": any(m["UUID"] == made["mapping"] for m in _every(
            lam, "list_event_source_mappings", "EventSourceMappings")),
        "log group": bool(backend.client("logs").describe_log_groups(
            logGroupNamePrefix=f"/aws/lambda/{made['function']}")["logGroups"]),
        "queue": made["queue"] in _every(backend.client("sqs"), "list_queues", "QueueUrls"),
        "topic": any(t["TopicArn"] == made["topic"]
                     for t in _every(sns, "list_topics", "Topics")),
        "subscription": any(s["SubscriptionArn"] == made["subscription"]
                            for s in _every(sns, "list_subscriptions", "Subscriptions")),
        "alarm": bool(cloudwatch.describe_alarms(AlarmNames=[made["alarm"]])["MetricAlarms"]),
        "dashboard": any(d["DashboardName"] == made["dashboard"]
                         for d in _every(cloudwatch, "list_dashboards", "DashboardEntries")),
    }


def test_cleanup_deletes_the_workshop_in_every_region_and_nothing_else(backend, unique):
    # given: the workshop's resources (with a prefix) in two regions
    prefix = f"cl{unique}-"
    names = Names.with_prefix(prefix)
    other = dataclasses.replace(backend, region=OTHER_REGION)
    ours = {region: _one_of_each(where, f"{prefix}{region}", tagged=True,
                                 dashboard=dashboard_name(names))
            for region, where in ((backend.region, backend), (OTHER_REGION, other))}
    # ... and, outside the workshop's names, one of each kind carrying the tag, one of
    # each without it, and the workshop's own names without the tag
    strangers = [_one_of_each(backend, f"stranger{unique}", tagged=True),
                 _one_of_each(backend, f"plain{unique}", tagged=False)]
    backend.client("dynamodb").create_table(
        TableName=names.logfile_table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    backend.client("sqs").create_queue(QueueName=inbox_queue_name(names))
    backend.client("cloudwatch").put_dashboard(
        DashboardName=f"{dashboard_name(names)}-copy", DashboardBody=json.dumps({"widgets": []}))
    regions = [backend.region, OTHER_REGION]
    found = cleanup.inventory(backend, names, regions).frame()
    # when
    deleted = cleanup.cleanup(backend, names, regions)
    # then: every kind of the workshop was found and deleted, in both regions
    kinds = set(found["kind"])
    assert kinds >= {"role", "policy", "function", "event source mapping", "log group",
                     "table", "queue", "topic", "subscription", "alarm"}, kinds
    assert set(found.loc[found["kind"] == "table", "region"]) == set(regions)
    assert set(deleted["result"]) == {"deleted"}
    assert cleanup.leftovers(backend, names, regions=regions).empty
    for region, made in ours.items():
        where = backend if region == backend.region else other
        left = [k for k, v in _still_there(where, {**made, "role": ""}).items() if v]
        assert not left, (region, left)
    roles = {r["RoleName"] for p in backend.client("iam").get_paginator("list_roles").paginate()
             for r in p["Roles"]}
    assert not {made["role"] for made in ours.values()} & roles
    # ... and everything outside the workshop's names is still there
    for made in strangers:
        gone = [k for k, v in _still_there(backend, made).items() if not v]
        assert not gone, (made["role"], gone)
    tables = _every(backend.client("dynamodb"), "list_tables", "TableNames")
    assert names.logfile_table in tables

