"""Unit tests for ``lambda_src/replicator/ddbreplica_lambda.py`` (no endpoint, no network).

The DynamoDB client is :class:`FakeDynamoDB`, an in-memory table store that checks
requests the way DynamoDB does (at most 25 requests, no two on one key, numbers as
text, binaries as bytes) and can leave chosen requests unprocessed.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import pytest
from botocore.exceptions import ClientError


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


def log_key(request_id: int) -> dict:
    return {"PK": {"S": f"request#{request_id}"}}


def log_image(request_id: int, **extra: dict) -> dict:
    return {**log_key(request_id), "requestid": {"N": str(request_id)}, **extra}


def seq(number: int) -> str:
    return f"{700000000000000000000 + number}"


@pytest.fixture
def sleeps(replicator, monkeypatch) -> list[float]:
    """Records the replicator's pauses instead of sleeping."""
    slept: list[float] = []
    monkeypatch.setattr(replicator, "_sleep", slept.append)
    return slept


# --- puts and deletes ------------------------------------------------------------------


@pytest.mark.parametrize("event_name", ["new_image", "new_and_old_images"])
def test_inserts_and_modifies_are_put_and_removes_deleted(
    replicator, load_event, event_name, caplog
):
    # given
    client = FakeDynamoDB()
    client.put("logfile_replica", log_image(4003))
    event = load_event(event_name)

    # when
    response = replicator.lambda_handler(event, None, client=client)

    # then
    assert client.item("logfile_replica", PK="request#4001")["bytessent"] == {"N": "7989"}
    modified = client.item("logfile_replica", PK="request#4002")
    assert modified["responsecode"] == {"N": "500"}
    assert modified["servererror"] == {"S": "5xx"}
    assert client.item("logfile_replica", PK="request#4003") is None
    assert (response["puts"], response["deletes"], response["failed"]) == (2, 1, 0)
    assert (
        "Replicated 3 records into logfile_replica: 2 puts, 1 deletes, 0 collapsed, 0 failed"
        in caplog.messages
    )


def test_put_item_is_the_new_image_exactly(replicator, load_event):
    # given
    client = FakeDynamoDB()
    event = load_event("new_and_old_images")

    # when
    replicator.lambda_handler(event, None, client=client)

    # then
    assert (
        client.item("logfile_replica", PK="request#4002")
        == (event["Records"][1]["dynamodb"]["NewImage"])
    )


@pytest.mark.parametrize("event_name", ["keys_only", "old_image"])
@pytest.mark.parametrize("partial", ["false", "true"])
def test_streams_without_new_images_are_refused(
    replicator, load_event, monkeypatch, event_name, partial
):
    # given
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", partial)
    client = FakeDynamoDB()

    # when / then
    with pytest.raises(replicator.StreamViewTypeError, match="NEW_IMAGE or NEW_AND_OLD_IMAGES"):
        replicator.lambda_handler(load_event(event_name), None, client=client)
    assert client.calls == []


def test_insert_without_new_image_is_refused(replicator, make_record):
    # given: a record that names no view type and carries no image
    record = make_record("INSERT", log_key(1), view_type="KEYS_ONLY")
    del record["dynamodb"]["StreamViewType"]

    # when / then
    with pytest.raises(replicator.StreamViewTypeError, match="no NewImage"):
        replicator.lambda_handler({"Records": [record]}, None, client=FakeDynamoDB())


def test_table_comes_from_the_replica_table_variable(replicator, make_record, monkeypatch):
    # given
    monkeypatch.setenv("REPLICA_TABLE", "my_replica")
    client = FakeDynamoDB()
    event = {"Records": [make_record("INSERT", log_key(1), new_image=log_image(1))]}

    # when
    response = replicator.lambda_handler(event, None, client=client)

    # then
    assert response["table"] == "my_replica"
    assert list(client.calls[0]) == ["my_replica"]


def test_default_table_is_logfile_replica(replicator):
    # given / when / then
    assert replicator.replica_table_name() == "logfile_replica"


# --- exact values --------------------------------------------------------------------


def test_numbers_reach_the_replica_digit_for_digit(replicator, make_record):
    # given
    big = "12345678901234567890123456789012345678"
    image = log_image(
        1,
        price={"N": "279.99"},
        big={"N": big},
        tiny={"N": "-0.000000000000000000000000000000000001"},
        ratings={"NS": ["4.5", "1E+2"]},
        nested={"M": {"weight": {"N": "1.250"}, "list": {"L": [{"N": "3.14159"}]}}},
    )
    client = FakeDynamoDB()
    event = {"Records": [make_record("INSERT", log_key(1), new_image=image)]}

    # when
    replicator.lambda_handler(event, None, client=client)

    # then
    stored = client.item("logfile_replica", PK="request#1")
    assert stored["price"] == {"N": "279.99"}
    assert stored["big"] == {"N": big}
    assert stored["tiny"] == {"N": "-0.000000000000000000000000000000000001"}
    assert stored["ratings"] == {"NS": ["4.5", "1E+2"]}
    assert stored["nested"]["M"]["weight"] == {"N": "1.250"}
    assert stored["nested"]["M"]["list"] == {"L": [{"N": "3.14159"}]}


