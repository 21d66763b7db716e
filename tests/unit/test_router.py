"""The request pipeline end to end, with fakes for moto and our providers."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import pytest

from localaws import validation
from localaws.gate import ADMIN_HEADER, Gate
from localaws.server import Router
from tests.unit.wsgi import PORT, environ, signed

LIST_TABLES = signed("dynamodb", **{"X-Amz-Target": "DynamoDB_20120810.ListTables"})


class FakeMoto:
    """A moto stand-in: records calls, answers 200 with a wildcard CORS header, or raises."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[bytes] = []
        self.error = error

    def __call__(self, env, start_response):
        self.calls.append(env["wsgi.input"].read(int(env.get("CONTENT_LENGTH") or 0)))
        if self.error is not None:
            raise self.error
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0"),
                                  ("Access-Control-Allow-Origin", "*")])
        return [b'{"TableNames": []}']


class FakeLambda:
    def handle(self, request):
        return None


def _router(moto: FakeMoto, **gate_args) -> Router:
    return Router(moto, FakeLambda(), lambda: {"status": "ok"}, lambda: None,
                  gate=Gate(PORT, "tok", **gate_args))


def _run(router: Router, env: dict) -> tuple[int, dict[str, str], bytes]:
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = int(status.split()[0]), dict(headers)

    body = b"".join(router(env, start_response))
    return seen["status"], seen["headers"], body


def test_a_good_request_reaches_moto_with_its_body_and_without_motos_cors_header():
    # given
    moto = FakeMoto()
    # when
    status, headers, _ = _run(_router(moto), environ(headers=LIST_TABLES, body=b"{}"))
    # then
    assert status == 200
    assert moto.calls == [b"{}"]
    assert "Access-Control-Allow-Origin" not in headers


@pytest.mark.parametrize("env", [
    environ(headers={**LIST_TABLES, "Host": "evil.example:4611"}, body=b"{}"),
    environ(headers={**LIST_TABLES, "Origin": "https://evil.example"}, body=b"{}"),
    environ(headers={"X-Amz-Target": "DynamoDB_20120810.ListTables"}, body=b"{}"),
    environ(headers=LIST_TABLES, body=b"{nope"),
])
def test_a_refused_request_never_reaches_the_service(env):
    # given
    moto = FakeMoto()
    # when
    status, _, _ = _run(_router(moto), env)
    # then
    assert 400 <= status < 500
    assert moto.calls == []


def test_an_oversized_body_is_refused_before_it_is_read():
    # given
    env = environ(headers={**LIST_TABLES, "Content-Length": str(17 * 1024 * 1024)})

    class Unreadable:
        def read(self, *_):
            raise AssertionError("the body was read")

    env["wsgi.input"] = Unreadable()
    # when
    status, _, body = _run(_router(FakeMoto()), env)
    # then
    assert status == 400
    assert "16 MB" in json.loads(body)["message"]


def test_our_own_failure_is_logged_and_answered_internal_failure(caplog):
    # given
    router = _router(FakeMoto(KeyError("a bug")))
    # when
    with caplog.at_level(logging.ERROR, logger="localaws"):
        status, headers, body = _run(router, environ(headers=LIST_TABLES, body=b"{}"))
    # then
    assert status == 500
    assert json.loads(body)["__type"].endswith("#InternalFailure")
    assert headers["x-amzn-ErrorType"] == "InternalFailure"
    assert any(r.exc_info and isinstance(r.exc_info[1], KeyError) for r in caplog.records)


class FailingMoto(FakeMoto):
    """moto answering a 5xx of its own (an HTML page) instead of raising."""

    def __call__(self, env, start_response):
        start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "text/html")])
        return [b"<h1>Internal Server Error</h1>"]


def test_a_5xx_from_moto_is_logged_and_answered_internal_failure_in_the_services_shape(
        caplog):
    # given
    router = _router(FailingMoto())
    # when
    with caplog.at_level(logging.ERROR, logger="localaws"):
        status, _, body = _run(router, environ(headers=LIST_TABLES, body=b"{}"))
    # then
    assert status == 500
    assert json.loads(body)["__type"].endswith("#InternalFailure")
    assert any("Internal Server Error" in r.getMessage() for r in caplog.records)


def test_admin_routes_answer_with_the_token_only():
    # given
    router = _router(FakeMoto())
    # when
    without = _run(router, environ("GET", "/_workshop/health"))
    with_token = _run(router, environ("GET", "/_workshop/health", {ADMIN_HEADER: "tok"}))
    # then
    assert without[0] == 403
    assert with_token[0] == 200
    assert json.loads(with_token[2]) == {"status": "ok"}


def test_an_allowed_origin_is_granted_on_the_answer():
    # given
    router = _router(FakeMoto(), allow_origins=["http://localhost:8080"])
    env = environ(headers={**LIST_TABLES, "Origin": "http://localhost:8080"}, body=b"{}")
    # when
    status, headers, _ = _run(router, env)
    # then
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "http://localhost:8080"


