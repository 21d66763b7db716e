"""The one way our components reach moto's data: typed functions over its backends.

Requests reach moto through the pipeline (:mod:`localaws.server`); everything
else the endpoint does on its own — the executor looking a function up, the
engine reading a stream and sending failure records, telemetry writing logs and
metrics, authorization reading a role's policies, the TTL sweep, the alarm
evaluator — goes through this module, never through moto's ``*_backends``
directly and never over HTTP to itself. Each function takes the right locks:

* the durable state's **request gate** (:class:`localaws.state.gate.RequestGate`,
  registered with :func:`use_gate`): shared while moto's data is read or changed,
  so a snapshot never sees half an operation; a change also notes that a
  snapshot is due, and which backend it changed (:mod:`localaws.state.dirty`: the
  snapshot re-pickles only those);
* :data:`LOCK` around writes that moto does not make thread-safe (log streams,
  metric data); a snapshot holds it too;
* the stream lock (:data:`localaws.streams.registry.LOCK`) is taken inside the
  streams functions themselves (:mod:`localaws.streams.backend`).

moto's own exceptions do not leave this module: a refusal comes out as a
:class:`botocore.exceptions.ClientError` with the service's error code, as a
client would raise it, so callers handle the same error whichever way they ran.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from botocore.exceptions import ClientError

LOCK = threading.RLock()
"""Held while moto's data is changed outside a request (a snapshot takes it too)."""

Key = tuple[Any, ...]
"""What a change touches: ``(service, account, region)``; ``region`` None for all of them."""


def _untracked(*keys: Key) -> AbstractContextManager[Any]:
    return contextlib.nullcontext()


_guard: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext
_on_change: Callable[[], None] = lambda: None  # noqa: E731
_track: Callable[..., AbstractContextManager[Any]] = _untracked


def use_gate(guard: Callable[[], AbstractContextManager[Any]],
             on_change: Callable[[], None],
             track: Callable[..., AbstractContextManager[Any]] = _untracked) -> None:
    """Run every access under ``guard()`` and call ``on_change()`` after a change.

    Parameters
    ----------
    guard : callable
        The request gate's ``shared`` (the durable state); by default no guard.
    on_change : callable
        Notes that the state changed (``gate.changed.set``).
    track : callable, optional
        ``track(*keys)``: the context of a change to those backends
        (:meth:`localaws.state.dirty.DirtyParts.changes`; no keys: anything).
    """
    global _guard, _on_change, _track
    _guard, _on_change, _track = guard, on_change, track


def reset_gate() -> None:
    """Back to no guard (an ephemeral endpoint; tests)."""
    use_gate(contextlib.nullcontext, lambda: None)


@contextlib.contextmanager
def reading() -> Iterator[None]:
    """The context of a read of moto's data (the gate, shared)."""
    with _guard():
        yield


@contextlib.contextmanager
def changing(*keys: Key, locked: bool = True) -> Iterator[None]:
    """The context of a change: the gate, shared; :data:`LOCK` unless ``locked=False``.

    ``keys`` name the backends changed, ``(service, account, region)`` (moto's service
    names); with none, a snapshot saves everything. Every backend looked up meanwhile
    (``*_backends[account][region]``) counts as changed too: moto passes some changes
    on (SNS to its subscribers, Logs to its subscription filters, STS's temporary keys
    to IAM).
    """
    with _guard(), _track(*keys), (LOCK if locked else contextlib.nullcontext()):
        try:
            yield
        finally:
            _on_change()


@contextlib.contextmanager
def as_client_error(operation: str) -> Iterator[None]:
    """Turn moto's refusals into :class:`~botocore.exceptions.ClientError`."""
    from moto.core.exceptions import JsonRESTError, ServiceException, _RESTError

    try:
        yield
    except ServiceException as err:  # code is the error code (moto's newer exceptions)
        raise _client_error(operation, str(err.code), err.message, 400) from err
    except (_RESTError, JsonRESTError) as err:  # code is the HTTP status
        raise _client_error(operation, err.error_type, err.message, int(err.code)) from err


