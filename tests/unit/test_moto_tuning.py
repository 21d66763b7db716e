"""moto's server mode answers the same with the per-request costs removed."""

from __future__ import annotations

import inspect
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto.core import responses, utils
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server import werkzeug_app
from werkzeug.test import EnvironBuilder

from localaws import moto_tuning


@pytest.fixture(scope="module")
def app():
    moto_tuning.install()
    return werkzeug_app.DomainDispatcherApplication(werkzeug_app.create_backend_app)


def _call(app, target: str, body: dict) -> tuple[int, dict]:
    environ = EnvironBuilder(
        method="POST", path="/", base_url="http://127.0.0.1:4566", data=json.dumps(body),
        headers={"X-Amz-Target": f"DynamoDB_20120810.{target}",
                 "Content-Type": "application/x-amz-json-1.0",
                 "Authorization": "AWS4-HMAC-SHA256 Credential=test/20261203/us-east-1/"
                                  "dynamodb/aws4_request, SignedHeaders=host, Signature=x"},
    ).get_environ()
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = int(status.split()[0])

    payload = b"".join(app(environ, start_response))
    return answer["status"], json.loads(payload or b"{}")


def test_method_names_are_the_same_as_inspect_lists_and_made_once():
    # given the tuning installed
    moto_tuning.install()
    # when the method names of a response class are asked for twice
    first = responses.method_names_from_class(DynamoHandler)
    second = responses.method_names_from_class(DynamoHandler)
    # then they are inspect's list, computed once
    expected = [name for name, _ in inspect.getmembers(DynamoHandler, inspect.isfunction)]
    assert first == expected == utils.method_names_from_class(DynamoHandler)
    assert first is second


def test_moto_apps_run_without_debug_but_still_propagate_errors(app):
    # given moto's DynamoDB app built through the dispatcher
    status, _ = _call(app, "ListTables", {})
    flask_app = app.app_instances["dynamodb"]
    # then debug is off, and errors surface exactly as in debug mode
    assert status == 200
    assert flask_app.debug is False
    assert flask_app.jinja_env.auto_reload is False
    assert flask_app.config["PROPAGATE_EXCEPTIONS"] is True
    assert flask_app.config["TRAP_BAD_REQUEST_ERRORS"] is None


def test_an_unknown_table_still_gets_awss_error(app):
    # when a write names a table that does not exist
    status, body = _call(app, "PutItem", {"TableName": "missing", "Item": {"k": {"S": "v"}}})
    # then the answer is DynamoDB's error, as before
    assert status == 400
    assert body["__type"].endswith("ResourceNotFoundException")
    assert body["message"] == "Requested resource not found"


@pytest.mark.parametrize("body", [
    '{"Item": {"pk": {"S": "x"}}}',
    "<Response><RequestId>old</RequestId></Response>",
    b"binary",
    "",
])
def test_responses_are_enriched_as_moto_enriches_them(body):
    # given the tuning installed, and moto's own enrichment on a copy of the input
    moto_tuning.install()
    from moto.moto_api._internal import mock_random

    mock_random.seed(7)
    ours_headers, ours_body = responses.BaseResponse._enrich_response({"status": 200}, body)
    mock_random.seed(7)
    request_id = mock_random.get_random_string(length=52)
    # then the status is a string, the request id is set (and in an XML body), rest unchanged
    assert ours_headers == {"status": "200", "x-amzn-requestid": request_id}
    if isinstance(body, str) and "<RequestId>" in body:
        assert ours_body == f"<Response><RequestId>{request_id}</RequestId></Response>"
    else:
        assert ours_body == body


def test_a_statement_names_its_table_and_its_indexes_even_with_dots_in_names():
    # given
    tables = {"orders": 1, "my.table": 2, "other": 3}
    # when
    named = moto_tuning.named_tables(tables, ['"my.table"."by-status"', "orders"])
    # then
    assert named == {"orders": 1, "my.table": 2}