def test_a_check_inserted_before_validation_runs_after_authentication():
    # given
    router = _router(FakeMoto())
    seen = []

    def authorize(call):
        seen.append((call.service, call.operation, call.region, call.access_key_id))
        return 403, {"Content-Type": "application/json"}, b'{"message": "denied"}'

    router.insert_check(authorize, before=validation.check_input)
    # when
    unsigned = _run(router, environ(headers={"X-Amz-Target": "DynamoDB_20120810.ListTables"},
                                    body=b"{}"))
    denied = _run(router, environ(headers=LIST_TABLES, body=b"{}"))
    # then
    assert unsigned[0] == 400  # authentication refused it first
    assert denied[0] == 403
    assert seen == [("dynamodb", "ListTables", "us-east-1", "testing")]


_LINKED_ROLE = "Action=CreateServiceLinkedRole&Version=2010-05-08&AWSServiceName="
_SNS_PAGE = "Action=ListTopics&Version=2010-03-31&NextToken="


@pytest.mark.parametrize(("service", "body", "code"), [
    # a service-linked role for something not a service principal: moto indexes the
    # name's third-last dot-separated part and crashes
    *(pytest.param("iam", _LINKED_ROLE + name, b"<Code>InvalidInput</Code>",
                   id=f"linked_role_for_{label}")
      for label, name in [("word", "RANGE"), ("service_name", "dynamodb"),
                          ("arn", "arn:aws:dynamodb:us-east-1:1:table/t")]),
    # an SNS page token that is not ASCII digits: "\u00b9".isdigit() is true and moto's
    # int() of it crashes
    *(pytest.param("sns", _SNS_PAGE + quote(token), b"<Code>InvalidParameter</Code>",
                   id=f"sns_token_{label}")
      for label, token in [("superscript", "\u00b9"), ("arabic_indic", "\u0663"),
                           ("letters", "x1")]),
])
def test_a_form_query_moto_would_crash_on_is_refused(service, body, code):
    # given
    moto = FakeMoto()
    headers = signed(service, **{"Content-Type": "application/x-www-form-urlencoded"})
    # when
    status, _, answer = _run(_router(moto), environ(headers=headers, body=body.encode()))
    # then
    assert (status, moto.calls) == (400, [])
    assert code in answer


def test_a_service_linked_role_for_a_service_principal_reaches_moto():
    # given
    moto = FakeMoto()
    body = (b"Action=CreateServiceLinkedRole&Version=2010-05-08"
            b"&AWSServiceName=elasticbeanstalk.amazonaws.com")
    headers = signed("iam", **{"Content-Type": "application/x-www-form-urlencoded"})
    # when
    _run(_router(moto), environ(headers=headers, body=body))
    # then
    assert len(moto.calls) == 1


@pytest.mark.parametrize("action", ["Publish", "PublishBatch"])
def test_an_sns_message_attribute_without_a_value_is_refused(action):
    # given (moto reads the missing value as a sentinel object and crashes)
    moto = FakeMoto()
    entry = "PublishBatchRequestEntries.member.1." if action == "PublishBatch" else ""
    body = (f"Action={action}&Version=2010-03-31&TopicArn=arn:aws:sns:us-east-1:1:t"
            f"&{entry}Message=m&{entry}Id=a&{entry}MessageAttributes.entry.1.Name=colour").encode()
    headers = signed("sns", **{"Content-Type": "application/x-www-form-urlencoded"})
    # when
    status, _, answer = _run(_router(moto), environ(headers=headers, body=body))
    # then
    assert (status, moto.calls) == (400, [])
    assert b"<Code>InvalidParameterValue</Code>" in answer


@pytest.mark.parametrize("query", [{}, {"logGroupIdentifiers": ["g"]},
                                   {"logGroupName": "g", "logGroupNames": ["g"]}])
def test_a_logs_query_must_name_its_groups_one_way_moto_knows(query):
    # given (moto iterates a missing logGroupNames and crashes)
    moto = FakeMoto()
    body = json.dumps({"startTime": 0, "endTime": 2, "queryString": "fields @message",
                       **query}).encode()
    headers = signed("logs", **{"X-Amz-Target": "Logs_20140328.StartQuery",
                                "Content-Type": "application/x-amz-json-1.1"})
    # when
    status, _, answer = _run(_router(moto), environ(headers=headers, body=body))
    # then
    assert (status, moto.calls) == (400, [])
    assert b"InvalidParameterException" in answer


def _logs(operation: str, params: dict) -> tuple[dict, bytes]:
    headers = signed("logs", **{"X-Amz-Target": f"Logs_20140328.{operation}",
                                "Content-Type": "application/x-amz-json-1.1"})
    return headers, json.dumps(params).encode()


def test_the_results_of_a_query_logs_never_started_are_not_found():
    # given (moto looks the id up in a dict and crashes)
    moto = FakeMoto()
    headers, body = _logs("GetQueryResults", {"queryId": "12ab34cd-0000-0000-0000-000000000000"})
    # when
    status, _, answer = _run(_router(moto), environ(headers=headers, body=body))
    # then
    assert (status, moto.calls) == (400, [])
    assert json.loads(answer)["__type"].endswith("ResourceNotFoundException")


