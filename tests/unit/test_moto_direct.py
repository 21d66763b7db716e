"""moto's DynamoDB handler called directly answers as moto's Flask app does."""

from __future__ import annotations

import json
import re

import pytest
from werkzeug.test import EnvironBuilder

from localaws import moto_setup
from localaws.moto_direct import DirectDynamoDB, is_direct

AUTH = ("AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date;x-amz-target, Signature=abc")
# Headers that differ between two answers by nature: the request id and the body's CRC
# (the bodies name different tables), and moto's CORS headers, which the pipeline drops
# (Gate.finish) and the direct path does not make.
_VOLATILE = ("x-amzn-requestid", "x-amz-crc32")
# Times and ids moto makes per table.
_MASK = re.compile(rb"\d{10}\.\d+|\d{4}-\d\d-\d\dT[\d:.]+|[0-9a-f]{8}-[0-9a-f-]{27}")


@pytest.fixture(scope="module")
def apps():
    moto_setup.prepare()
    from localaws import streams
    from localaws.streams.settings import StreamSettings

    streams.install(StreamSettings())
    direct = moto_setup.application()
    return direct.dispatcher, direct


def _environ(operation: str, body: bytes, service: str = "dynamodb", path: str = "/",
             target_prefix: str = "DynamoDB_20120810") -> dict:
    return EnvironBuilder(
        method="POST", path=path, base_url="http://127.0.0.1:4566", data=body,
        headers={"X-Amz-Target": f"{target_prefix}.{operation}",
                 "Content-Type": "application/x-amz-json-1.0",
                 "Authorization": AUTH.format(service=service),
                 "X-Amz-Date": "20261207T000000Z"},
    ).get_environ()


def _answer(app, environ: dict) -> tuple[str, list[tuple[str, str]], bytes]:
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, headers

    body = b"".join(app(environ, start_response))
    # A time's digits vary in number (1796622465.3355 or .33552), so the length is
    # checked against the body here and the masked bodies are compared below.
    length = [v for k, v in seen["headers"] if k.lower() == "content-length"]
    assert length in ([], [str(len(body))]), (length, len(body))
    headers = [(k, v) for k, v in seen["headers"] if k.lower() not in _VOLATILE
               and not k.lower().startswith("access-control-")
               and k.lower() != "content-length"]
    return seen["status"], [*headers, ("Content-Length", bool(length))], _MASK.sub(b"X", body)


def _requests(table: str) -> list[tuple[str, bytes]]:
    key = {"pk": {"S": "a"}}

    def body(document) -> bytes:
        return json.dumps(document).encode()

    return [
        ("CreateTable", body({
            "TableName": table, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "StreamSpecification": {"StreamEnabled": True,
                                    "StreamViewType": "NEW_AND_OLD_IMAGES"}})),
        ("PutItem", body({"TableName": table, "Item": {**key, "n": {"N": "1"}}})),
        ("PutItem", body({"TableName": table, "Item": {**key, "n": {"N": "2"}},
                          "ReturnValues": "ALL_OLD"})),
        ("PutItem", body({"TableName": table, "Item": key,
                          "ConditionExpression": "attribute_not_exists(pk)"})),
        ("PutItem", body({"TableName": table, "Item": {"pk": {"N": "1"}}})),
        ("PutItem", body({"TableName": f"{table}-missing", "Item": key})),
        ("UpdateItem", body({"TableName": table, "Key": key, "UpdateExpression": "SET n = n + :o",
                             "ExpressionAttributeValues": {":o": {"N": "1"}},
                             "ReturnValues": "ALL_NEW", "ReturnConsumedCapacity": "TOTAL"})),
        ("UpdateItem", body({"TableName": table, "Key": key,
                             "UpdateExpression": "SET n = gone + :o",
                             "ExpressionAttributeValues": {":o": {"N": "1"}}})),
        ("BatchWriteItem", body({"RequestItems": {table: [
            {"PutRequest": {"Item": {"pk": {"S": f"b{i}"}}}} for i in range(3)]}})),
        ("BatchWriteItem", body({"RequestItems": {table: [
            {"PutRequest": {"Item": {"pk": {"S": "d"}}}}] * 2}})),
        ("TransactWriteItems", body({"TransactItems": [{"Put": {
            "TableName": table, "Item": {"pk": {"S": "z"}},
            "ConditionExpression": "attribute_exists(pk)"}}]})),
        ("GetItem", body({"TableName": table, "Key": key})),
        ("Scan", body({"TableName": table})),
        ("DeleteItem", body({"TableName": table, "Key": key, "ReturnValues": "ALL_OLD"})),
        ("DescribeTable", body({"TableName": table})),
        ("DeleteTable", body({"TableName": table})),
    ]


def test_every_answer_is_the_one_motos_flask_app_gives(apps):
    # given moto's Flask path and the direct path, each with a table of its own
    flask_path, direct = apps
    # when the same requests (writes, reads and refusals) go through each
    through_flask = [_answer(flask_path, _environ(op, body))
                     for op, body in _requests("direct-a")]
    through_direct = [_answer(direct, _environ(op, body)) for op, body in _requests("direct-b")]
    # then status, headers and body are the same, request by request
    for (op, _), flask_answer, direct_answer in zip(_requests("x"), through_flask,
                                                    through_direct, strict=True):
        status, headers, body = direct_answer
        assert (status, headers, body.replace(b"direct-b", b"direct-a")) == flask_answer, op


@pytest.mark.parametrize("body", [b"", b"not json"])
def test_a_body_moto_cannot_read_gets_the_same_answer(apps, body):
    # given a request whose body is empty or not a JSON object
    # when it goes through each path
    answers = [_answer(app, _environ("ListTables", body)) for app in apps]
    # then both answer the same
    assert answers[0] == answers[1]
    assert is_direct(_environ("ListTables", body)) is True


def test_an_error_inside_moto_propagates_on_both_paths(apps):
    # given a body moto's parser fails on (the pipeline refuses it before moto)
    raised = []
    for app in apps:
        # when it goes through each path
        with pytest.raises(AttributeError) as error:
            _answer(app, _environ("ListTables", b"[]"))
        raised.append(str(error.value))
    # then both raise moto's own error (the pipeline answers it 500 InternalFailure)
    assert raised[0] == raised[1]


@pytest.mark.parametrize(("service", "path", "prefix"), [
    ("dynamodb", "/", "DynamoDBStreams_20120810"),  # streams: moto's other app
    ("dynamodb", "/other", "DynamoDB_20120810"),  # no such route in moto's app
    ("sqs", "/", "DynamoDB_20120810"),  # signed for another service
    ("dynamodb", "/", "DynamoDB_20111205"),  # the old API version's app
])
def test_a_request_moto_would_route_elsewhere_goes_to_its_dispatcher(service, path, prefix):
    # given a request that is not for moto's DynamoDB app at "/"
    seen = []
    app = DirectDynamoDB(lambda environ, start_response: seen.append(environ) or [b""])
    environ = _environ("ListStreams", b"{}", service=service, path=path, target_prefix=prefix)
    # when it is served
    app(environ, lambda *args: None)
    # then the dispatcher gets it unchanged
    assert is_direct(environ) is False
    assert seen == [environ]


def test_an_unsigned_or_malformed_authorization_goes_to_the_dispatcher():
    # given requests without a SigV4 credential scope
    for auth in ("", "AWS4-HMAC-SHA256", "Bearer x"):
        environ = _environ("ListTables", b"{}")
        environ["HTTP_AUTHORIZATION"] = auth
        # then none is served directly
        assert is_direct(environ) is False