def test_binaries_are_decoded_from_base64_to_bytes(replicator, make_record):
    # given
    image = log_image(
        1,
        payload={"B": "Zm9vYmFy"},
        chunks={"BS": ["AAE=", "/w=="]},
        nested={"M": {"raw": {"B": "AA=="}, "list": {"L": [{"B": "YmFy"}]}}},
    )
    client = FakeDynamoDB()
    event = {"Records": [make_record("INSERT", log_key(1), new_image=image)]}

    # when
    replicator.lambda_handler(event, None, client=client)

    # then
    stored = client.item("logfile_replica", PK="request#1")
    assert stored["payload"] == {"B": b"foobar"}
    assert stored["chunks"] == {"BS": [b"\x00\x01", b"\xff"]}
    assert stored["nested"]["M"]["raw"] == {"B": b"\x00"}
    assert stored["nested"]["M"]["list"] == {"L": [{"B": b"bar"}]}


def test_binary_keys_are_decoded_for_deletes(replicator, make_record):
    # given
    client = FakeDynamoDB(key_names=("id",))
    client.put("logfile_replica", {"id": {"B": b"\x01\x02"}, "v": {"S": "x"}})
    event = {"Records": [make_record("REMOVE", {"id": {"B": "AQI="}})]}

    # when
    replicator.lambda_handler(event, None, client=client)

    # then
    assert client.tables["logfile_replica"] == {}
    assert client.calls[0]["logfile_replica"] == [
        {"DeleteRequest": {"Key": {"id": {"B": b"\x01\x02"}}}}
    ]


def test_binary_that_is_not_base64_fails_the_batch(replicator, make_record):
    # given
    image = log_image(1, payload={"B": "***"})
    event = {"Records": [make_record("INSERT", log_key(1), new_image=image)]}

    # when / then
    with pytest.raises(replicator.RecordFormatError, match="not valid base64"):
        replicator.lambda_handler(event, None, client=FakeDynamoDB())


# --- batching and collapsing ------------------------------------------------------------


def test_changes_to_one_key_collapse_to_the_last_one(replicator, make_record, caplog):
    # given: INSERT, MODIFY, REMOVE of request#1, then an INSERT of request#2
    records = [
        make_record("INSERT", log_key(1), new_image=log_image(1), sequence_number=seq(1)),
        make_record(
            "MODIFY", log_key(1), new_image=log_image(1, v={"N": "2"}), sequence_number=seq(2)
        ),
        make_record("REMOVE", log_key(1), old_image=log_image(1), sequence_number=seq(3)),
        make_record("INSERT", log_key(2), new_image=log_image(2), sequence_number=seq(4)),
    ]
    client = FakeDynamoDB()
    client.put("logfile_replica", log_image(1))

    # when
    response = replicator.lambda_handler({"Records": records}, None, client=client)

    # then
    assert client.calls == [
        {
            "logfile_replica": [
                {"DeleteRequest": {"Key": log_key(1)}},
                {"PutRequest": {"Item": log_image(2)}},
            ]
        }
    ]
    assert client.item("logfile_replica", PK="request#1") is None
    assert (response["puts"], response["deletes"], response["collapsed"]) == (1, 1, 2)
    assert any("1 puts, 1 deletes, 2 collapsed" in m for m in caplog.messages)


def test_delete_then_insert_of_one_key_collapses_to_the_put(replicator, make_record):
    # given
    newer = log_image(1, v={"S": "again"})
    records = [
        make_record("REMOVE", log_key(1), sequence_number=seq(1)),
        make_record("INSERT", log_key(1), new_image=newer, sequence_number=seq(2)),
    ]
    client = FakeDynamoDB()

    # when
    replicator.lambda_handler({"Records": records}, None, client=client)

    # then
    assert client.calls == [{"logfile_replica": [{"PutRequest": {"Item": newer}}]}]


def test_collapse_remembers_the_first_record_of_each_key(replicator):
    # given
    writes = [
        replicator.Write("a", "put", {"PutRequest": {}}, 0),
        replicator.Write("b", "put", {"PutRequest": {}}, 1),
        replicator.Write("a", "delete", {"DeleteRequest": {}}, 2),
    ]

    # when
    collapsed = replicator.collapse(writes)

    # then
    assert [(w.key_id, w.operation, w.first_position, w.records) for w in collapsed] == [
        ("a", "delete", 0, 2),
        ("b", "put", 1, 1),
    ]