def test_global_table_replicas_are_refused_not_silently_ignored():
    # given (moto accepts ReplicaUpdates and creates no replica)
    moto = FakeMoto()
    body = json.dumps({"TableName": "t", "ReplicaUpdates": [
        {"Create": {"RegionName": "eu-west-1"}}]}).encode()
    headers = signed("dynamodb", **{"X-Amz-Target": "DynamoDB_20120810.UpdateTable"})
    # when
    status, _, answer = _run(_router(moto), environ(headers=headers, body=body))
    # then
    assert (status, moto.calls) == (400, [])
    assert b"ValidationException" in answer and b"global tables" in answer


def test_the_results_of_a_started_query_reach_moto(monkeypatch):
    # given
    from localaws import backends

    monkeypatch.setattr(backends, "log_query_exists", lambda account, region, query: True)
    moto = FakeMoto()
    headers, body = _logs("GetQueryResults", {"queryId": "q"})
    # when
    _run(_router(moto), environ(headers=headers, body=body))
    # then
    assert len(moto.calls) == 1


@pytest.mark.parametrize(("kind", "says"), [("CWL", b"is required"), (None, b"is required"),
                                            ("XRAY", b"not emulated")])
def test_a_delivery_destination_without_its_resource_is_refused(kind, says):
    # given (moto indexes the missing configuration and crashes)
    moto = FakeMoto()
    params = {"name": "d", **({"deliveryDestinationType": kind} if kind else {})}
    headers, body = _logs("PutDeliveryDestination", params)
    # when
    status, _, answer = _run(_router(moto), environ(headers=headers, body=body))
    # then
    assert (status, moto.calls) == (400, [])
    assert b"ValidationException" in answer and says in answer


@pytest.mark.parametrize(("method", "path"), [
    ("DELETE", "/2017-03-31/tags/{'S': 'deep'}"),
    ("GET", "/2017-03-31/tags/fuzz:a:b"),
    ("POST", "/2017-03-31/tags/arn:aws:lambda:us-east-1:123456789012:function:f:1:2"),
])
def test_lambda_tags_of_something_not_a_lambda_arn_are_refused(method, path):
    # given (moto splits the value on colons and crashes)
    moto = FakeMoto()
    body = b'{"Tags": {"k": "v"}}' if method == "POST" else b""
    # when
    status, _, answer = _run(_router(moto), environ(
        method=method, path=path, headers=signed("lambda"), body=body,
        query="tagKeys=a" if method == "DELETE" else ""))
    # then
    assert (status, moto.calls) == (400, [])
    assert b"Member must satisfy regular expression pattern" in answer


def test_lambda_tags_of_a_function_arn_reach_moto():
    # given
    moto = FakeMoto()
    path = "/2017-03-31/tags/arn:aws:lambda:us-east-1:123456789012:function:f"
    # when
    _run(_router(moto), environ(method="GET", path=path, headers=signed("lambda")))
    # then
    assert len(moto.calls) == 1


@pytest.mark.parametrize(("content", "refused"), [
    ({"S3Key": "k"}, True), ({"S3Bucket": "b"}, True), ({}, True),
    ({"S3Bucket": "b", "S3Key": "k"}, False),
    ({"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}, False),
])
def test_a_layer_needs_a_zip_or_a_whole_s3_location(content, refused):
    # given (moto reads S3Bucket and S3Key without looking and crashes)
    moto = FakeMoto()
    body = json.dumps({"Content": content}).encode()
    headers = signed("lambda", **{"Content-Type": "application/json"})
    # when
    status, answer_headers, _ = _run(_router(moto), environ(
        path="/2018-10-31/layers/layer-a/versions", headers=headers, body=body))
    # then
    code = {k.lower(): v for k, v in answer_headers.items()}.get("x-amzn-errortype", "")
    assert (status == 400 and code.startswith("InvalidParameterValueException")) is refused
    assert len(moto.calls) == (0 if refused else 1)


@pytest.mark.parametrize(("extra", "says"), [
    ({}, b"2 validation errors detected: Value null at 'attributeDefinitions'"),
    ({"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]},
     b"1 validation error detected: Value null at 'keySchema'"),
    ({"GlobalTableSourceArn": "arn:aws:dynamodb:us-east-1:111122223333:table/t"},
     b"not supported by the local endpoint"),
])
def test_a_table_without_its_key_is_refused(extra, says):
    # given (the model leaves the key optional for global-table copies; moto crashes)
    moto = FakeMoto()
    headers = signed("dynamodb", **{"X-Amz-Target": "DynamoDB_20120810.CreateTable"})
    body = json.dumps({"TableName": "t", **extra}).encode()
    # when
    status, _, answer = _run(_router(moto), environ(headers=headers, body=body))
    # then
    assert (status, moto.calls) == (400, [])
    assert b"ValidationException" in answer and says in answer