def _client_error(operation: str, code: str, message: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code.rsplit("#", 1)[-1], "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


def _arn_parts(arn: str, operation: str) -> tuple[str, str, str]:
    """``(region, account, resource)`` of an ARN (a ``ClientError`` when it is none)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise _client_error(operation, "InvalidParameterValue", f"Not an ARN: {arn[:200]}",
                            400)
    return parts[3], parts[4], parts[5]


def account_of(access_key_id: str | None) -> str:
    """The account moto serves a request signed with ``access_key_id`` from."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key_id) if access_key_id else DEFAULT_ACCOUNT_ID


# -- CloudWatch ---------------------------------------------------------------------------
def cloudwatch(account_id: str, region: str) -> Any:
    """moto's CloudWatch backend of one account and region (read under :func:`reading`)."""
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[account_id][region]


def cloudwatch_regions() -> list[tuple[str, str, Any]]:
    """``(account, region, backend)`` of every CloudWatch backend moto has made."""
    from moto.cloudwatch.models import cloudwatch_backends

    return [(account, region, backend) for account, regional in list(cloudwatch_backends.items())
            for region, backend in list(regional.items())]


def put_metric_data(account_id: str, region: str, namespace: str,
                    data: list[dict[str, Any]]) -> None:
    """Record datapoints (moto's ``put_metric_data`` shape: naive UTC timestamps)."""
    with changing(("cloudwatch", account_id, region)):
        cloudwatch(account_id, region).put_metric_data(namespace, data)


# -- CloudWatch Logs ------------------------------------------------------------------------
def log_stream_exists(account_id: str, region: str, group: str,
                      stream: str) -> tuple[bool, bool]:
    """Whether the log group, and the stream in it, exist."""
    from moto.logs.models import logs_backends

    with reading():
        groups = logs_backends[account_id][region].groups
        group_exists = group in groups
        return group_exists, group_exists and stream in groups[group].streams


def put_log_events(account_id: str, region: str, group: str, stream: str,
                   events: list[tuple[int, str]]) -> None:
    """Append ``(timestamp_ms, message)`` events, creating the group and stream if needed."""
    from moto.logs.models import logs_backends

    with changing(("logs", account_id, region)):
        backend = logs_backends[account_id][region]
        if group not in backend.groups:
            backend.create_log_group(group, tags={})
        if stream not in backend.groups[group].streams:
            backend.create_log_stream(group, stream)
        backend.put_log_events(group, stream, [{"timestamp": ts, "message": msg}
                                               for ts, msg in sorted(events, key=lambda e: e[0])])


def log_query_exists(account_id: str, region: str, query_id: str) -> bool:
    """Whether Logs Insights knows the query ``query_id``."""
    from moto.logs.models import logs_backends

    with reading():
        regional = logs_backends[account_id]
        return region in regional and query_id in regional[region].queries


# -- Lambda ---------------------------------------------------------------------------------
def lambda_function(account_id: str, region: str, name: str) -> Any | None:
    """moto's record of a function (``$LATEST``), or ``None`` when there is none."""
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda.models import lambda_backends

    with reading():
        if region not in lambda_backends[account_id]:  # a region AWS has no Lambda in
            return None
        try:
            return lambda_backends[account_id][region].get_function(name)
        except (LambdaClientError, ValueError):  # not found; a name moto cannot parse
            return None


def lambda_functions(account_id: str, region: str) -> list[Any]:
    """Every function of an account and region (``$LATEST``)."""
    from moto.awslambda.models import lambda_backends

    with reading():
        return list(lambda_backends[account_id][region].list_functions())


# -- IAM and STS ----------------------------------------------------------------------------
def iam_role(account_id: str, name: str) -> Any | None:
    """moto's record of a role, or ``None`` when there is none."""
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    with reading():
        try:
            return iam_backends[account_id]["global"].get_role(name)
        except NotFoundException:
            return None


def assume_role(account_id: str, region: str, role_arn: str, session_name: str,
                duration_s: int) -> Any:
    """STS AssumeRole on the learner's behalf: moto's ``AssumedRole`` (its keys)."""
    from moto.sts.models import sts_backends

    with changing(("sts", account_id, None), locked=False):
        return sts_backends[account_id]["global"].assume_role(
            region_name=region, role_session_name=session_name, role_arn=role_arn,
            policy=None, duration=duration_s, external_id=None)


# -- DynamoDB and DynamoDB Streams ----------------------------------------------------------
def dynamodb_tables() -> list[Any]:
    """Every table of every account and region (moto's ``Table`` objects)."""
    from moto.dynamodb.models import dynamodb_backends

    return [table for account in list(dynamodb_backends.keys())
            for region in list(dynamodb_backends[account].keys())
            for table in list(dynamodb_backends[account][region].tables.values())]


def dynamodb_table(account_id: str, region: str, name: str) -> Any | None:
    """moto's ``Table``, or ``None`` when there is none."""
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account_id][region].tables.get(name)