def test_writes_go_out_in_requests_of_25(replicator, make_record):
    # given
    records = [
        make_record("INSERT", log_key(i), new_image=log_image(i), sequence_number=seq(i))
        for i in range(60)
    ]
    client = FakeDynamoDB()

    # when
    response = replicator.lambda_handler({"Records": records}, None, client=client)

    # then
    assert [len(call["logfile_replica"]) for call in client.calls] == [25, 25, 10]
    assert len(client.tables["logfile_replica"]) == 60
    assert response["puts"] == 60


# --- UnprocessedItems ---------------------------------------------------------------------


def test_unprocessed_items_are_sent_again_with_backoff(replicator, make_record, sleeps):
    # given: the first call leaves 2 requests, the second 1
    records = [
        make_record("INSERT", log_key(i), new_image=log_image(i), sequence_number=seq(i))
        for i in range(5)
    ]
    client = FakeDynamoDB(unprocessed_per_call=[2, 1])

    # when
    replicator.lambda_handler({"Records": records}, None, client=client)

    # then
    assert [len(call["logfile_replica"]) for call in client.calls] == [5, 2, 1]
    assert len(client.tables["logfile_replica"]) == 5
    assert sleeps == [0.05, 0.1]


def test_unprocessed_items_after_every_attempt_fail_the_batch(replicator, make_record, sleeps):
    # given
    records = [make_record("INSERT", log_key(1), new_image=log_image(1))]
    client = FakeDynamoDB(stuck_keys={"request#1"})

    # when / then
    with pytest.raises(replicator.BatchWriteError, match="still unprocessed"):
        replicator.lambda_handler({"Records": records}, None, client=client)
    assert len(client.calls) == replicator.MAX_WRITE_ATTEMPTS
    assert len(sleeps) == replicator.MAX_WRITE_ATTEMPTS - 1
    assert max(sleeps) <= replicator.BACKOFF_CAP_SECONDS


def test_backoff_doubles_up_to_the_cap(replicator):
    # given / when
    delays = [replicator.backoff_seconds(attempt) for attempt in range(1, 10)]

    # then
    assert delays[:4] == [0.05, 0.1, 0.2, 0.4]
    assert delays[-1] == replicator.BACKOFF_CAP_SECONDS


def test_stuck_key_reports_its_first_record_and_all_later_ones(
    replicator, make_record, monkeypatch, sleeps, failed_sequence_numbers
):
    # given: request#3 is never processed; its first change is record 2
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")
    records = [
        make_record("INSERT", log_key(1), new_image=log_image(1), sequence_number=seq(1)),
        make_record("INSERT", log_key(3), new_image=log_image(3), sequence_number=seq(2)),
        make_record("INSERT", log_key(4), new_image=log_image(4), sequence_number=seq(3)),
        make_record("REMOVE", log_key(3), sequence_number=seq(4)),
    ]
    client = FakeDynamoDB(stuck_keys={"request#3"})

    # when
    response = replicator.lambda_handler({"Records": records}, None, client=client)

    # then
    assert failed_sequence_numbers(response) == [seq(2), seq(3), seq(4)]
    assert client.item("logfile_replica", PK="request#1") is not None
    assert response["failed"] == 3


def test_client_error_fails_the_batch_without_partial_mode(replicator, make_record):
    # given
    client = FakeDynamoDB(error=_validation_error("One or more parameter values were invalid"))
    records = [make_record("INSERT", log_key(1), new_image=log_image(1))]

    # when / then
    with pytest.raises(replicator.BatchWriteError, match="ValidationException") as caught:
        replicator.lambda_handler({"Records": records}, None, client=client)
    assert isinstance(caught.value.__cause__, ClientError)


def test_client_error_reports_the_whole_batch_in_partial_mode(
    replicator, make_record, monkeypatch, failed_sequence_numbers
):
    # given
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")
    client = FakeDynamoDB(error=_validation_error("Requested resource not found"))
    records = [
        make_record("INSERT", log_key(i), new_image=log_image(i), sequence_number=seq(i))
        for i in range(3)
    ]

    # when
    response = replicator.lambda_handler({"Records": records}, None, client=client)

    # then
    assert failed_sequence_numbers(response) == [seq(0), seq(1), seq(2)]


# --- poison records and the failure switch ------------------------------------------------


def poison_batch(make_record, mode: str) -> dict:
    return {
        "Records": [
            make_record("INSERT", log_key(1), new_image=log_image(1), sequence_number=seq(1)),
            make_record(
                "INSERT",
                log_key(2),
                new_image=log_image(2, fail_mode={"S": mode}),
                sequence_number=seq(2),
            ),
            make_record("INSERT", log_key(3), new_image=log_image(3), sequence_number=seq(3)),
        ]
    }