@pytest.fixture
def partiql_tables(monkeypatch):
    """A mocked DynamoDB with a 60-item table beside a small one, counting item conversions."""
    import boto3
    from moto import mock_aws
    from moto.dynamodb.models.dynamo_type import Item

    moto_tuning.install()
    converted = []
    original = Item.to_json
    monkeypatch.setattr(Item, "to_json", lambda self: converted.append(1) or original(self))
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="k",
                           aws_secret_access_key="s")
        for name in ("big", "small"):
            ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        for i in range(60):
            ddb.put_item(TableName="big", Item={"pk": {"S": str(i)}})
        ddb.put_item(TableName="small", Item={"pk": {"S": "a"}, "v": {"S": "1"}})
        converted.clear()
        yield ddb, converted


def test_a_partiql_statement_reads_only_the_table_it_names(partiql_tables):
    # given
    ddb, converted = partiql_tables
    # when
    ddb.execute_statement(Statement="UPDATE \"small\" SET v = '2' WHERE pk = 'a'")
    got = ddb.execute_statement(Statement="SELECT * FROM \"small\" WHERE pk = 'a'")["Items"]
    # then: the answer is moto's, and the 60 items of "big" were never converted
    assert got == [{"pk": {"S": "a"}, "v": {"S": "2"}}]
    assert 0 < len(converted) < 60


def test_a_partiql_statement_on_a_missing_table_is_refused_as_before(partiql_tables):
    # given
    ddb, _ = partiql_tables
    # when
    with pytest.raises(ddb.exceptions.ClientError) as error:
        ddb.execute_statement(Statement="SELECT * FROM \"nowhere\" WHERE pk = 'a'")
    # then
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def _serializers(service: str, operation: str):
    """moto's JSON serializer for ``operation``, tuned and as moto ships it."""
    from moto.core.serialize import JSONSerializer, XFormedAttributePicker
    from moto.core.utils import get_service_model

    moto_tuning.install()

    class Untuned(JSONSerializer):
        _serialize_type_structure = JSONSerializer._serialize_type_structure.__wrapped__

    model = get_service_model(service).operation_model(operation)
    return (JSONSerializer(model, value_picker=XFormedAttributePicker()),
            Untuned(model, value_picker=XFormedAttributePicker()))


_scalars = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=5)),
    st.builds(lambda n: {"N": str(n)}, st.integers()),
    st.builds(lambda b: {"B": b}, st.binary(max_size=5)),
    st.builds(lambda ss: {"SS": ss}, st.lists(st.text(max_size=3), min_size=1, max_size=3)),
    st.builds(lambda ns: {"NS": [str(n) for n in ns]}, st.lists(st.integers(), min_size=1,
                                                                   max_size=3)),
    st.builds(lambda bs: {"BS": bs}, st.lists(st.binary(max_size=3), min_size=1, max_size=3)),
    st.just({"NULL": True}),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
)
_attribute_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.builds(lambda m: {"M": m}, st.dictionaries(st.text(min_size=1, max_size=3),
                                                  st.one_of(inner, st.none()), max_size=3)),
    st.builds(lambda xs: {"L": xs}, st.lists(st.one_of(inner, st.none()), max_size=3)),
), max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(items=st.lists(st.dictionaries(st.text(min_size=1, max_size=4), _attribute_values,
                                      max_size=4), max_size=3))
def test_scanned_items_are_written_byte_for_byte_as_moto_writes_them(items):
    # given moto's serializer for a Scan answer, with and without the direct path
    tuned, untuned = _serializers("dynamodb", "Scan")
    result = {"Items": items, "Count": len(items), "ScannedCount": len(items)}
    # when both write the answer
    ours, theirs = tuned.serialize(result), untuned.serialize(result)
    # then the bodies are the same bytes (binary base64-encoded once, member order kept)
    assert ours["body"] == theirs["body"]
    assert ours["headers"] == theirs["headers"]


@pytest.mark.parametrize("value", [
    {"S": "x", "Extra": "y"},           # a key the model does not have
    {"M": {"a": {"S": "x", "s": "y"}}},  # one nested deeper
    {"L": ["not an attribute value"]},
])
def test_a_value_of_another_form_goes_through_moto_as_before(value):
    # given
    tuned, untuned = _serializers("dynamodb", "GetItem")
    result = {"Item": {"k": value}}
    # when / then
    assert tuned.serialize(result)["body"] == untuned.serialize(result)["body"]


