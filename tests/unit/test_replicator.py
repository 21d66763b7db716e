"""Unit tests for the replicators (``lambda_src/replicator``, ``lambda_src/replicator_production``).

No endpoint, no network. The teaching version writes through boto3 to moto's in-process
DynamoDB (``mock_aws``), so puts, deletes and types are DynamoDB's own.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError
from moto import mock_aws

REPLICA = "logfile_replica"


def log_key(request_id: int) -> dict:
    return {"PK": {"S": f"request#{request_id}"}}


def log_image(request_id: int, **extra: dict) -> dict:
    return {**log_key(request_id), "requestid": {"N": str(request_id)}, **extra}


# --- the teaching version, against moto -------------------------------------------------


@pytest.fixture
def dynamodb(monkeypatch):
    """moto's DynamoDB in this process, with the replica table created."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        resource = boto3.resource("dynamodb")
        resource.create_table(
            TableName=REPLICA,
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield resource


def replica_items(dynamodb, table: str = REPLICA) -> dict[str, dict]:
    return {item["PK"]: item for item in dynamodb.Table(table).scan()["Items"]}


@pytest.mark.parametrize("event_name", ["new_image", "new_and_old_images"])
def test_inserts_and_modifies_are_put_and_removes_deleted(
    replicator, dynamodb, load_event, event_name, caplog
):
    # given
    dynamodb.Table(REPLICA).put_item(Item={"PK": "request#4003", "requestid": 4003})
    event = load_event(event_name)

    # when
    response = replicator.lambda_handler(event, None)

    # then
    items = replica_items(dynamodb)
    assert sorted(items) == ["request#4001", "request#4002"]
    assert items["request#4002"]["servererror"] == "5xx"
    assert response == {"replicated": 3, "puts": 2, "deletes": 1}
    assert "Replicated 3 records into logfile_replica: 2 puts, 1 deletes" in caplog.messages


def test_the_replica_item_equals_the_new_image(replicator, dynamodb, load_event):
    # given
    event = load_event("new_and_old_images")
    new_image = event["Records"][1]["dynamodb"]["NewImage"]

    # when
    replicator.lambda_handler(event, None)

    # then
    low_level = boto3.client("dynamodb").get_item(TableName=REPLICA, Key=log_key(4002))["Item"]
    assert low_level == new_image


def test_numbers_and_binaries_keep_their_type_and_value(
    replicator, dynamodb, make_record
):
    # given
    blob = bytes([0, 255, 7])
    encoded = base64.b64encode(blob).decode()
    image = log_image(
        1,
        bytessent={"N": "1.5"},
        big={"N": "12345678901234567890123456789012345678"},
        blob={"B": encoded},
        blobs={"BS": [encoded]},
        nested={"M": {"inner": {"L": [{"B": encoded}, {"N": "0.1"}]}}},
    )
    record = make_record("INSERT", log_key(1), new_image=image, view_type="NEW_IMAGE")

    # when
    replicator.lambda_handler({"Records": [record]}, None)

    # then
    item = replica_items(dynamodb)["request#1"]
    assert item["bytessent"] == Decimal("1.5")
    assert item["big"] == Decimal("12345678901234567890123456789012345678")
    assert bytes(item["blob"]) == blob
    assert {bytes(b) for b in item["blobs"]} == {blob}
    assert bytes(item["nested"]["inner"][0]) == blob
    assert item["nested"]["inner"][1] == Decimal("0.1")


def test_replica_table_comes_from_the_environment(
    replicator, dynamodb, load_event, monkeypatch
):
    # given
    monkeypatch.setenv("REPLICA_TABLE", "other_replica")
    dynamodb.create_table(
        TableName="other_replica",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    # when
    replicator.lambda_handler(load_event("new_image"), None)

    # then
    assert sorted(replica_items(dynamodb, "other_replica")) == ["request#4001", "request#4002"]
    assert replica_items(dynamodb) == {}


@pytest.mark.parametrize("event_name", ["keys_only", "old_image"])
def test_a_stream_without_new_images_raises_and_says_which_view_type_to_use(
    replicator, dynamodb, load_event, event_name
):
    # given
    event = load_event(event_name)

    # when / then
    with pytest.raises(ValueError, match="NEW_IMAGE or NEW_AND_OLD_IMAGES"):
        replicator.lambda_handler(event, None)


def test_a_failed_write_is_raised_not_swallowed(replicator, dynamodb, load_event):
    # given: the replica table does not exist
    dynamodb.Table(REPLICA).delete()

    # when / then
    with pytest.raises(dynamodb.meta.client.exceptions.ResourceNotFoundException):
        replicator.lambda_handler(load_event("new_image"), None)


def test_unknown_event_name_raises(replicator, dynamodb, make_record):
    # given
    record = make_record("INSERT", log_key(1), new_image=log_image(1))
    record["eventName"] = "TRUNCATE"

    # when / then
    with pytest.raises(ValueError, match="TRUNCATE"):
        replicator.lambda_handler({"Records": [record]}, None)


def test_only_put_item_and_delete_item_are_called(replicator, dynamodb, load_event):
    # given: the lab's IAM policy allows these two table calls and no other
    calls: list[str] = []
    client = replicator.replica_table().meta.client
    client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )

    # when
    replicator.lambda_handler(load_event("new_and_old_images"), None)

    # then
    assert set(calls) == {"PutItem", "DeleteItem"}


# --- the production variant, against an in-memory BatchWriteItem ---------------------


def _canonical(value: Any) -> str:
    def default(obj: Any) -> str:
        if isinstance(obj, bytes):
            return base64.b64encode(obj).decode()
        raise TypeError(type(obj).__name__)

    return json.dumps(value, sort_keys=True, default=default)


def _check_types(value: dict) -> None:
    ((kind, inner),) = value.items()
    if kind == "N":
        assert isinstance(inner, str), f"number sent as {type(inner).__name__}"
    elif kind == "NS":
        assert all(isinstance(member, str) for member in inner)
    elif kind == "B":
        assert isinstance(inner, bytes), f"binary sent as {type(inner).__name__}"
    elif kind == "BS":
        assert all(isinstance(member, bytes) for member in inner)
    elif kind == "M":
        for member in inner.values():
            _check_types(member)
    elif kind == "L":
        for member in inner:
            _check_types(member)


def _validation_error(message: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": "ValidationException", "Message": message}}, "BatchWriteItem"
    )


class FakeDynamoDB:
    """In-memory stand-in for the low-level client's ``batch_write_item``.

    Parameters
    ----------
    key_names : tuple of str
        The tables' key attributes.
    unprocessed_per_call : iterable of int
        For each successive call, how many of its last requests to leave unprocessed.
    stuck_keys : iterable of str
        ``PK`` string values whose requests are never processed.
    error : Exception, optional
        Raised by every call.
    """

    def __init__(
        self,
        key_names: tuple[str, ...] = ("PK",),
        unprocessed_per_call: Iterable[int] = (),
        stuck_keys: Iterable[str] = (),
        error: Exception | None = None,
    ) -> None:
        self.key_names = key_names
        self.tables: dict[str, dict[str, dict]] = defaultdict(dict)
        self.calls: list[dict[str, list[dict]]] = []
        self._unprocessed = list(unprocessed_per_call)
        self._stuck = set(stuck_keys)
        self._error = error

    def _key_of(self, request: dict) -> dict:
        if "PutRequest" in request:
            item = request["PutRequest"]["Item"]
            return {name: item[name] for name in self.key_names}
        return request["DeleteRequest"]["Key"]

    def put(self, table: str, item: dict) -> None:
        """Store an item directly (test setup)."""
        key = {name: item[name] for name in self.key_names}
        self.tables[table][_canonical(key)] = item

    def item(self, table: str, **key: str) -> dict | None:
        """Read an item by string key values."""
        wanted = {name: {"S": value} for name, value in key.items()}
        return self.tables[table].get(_canonical(wanted))

    def batch_write_item(self, RequestItems: dict[str, list[dict]]) -> dict:  # noqa: N803
        self.calls.append({table: list(requests) for table, requests in RequestItems.items()})
        if self._error is not None:
            raise self._error
        unprocessed: dict[str, list[dict]] = {}
        for table, requests in RequestItems.items():
            if len(requests) > 25:
                raise _validation_error("Too many items requested for the BatchWriteItem call")
            keys = [_canonical(self._key_of(request)) for request in requests]
            if len(set(keys)) != len(keys):
                raise _validation_error("Provided list of item keys contains duplicates")
            for request in requests:
                body = request.get("PutRequest", {}).get("Item") or self._key_of(request)
                for value in body.values():
                    _check_types(value)
            leave = self._unprocessed.pop(0) if self._unprocessed else 0
            cut = len(requests) - leave
            for request, key in zip(requests[:cut], keys[:cut], strict=True):
                if self._key_of(request).get("PK", {}).get("S") in self._stuck:
                    unprocessed.setdefault(table, []).append(request)
                elif "PutRequest" in request:
                    self.tables[table][key] = request["PutRequest"]["Item"]
                else:
                    self.tables[table].pop(key, None)
            if requests[cut:]:
                unprocessed.setdefault(table, []).extend(requests[cut:])
        return {"UnprocessedItems": unprocessed}


@pytest.fixture
def production(load_lambda_module):
    """``lambda_src/replicator_production/ddbreplica_lambda.py``, freshly imported."""
    return load_lambda_module("replicator_production", "ddbreplica_lambda")


def use_client(production, monkeypatch, client: FakeDynamoDB) -> FakeDynamoDB:
    monkeypatch.setattr(production, "replica_client", lambda: client)
    return client


def insert(make_record, request_id: int, sequence_number: int, **extra: dict) -> dict:
    return make_record(
        "INSERT", log_key(request_id), new_image=log_image(request_id, **extra),
        sequence_number=str(sequence_number), view_type="NEW_IMAGE",
    )


def remove(make_record, request_id: int, sequence_number: int) -> dict:
    return make_record(
        "REMOVE", log_key(request_id), sequence_number=str(sequence_number),
        view_type="NEW_IMAGE",
    )


@pytest.mark.parametrize("event_name", ["new_image", "new_and_old_images"])
def test_production_puts_new_images_and_deletes_keys_in_one_call(
    production, monkeypatch, load_event, event_name, caplog
):
    # given
    client = use_client(production, monkeypatch, FakeDynamoDB())
    client.put(REPLICA, log_image(4003))
    event = load_event(event_name)

    # when
    response = production.lambda_handler(event, None)

    # then
    assert response == {"batchItemFailures": []}
    assert len(client.calls) == 1
    assert client.item(REPLICA, PK="request#4002") == event["Records"][1]["dynamodb"]["NewImage"]
    assert client.item(REPLICA, PK="request#4003") is None
    assert "Replicated 3 records into logfile_replica: 2 puts, 1 deletes" in caplog.messages


def test_writes_go_out_25_at_a_time(production, monkeypatch, make_record):
    # given
    client = use_client(production, monkeypatch, FakeDynamoDB())
    event = {"Records": [insert(make_record, i, i) for i in range(1, 61)]}

    # when
    production.lambda_handler(event, None)

    # then
    assert [len(call[REPLICA]) for call in client.calls] == [25, 25, 10]
    assert len(client.tables[REPLICA]) == 60


def test_changes_to_one_item_collapse_to_the_last(production, monkeypatch, make_record, caplog):
    # given: request#1 is inserted, updated, then removed in the same batch
    client = use_client(production, monkeypatch, FakeDynamoDB())
    client.put(REPLICA, log_image(1))
    event = {"Records": [
        insert(make_record, 1, 1), insert(make_record, 2, 2),
        insert(make_record, 1, 3, bytessent={"N": "5"}), remove(make_record, 1, 4),
    ]}

    # when
    production.lambda_handler(event, None)

    # then: one request per key, the last change wins
    assert len(client.calls[0][REPLICA]) == 2
    assert client.item(REPLICA, PK="request#1") is None
    assert client.item(REPLICA, PK="request#2") is not None
    assert "Replicated 4 records into logfile_replica: 1 puts, 1 deletes" in caplog.messages


def test_numbers_stay_text_and_binaries_become_bytes(production, monkeypatch, make_record):
    # given
    client = use_client(production, monkeypatch, FakeDynamoDB())
    blob = base64.b64encode(bytes([1, 2, 255])).decode()
    record = insert(
        make_record, 1, 1, price={"N": "279.99"},
        big={"N": "12345678901234567890123456789012345678"},
        blob={"B": blob}, nested={"M": {"l": {"L": [{"BS": [blob]}, {"N": "0.5"}]}}},
    )

    # when
    production.lambda_handler({"Records": [record]}, None)

    # then (FakeDynamoDB also checks every value's type)
    item = client.item(REPLICA, PK="request#1")
    assert item["price"] == {"N": "279.99"}
    assert item["big"] == {"N": "12345678901234567890123456789012345678"}
    assert item["blob"] == {"B": bytes([1, 2, 255])}
    assert item["nested"]["M"]["l"]["L"][0] == {"BS": [bytes([1, 2, 255])]}


def test_unprocessed_items_are_retried_with_backoff(production, monkeypatch, make_record, sleeps):
    # given: the first two calls leave 3, then 1 request unprocessed
    client = use_client(production, monkeypatch, FakeDynamoDB(unprocessed_per_call=[3, 1]))
    event = {"Records": [insert(make_record, i, i) for i in range(1, 6)]}

    # when
    response = production.lambda_handler(event, None)

    # then
    assert response == {"batchItemFailures": []}
    assert [len(call[REPLICA]) for call in client.calls] == [5, 3, 1]
    assert sleeps == [production.backoff_seconds(1), production.backoff_seconds(2)]
    assert len(client.tables[REPLICA]) == 5


def test_backoff_doubles_and_is_capped(production):
    # given / when
    delays = [production.backoff_seconds(attempt) for attempt in range(1, 9)]

    # then
    assert delays[:3] == [0.05, 0.1, 0.2]
    assert max(delays) == production.BACKOFF_CAP_SECONDS


def test_writes_still_unprocessed_are_reported_with_every_record_they_stand_for(
    production, monkeypatch, make_record, sleeps, caplog
):
    # given: request#2's writes are never processed; it changed twice in the batch
    client = use_client(production, monkeypatch, FakeDynamoDB(stuck_keys=["request#2"]))
    event = {"Records": [
        insert(make_record, 1, 1), insert(make_record, 2, 2),
        insert(make_record, 3, 3), insert(make_record, 2, 4),
    ]}

    # when
    response = production.lambda_handler(event, None)

    # then
    assert response == {"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "4"}]}
    assert len(client.calls) == production.MAX_WRITE_ATTEMPTS
    assert len(sleeps) == production.MAX_WRITE_ATTEMPTS - 1
    assert sorted(client.tables[REPLICA]) == sorted(
        [_canonical(log_key(1)), _canonical(log_key(3))]
    )
    assert "Replicated 2 records into logfile_replica: 2 puts, 0 deletes" in caplog.messages


def test_a_refused_call_fails_the_invocation(production, monkeypatch, load_event):
    # given: the lab's role allows PutItem and DeleteItem, not BatchWriteItem
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not authorized to perform: "
                   "dynamodb:BatchWriteItem"}}, "BatchWriteItem")
    use_client(production, monkeypatch, FakeDynamoDB(error=denied))

    # when / then
    with pytest.raises(ClientError, match="AccessDeniedException"):
        production.lambda_handler(load_event("new_image"), None)