def streams(account_id: str, region: str) -> Any:
    """moto's DynamoDB Streams backend (patched by :mod:`localaws.streams.backend`)."""
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    return dynamodbstreams_backends[account_id][region]


class StreamReader:
    """The DynamoDB Streams API in-process, for the engine: what a client would answer.

    Parameters
    ----------
    account_id, region : str
        Where the mapping lives.
    """

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id, self.region = account_id, region

    def _backend(self, operation: str) -> Any:
        try:
            return streams(self.account_id, self.region)
        except KeyError:  # a region moto does not know has no streams
            raise _client_error(operation, "ResourceNotFoundException",
                                "Requested resource not found", 400) from None

    def describe_stream(self, StreamArn: str, ExclusiveStartShardId: str | None = None,  # noqa: N803
                        Limit: int | None = None) -> dict[str, Any]:  # noqa: N803
        """DescribeStream."""
        with reading(), as_client_error("DescribeStream"):
            return {"StreamDescription": self._backend("DescribeStream").describe_stream(
                StreamArn, Limit, ExclusiveStartShardId)}

    def get_shard_iterator(self, StreamArn: str, ShardId: str, ShardIteratorType: str,  # noqa: N803
                           SequenceNumber: str | None = None) -> dict[str, Any]:  # noqa: N803
        """GetShardIterator."""
        with reading(), as_client_error("GetShardIterator"):
            iterator = self._backend("GetShardIterator").get_shard_iterator(
                StreamArn, ShardId, ShardIteratorType, SequenceNumber)
        return {"ShardIterator": iterator.arn}

    def get_records(self, ShardIterator: str, Limit: int = 1000) -> dict[str, Any]:  # noqa: N803
        """GetRecords: records in their wire JSON (times in epoch seconds, binaries base64)."""
        with reading(), as_client_error("GetRecords"):
            return self._backend("GetRecords").get_records(ShardIterator, Limit)


# -- SQS and SNS ----------------------------------------------------------------------------
def queue_size(account_id: str, region: str, name: str) -> tuple[int, int] | None:
    """``(visible messages, ReceiveMessageWaitTimeSeconds)`` of a queue; None if it is gone."""
    from moto.sqs.exceptions import QueueDoesNotExist
    from moto.sqs.models import sqs_backends

    with reading():
        try:
            queue = sqs_backends[account_id][region].get_queue(name)
        except QueueDoesNotExist:
            return None
        return queue.approximate_number_of_messages, int(queue.receive_message_wait_time_seconds)


def sqs_send(queue_arn: str, body: str) -> str:
    """SendMessage to the queue ``queue_arn``; returns the message id.

    Raises
    ------
    botocore.exceptions.ClientError
        The queue does not exist (``AWS.SimpleQueueService.NonExistentQueue``) or refuses it.
    """
    from moto.sqs.models import sqs_backends

    region, account, name = _arn_parts(queue_arn, "SendMessage")
    if not (len(account) == 12 and account.isdigit() and region in sqs_backends[account]):
        raise _client_error("SendMessage", "AWS.SimpleQueueService.NonExistentQueue",
                            "The specified queue does not exist.", 400)
    with changing(("sqs", account, region), locked=False), as_client_error("SendMessage"):
        return sqs_backends[account][region].send_message(name, body).id


def sns_publish(topic_arn: str, message: str, subject: str | None = None) -> str:
    """Publish to the topic ``topic_arn`` (delivered to its subscribers); returns the id.

    Not under :data:`LOCK`: a subscriber (a function) may write logs and metrics
    while the message is delivered.

    Raises
    ------
    botocore.exceptions.ClientError
        The topic does not exist (``NotFound``) or refuses the message.
    """
    from moto.sns.models import sns_backends

    region, account, _ = _arn_parts(topic_arn, "Publish")
    if not (len(account) == 12 and account.isdigit() and region in sns_backends[account]):
        raise _client_error("Publish", "NotFound", "Topic does not exist", 404)
    with changing(("sns", account, region), locked=False), as_client_error("Publish"):
        return sns_backends[account][region].publish(message=message, arn=topic_arn,
                                                     subject=subject)