def test_a_nested_empty_map_key_keeps_its_value_where_moto_lost_it():
    # given a map holding a value under the empty key
    tuned, untuned = _serializers("dynamodb", "GetItem")
    result = {"Item": {"doc": {"M": {"": {"S": "kept"}, "b": {"N": "1"}}}}}
    # when both write it
    ours, theirs = (json.loads(s.serialize(result)["body"]) for s in (tuned, untuned))
    # then ours returns the item as stored; moto wrote the value's members into the map
    assert ours == {"Item": {"doc": {"M": {"": {"S": "kept"}, "b": {"N": "1"}}}}}
    assert theirs == {"Item": {"doc": {"M": {"S": "kept", "b": {"N": "1"}}}}}


def test_stream_records_are_written_as_moto_writes_them():
    # given a GetRecords answer of DynamoDB Streams, binary keys and nested images
    tuned, untuned = _serializers("dynamodbstreams", "GetRecords")
    image = {"pk": {"B": b"\x00\xff"}, "doc": {"M": {"n": {"N": "1"}, "l": {"L": [{"S": "a"}]}}}}
    result = {"Records": [{"eventName": "INSERT", "dynamodb": {
        "Keys": {"pk": image["pk"]}, "NewImage": image, "SequenceNumber": "1",
        "SizeBytes": 10, "StreamViewType": "NEW_IMAGE"}}]}
    # when / then
    assert tuned.serialize(result)["body"] == untuned.serialize(result)["body"]


def _stored(value):
    """An attribute value as moto stores it (binary as base64 text, as from the wire)."""
    import base64

    from moto.dynamodb.models.dynamo_type import DynamoType

    def wire(v):
        kind, inner = next(iter(v.items()))
        if kind == "B":
            return {"B": base64.b64encode(inner).decode()}
        if kind == "BS":
            return {"BS": [base64.b64encode(b).decode() for b in inner]}
        if kind == "M":
            return {"M": {k: wire(x) for k, x in inner.items() if x is not None}}
        if kind == "L":
            return {"L": [wire(x) for x in inner if x is not None]}
        return v

    return DynamoType(wire(value))


def _moto(cls, name):
    moto_tuning.install()
    return getattr(cls, name).__wrapped__


@settings(max_examples=200, deadline=None)
@given(attrs=st.dictionaries(st.text(min_size=1, max_size=4), _attribute_values, max_size=5))
def test_an_item_is_measured_and_copied_as_moto_measures_and_copies_it(attrs):
    # given a stored item, and moto's own size and copy
    import copy

    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    item = Item(DynamoType({"S": "key"}), None, {k: _stored(v).to_json() for k, v in
                                                 attrs.items()})
    # when
    ours, theirs = copy.deepcopy(item), _moto(Item, "__deepcopy__")(item, {})
    # then: the same size, equal copies, and no mutable value shared with the table
    assert item.size() == _moto(Item, "size")(item)
    assert all(v.size() == _moto(DynamoType, "size")(v) for v in item.attrs.values())
    assert ours == theirs == item
    assert ours.to_json() == theirs.to_json()
    for key, value in item.attrs.items():
        assert ours.attrs[key] is not value
        if isinstance(value.value, list | dict):
            assert ours.attrs[key].value is not value.value


def _built(init, attrs):
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    item = Item.__new__(Item)
    try:
        init(item, DynamoType({"S": "key"}), None, attrs)
    except ItemSizeTooLarge:
        return "ItemSizeTooLarge"
    return type(item.attrs), item.to_json()


@settings(max_examples=200, deadline=None)
@given(attrs=st.dictionaries(st.text(min_size=1, max_size=4), _attribute_values, max_size=8))
def test_a_new_item_holds_what_moto_made_of_it(attrs):
    # given
    from moto.dynamodb.models.dynamo_type import Item

    wire = {k: _stored(v).to_json() for k, v in attrs.items()}
    # when / then
    assert _built(Item.__init__, wire) == _built(_moto(Item, "__init__"), wire)