def test_report_fails_only_that_record_and_the_rest_is_written(
    production, monkeypatch, make_record
):
    # given
    client = use_client(production, monkeypatch, FakeDynamoDB())
    event = {"Records": [
        insert(make_record, 1, 1), insert(make_record, 2, 2, fail_mode={"S": "report"}),
        insert(make_record, 3, 3),
    ]}

    # when
    response = production.lambda_handler(event, None)

    # then
    assert response == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert client.item(REPLICA, PK="request#2") is None
    assert client.item(REPLICA, PK="request#3") is not None


def test_raise_fails_the_invocation_before_any_write(production, monkeypatch, make_record):
    # given
    client = use_client(production, monkeypatch, FakeDynamoDB())
    event = {"Records": [insert(make_record, 1, 1), insert(make_record, 2, 2,
                                                           fail_mode={"S": "raise"})]}

    # when / then
    with pytest.raises(production.InjectedFailureError):
        production.lambda_handler(event, None)
    assert client.calls == []


def test_a_lone_raise_record_is_raised_as_itself(production, monkeypatch, make_record):
    # given: every record failing would otherwise surface as BatchProcessingError
    use_client(production, monkeypatch, FakeDynamoDB())
    event = {"Records": [insert(make_record, 1, 1, fail_mode={"S": "raise"})]}

    # when / then
    with pytest.raises(production.InjectedFailureError, match="fail_mode=raise"):
        production.lambda_handler(event, None)


