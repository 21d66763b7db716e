"""SQS queues and SNS topics: on-failure destinations, alarm topics, and reading them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from helpers.clients import Backend, error_code
from helpers.naming import workshop_tag_map
from helpers.waits import wait_for


def ensure_queue(backend: Backend, name: str) -> tuple[str, str]:
    """Create a standard SQS queue (or find it); returns ``(url, arn)``."""
    sqs = backend.client("sqs")
    try:
        url = sqs.create_queue(QueueName=name, tags=workshop_tag_map())["QueueUrl"]
    except ClientError as exc:
        if error_code(exc) not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def subscribe_queue(backend: Backend, topic_arn: str, queue_url: str, queue_arn: str) -> str:
    """Subscribe an SQS queue to an SNS topic (once) and let the topic send to the queue.

    The queue gets a policy allowing ``sqs:SendMessage`` from this topic only,
    which real SNS needs to deliver.

    Returns
    -------
    str
        The subscription ARN.
    """
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowTopic",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }
    backend.client("sqs").set_queue_attributes(
        QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)}
    )
    sns = backend.client("sns")
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for sub in page["Subscriptions"]:
            if sub["Protocol"] == "sqs" and sub["Endpoint"] == queue_arn:
                return sub["SubscriptionArn"]
    return sns.subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True
    )["SubscriptionArn"]


def _unwrap(body: str) -> Any:
    try:
        value = json.loads(body)
    except ValueError:
        return body
    if isinstance(value, dict) and value.get("Type") == "Notification" and "Message" in value:
        try:
            return json.loads(value["Message"])
        except ValueError:
            return value["Message"]
    return value


def receive_messages(
    backend: Backend,
    queue_url: str,
    *,
    expected: int | None = None,
    timeout: float | None = None,
    delete: bool = True,
) -> list[Any]:
    """Read messages from a queue, parsed from JSON (SNS envelopes unwrapped).

    Parameters
    ----------
    backend : Backend
        Where the queue lives.
    queue_url : str
        The queue.
    expected : int, optional
        Keep reading until this many arrived; without it, read until the queue
        answers empty once.
    timeout : float, optional
        Seconds (``pacing.patience_s`` by default: on AWS retries back off for
        longer before a failure record is sent).
    delete : bool
        Delete what was read (so a second run of a notebook starts empty).

    Returns
    -------
    list
        Message bodies, oldest first as far as SQS tells.

    Raises
    ------
    helpers.waits.WaitTimeoutError
        Fewer than ``expected`` arrived in time.
    """
    sqs = backend.client("sqs")
    found: list[Any] = []
    # Long polls (1 s) while messages are awaited: one answers as soon as a message
    # arrives. Reading a queue to its end: on AWS a short poll of a small queue may
    # answer empty while messages are there (it samples a subset of its servers), so
    # that takes a last, empty, second-long poll; the local endpoint's default profile
    # answers a short poll with every visible message, so there it takes none.
    last_s = 0 if backend.answers_at_once else 1

    def read(wait_s: int = 1) -> int:
        page = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                   WaitTimeSeconds=wait_s, AttributeNames=["SentTimestamp"])
        messages = page.get("Messages", [])
        for message in messages:
            found.append(_unwrap(message["Body"]))
            if delete:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    if expected is not None:
        wait_for(
            read,
            what=f"{expected} message(s) in {queue_url.rsplit('/', 1)[-1]}",
            timeout=backend.pacing.patience_s if timeout is None else timeout,
            interval=0.0,
            until=lambda _: len(found) >= expected,
            seen=lambda _: f"{len(found)} message(s)",
        )
    while read(last_s):  # and whatever else is there
        pass
    return found


def drain_queue(backend: Backend, queue_url: str) -> int:
    """Delete every message of a queue (PurgeQueue is limited to once a minute on AWS)."""
    return len(receive_messages(backend, queue_url, delete=True))


def dead_letters_table(messages: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per on-failure record: why, how often invoked, which records."""
    rows = []
    for m in messages:
        request = m.get("requestContext", {})
        response = m.get("responseContext") or {}
        info = m.get("DDBStreamBatchInfo", {})
        rows.append(
            {
                "condition": request.get("condition"),
                "invocations": request.get("approximateInvokeCount"),
                "function error": response.get("functionError"),
                "batch size": info.get("batchSize"),
                "start sequence number": info.get("startSequenceNumber"),
                "end sequence number": info.get("endSequenceNumber"),
                "shard": info.get("shardId"),
                "first record arrived": info.get("approximateArrivalOfFirstRecord"),
            }
        )
    return pd.DataFrame(rows)