def test_poison_record_in_the_middle_is_reported_with_the_rest_in_partial_mode(
    replicator, make_record, monkeypatch, failed_sequence_numbers, caplog
):
    # given
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")
    client = FakeDynamoDB()

    # when
    response = replicator.lambda_handler(poison_batch(make_record, "report"), None, client=client)

    # then
    assert failed_sequence_numbers(response) == [seq(2), seq(3)]
    assert client.item("logfile_replica", PK="request#1") is not None
    assert client.item("logfile_replica", PK="request#3") is None
    assert any("1 puts, 0 deletes, 0 collapsed, 2 failed" in m for m in caplog.messages)


def test_poison_record_fails_the_batch_and_writes_nothing_without_partial_mode(
    replicator, make_record
):
    # given
    client = FakeDynamoDB()

    # when / then
    with pytest.raises(replicator.RecordFailedError, match="fail_mode=report"):
        replicator.lambda_handler(poison_batch(make_record, "report"), None, client=client)
    assert client.calls == []


def test_fail_mode_raise_fails_the_invocation_even_in_partial_mode(
    replicator, make_record, monkeypatch
):
    # given
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")

    # when / then
    with pytest.raises(replicator.InjectedFailureError, match="fail_mode=raise"):
        replicator.lambda_handler(poison_batch(make_record, "raise"), None, client=FakeDynamoDB())


def test_fail_mode_timeout_sleeps_past_the_remaining_time(
    replicator, make_record, sleeps, lambda_context
):
    # given
    lambda_context.remaining_millis = 60_000

    # when / then
    with pytest.raises(replicator.InjectedTimeoutError):
        replicator.lambda_handler(
            poison_batch(make_record, "timeout"), lambda_context, client=FakeDynamoDB()
        )
    assert sleeps == [60.0 + replicator.TIMEOUT_MARGIN_SECONDS]


def test_fail_mode_of_a_remove_is_read_from_the_old_image(
    replicator, make_record, monkeypatch, failed_sequence_numbers
):
    # given
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")
    old = log_image(1, fail_mode={"S": "report"})
    event = {"Records": [make_record("REMOVE", log_key(1), old_image=old, sequence_number=seq(1))]}

    # when
    response = replicator.lambda_handler(event, None, client=FakeDynamoDB())

    # then
    assert failed_sequence_numbers(response) == [seq(1)]


def test_remove_on_a_new_image_stream_has_no_switch_to_read(replicator, make_record):
    # given: the replica's copy has a switch, but the REMOVE record carries only Keys
    image = log_image(1, fail_mode={"S": "report"})
    event = {"Records": [make_record("REMOVE", log_key(1), view_type="NEW_IMAGE")]}
    client = FakeDynamoDB()
    client.put("logfile_replica", image)

    # when
    replicator.lambda_handler(event, None, client=client)

    # then
    assert client.tables["logfile_replica"] == {}


def test_unknown_event_name_is_reported_in_partial_mode(
    replicator, make_record, monkeypatch, failed_sequence_numbers
):
    # given
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")
    records = [
        make_record("INSERT", log_key(1), new_image=log_image(1), sequence_number=seq(1)),
        make_record("UPSERT", log_key(2), new_image=log_image(2), sequence_number=seq(2)),
    ]

    # when
    response = replicator.lambda_handler({"Records": records}, None, client=FakeDynamoDB())

    # then
    assert failed_sequence_numbers(response) == [seq(2)]


def test_partial_mode_without_failures_returns_an_empty_failure_list(
    replicator, load_event, monkeypatch
):
    # given
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")

    # when
    response = replicator.lambda_handler(load_event("new_image"), None, client=FakeDynamoDB())

    # then
    assert response["batchItemFailures"] == []


def test_event_without_records_is_an_error(replicator):
    # given / when / then
    with pytest.raises(replicator.RecordFormatError, match="Records"):
        replicator.lambda_handler({"hello": "world"}, None, client=FakeDynamoDB())


# --- the client ----------------------------------------------------------------------------


def test_client_is_created_on_first_use_and_reused(replicator, monkeypatch):
    # given
    import boto3

    created: list[tuple] = []

    def fake_client(*args: Any, **kwargs: Any) -> FakeDynamoDB:
        created.append((args, kwargs))
        return FakeDynamoDB()

    monkeypatch.setattr(boto3, "client", fake_client)
    assert created == []  # importing the module created nothing

    # when
    replicator.lambda_handler({"Records": []}, None)
    replicator.lambda_handler({"Records": []}, None)

    # then
    assert len(created) == 1
    assert created[0][0] == ("dynamodb",)