@pytest.mark.parametrize("spare", [-1, 0, 1])
def test_an_item_over_the_size_limit_is_refused_where_moto_refused_it(spare):
    # given: three attributes whose sizes add up to the limit, give or take a byte
    from moto.dynamodb.models.dynamo_type import Item

    third = moto_tuning.ITEM_SIZE_LIMIT // 3
    attrs = {"a": {"S": "x" * (third - 1)}, "b": {"S": "y" * (third - 1)},
             "c": {"S": "z" * (moto_tuning.ITEM_SIZE_LIMIT - 2 * third - 1 + spare)}}
    # when
    ours, theirs = _built(Item.__init__, attrs), _built(_moto(Item, "__init__"), attrs)
    # then
    assert ours == theirs
    assert (ours == "ItemSizeTooLarge") is (spare > 0)


def test_the_endpoint_collects_garbage_less_often():
    # when
    moto_tuning.install()
    # then
    import gc

    assert gc.get_threshold()[0] == moto_tuning.GC_FIRST_GENERATION


def test_a_queue_counts_its_messages_as_moto_counts_them():
    # given: a queue with messages receivable, in flight and delayed
    import boto3
    from moto import mock_aws
    from moto.sqs.models import Queue, sqs_backends

    moto_tuning.install()
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="counted")["QueueUrl"]
        for i in range(6):
            sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=60)
        queue = sqs_backends["123456789012"]["us-east-1"].queues["counted"]
        # when
        ours = (queue.messages, queue.approximate_number_of_messages_delayed,
                queue.approximate_number_of_messages_not_visible)
        moto = tuple(getattr(Queue, name).fget.__wrapped__.fget(queue) for name in (
            "messages", "approximate_number_of_messages_delayed",
            "approximate_number_of_messages_not_visible"))
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    # then
    assert ours == moto
    assert (len(ours[0]), ours[1], ours[2]) == (4, 1, 2)
    assert [attributes[f"ApproximateNumberOfMessages{kind}"]
            for kind in ("", "Delayed", "NotVisible")] == ["4", "1", "2"]


# --------------------------------------------------------------------------- Select=COUNT

_FILTERS = {  # the parts of a Scan request that decide what is counted
    "none": {},
    "has b": {"FilterExpression": "attribute_exists(#b)", "ExpressionAttributeNames": {"#b": "b"}},
    "n > 1": {"FilterExpression": "n > :one", "ExpressionAttributeValues": {":one": {"N": "1"}}},
    "scan filter": {"ScanFilter": {"n": {"ComparisonOperator": "LE",
                                         "AttributeValueList": [{"N": "2"}]}}},
}


def _table_of(app, items: list[dict]) -> str:
    import uuid

    name = f"counted-{uuid.uuid4().hex[:8]}"
    _call(app, "CreateTable", {
        "TableName": name, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                      {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "N"}]})
    for item in items:
        assert _call(app, "PutItem", {"TableName": name, "Item": item})[0] == 200
    return name


def _pages(app, request: dict) -> list[tuple]:
    """Every page of a paginated Scan: (Count, ScannedCount, LastEvaluatedKey)."""
    pages, start = [], None
    while True:
        status, body = _call(app, "Scan", {**request, **({"ExclusiveStartKey": start}
                                                        if start else {})})
        assert status == 200, body
        start = body.get("LastEvaluatedKey")
        pages.append((body["Count"], body["ScannedCount"], start))
        if not start:
            return pages


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 3),
                               st.one_of(st.none(), st.integers(0, 4)), st.booleans()),
                     max_size=12),
       limit=st.one_of(st.none(), st.integers(1, 4)), kind=st.sampled_from(sorted(_FILTERS)))