def test_timeout_sleeps_past_the_deadline(
    production, monkeypatch, make_record, lambda_context, sleeps
):
    # given
    use_client(production, monkeypatch, FakeDynamoDB())
    lambda_context.remaining_millis = 1_500
    event = {"Records": [insert(make_record, 1, 1, fail_mode={"S": "timeout"})]}

    # when / then
    with pytest.raises(production.InjectedFailureError, match="still running"):
        production.lambda_handler(event, lambda_context)
    assert sleeps == [1.5 + production.TIMEOUT_MARGIN_SECONDS]


@pytest.mark.parametrize("event_name", ["keys_only", "old_image"])
def test_a_stream_without_new_images_fails_every_record(
    production, monkeypatch, load_event, event_name
):
    # given
    client = use_client(production, monkeypatch, FakeDynamoDB())

    # when / then
    with pytest.raises(BatchProcessingError, match="All records failed"):
        production.lambda_handler(load_event(event_name), None)
    assert client.calls == []
    assert any(
        isinstance(error, production.StreamViewTypeError)
        for _, error, _ in production.processor.exceptions
    )


def test_production_replica_table_comes_from_the_environment(
    production, monkeypatch, load_event
):
    # given
    monkeypatch.setenv("REPLICA_TABLE", "other_replica")
    client = use_client(production, monkeypatch, FakeDynamoDB())

    # when
    production.lambda_handler(load_event("new_image"), None)

    # then
    assert set(client.calls[0]) == {"other_replica"}


@pytest.mark.parametrize("value", [{"S": "explode"}, {"N": "1"}])
def test_a_fail_mode_that_is_not_a_known_string_fails_that_record(
    production, monkeypatch, make_record, value
):
    # given
    client = use_client(production, monkeypatch, FakeDynamoDB())
    event = {"Records": [insert(make_record, 1, 1), insert(make_record, 2, 2, fail_mode=value)]}

    # when
    response = production.lambda_handler(event, None)

    # then
    assert response == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert client.item(REPLICA, PK="request#2") is None
