"""The request pipeline end to end, with fakes for moto and our providers."""

from __future__ import annotations

import json
import logging

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


@pytest.mark.parametrize("name", ["RANGE", "dynamodb", "arn:aws:dynamodb:us-east-1:1:table/t"])
def test_a_service_linked_role_for_something_not_a_service_principal_is_refused(name):
    # given (moto indexes the name's third-last dot-separated part and crashes)
    moto = FakeMoto()
    body = f"Action=CreateServiceLinkedRole&Version=2010-05-08&AWSServiceName={name}".encode()
    headers = signed("iam", **{"Content-Type": "application/x-www-form-urlencoded"})
    # when
    status, _, answer = _run(_router(moto), environ(headers=headers, body=body))
    # then
    assert (status, moto.calls) == (400, [])
    assert b"<Code>InvalidInput</Code>" in answer


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