def test_a_count_scan_pages_and_counts_as_moto_scans_the_items(app, rows, limit, kind):
    # given a table, and a Scan request with a filter and a page size
    items = {(pk, sk): {"pk": {"S": pk}, "sk": {"N": str(sk)},
                        **({"n": {"N": str(n)}} if n is not None else {}),
                        **({"b": {"BOOL": True}} if has_b else {})}
             for pk, sk, n, has_b in rows}
    name = _table_of(app, list(items.values()))
    request = {"TableName": name, **_FILTERS[kind], **({"Limit": limit} if limit else {})}
    # when it is counted, and when moto returns the items
    counted = _pages(app, {**request, "Select": "COUNT"})
    returned = _pages(app, request)
    # then the pages end at the same keys with the same counts
    assert counted == returned
    _call(app, "DeleteTable", {"TableName": name})


def test_a_count_scan_ends_its_pages_at_one_megabyte_as_moto_does(app):
    # given five items of about 300 KB: a page holds three of them
    name = _table_of(app, [{"pk": {"S": "p"}, "sk": {"N": str(i)}, "blob": {"S": "x" * 300_000}}
                           for i in range(5)])
    # when
    counted = _pages(app, {"TableName": name, "Select": "COUNT"})
    returned = _pages(app, {"TableName": name})
    # then
    assert counted == returned
    assert [count for count, _, _ in counted] == [3, 2]


def test_a_count_scan_copies_no_item(app, monkeypatch):
    # given a table of four items, and every item copy counted
    from moto.dynamodb.models.dynamo_type import Item

    name = _table_of(app, [{"pk": {"S": "p"}, "sk": {"N": str(i)}} for i in range(4)])
    copies = []
    copy_item = Item.__deepcopy__
    monkeypatch.setattr(Item, "__deepcopy__",
                        lambda self, memo: copies.append(self) or copy_item(self, memo))
    # when it is counted, then scanned for its items
    _pages(app, {"TableName": name, "Select": "COUNT"})
    counted_copies = len(copies)
    _pages(app, {"TableName": name})
    # then only the scan that returns items copied them
    assert counted_copies == 0
    assert len(copies) == 4


# -- update expressions ------------------------------------------------------------------------

def _update(app, name: str, expression: str, values: dict, names: dict | None = None):
    request = {"TableName": name, "Key": {"pk": {"S": "p"}, "sk": {"N": "1"}},
               "UpdateExpression": expression, "ExpressionAttributeValues": values,
               "ReturnValues": "ALL_NEW"}
    if names:
        request["ExpressionAttributeNames"] = names
    return _call(app, "UpdateItem", request)


def test_an_update_expression_is_parsed_once_and_its_tree_stays_as_parsed(app):
    # given an item, and the tree moto parsed for an expression
    import pickle

    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    name = _table_of(app, [{"pk": {"S": "p"}, "sk": {"N": "1"}, "n": {"N": "0"}}])
    text = "SET n = n + :one, #s = :s"
    tree = UpdateExpressionParser.make(text)
    before = pickle.dumps(tree)
    # when the same expression updates the item three times, with other values each time
    answers = [_update(app, name, text, {":one": {"N": "1"}, ":s": {"S": status}}, {"#s": "status"})
               for status in ("PENDING", "SHIPPED", "DELIVERED")]
    # then each update used its own values, and the kept tree was never changed
    assert [a[1]["Attributes"]["n"] for a in answers] == [{"N": "1"}, {"N": "2"}, {"N": "3"}]
    assert answers[-1][1]["Attributes"]["status"] == {"S": "DELIVERED"}
    assert UpdateExpressionParser.make(text) is tree
    assert pickle.dumps(tree) == before


def test_an_update_expression_that_does_not_parse_is_refused_every_time(app):
    # given
    name = _table_of(app, [{"pk": {"S": "p"}, "sk": {"N": "1"}}])
    # when the same malformed expression is sent twice
    first, second = (_update(app, name, "SET n = = :one", {":one": {"N": "1"}})
                     for _ in range(2))
    # then both get moto's ValidationException, word for word
    assert first == second
    assert first[0] == 400 and first[1]["__type"].endswith("ValidationException")
    assert "Invalid UpdateExpression: Syntax error" in first[1]["message"]
