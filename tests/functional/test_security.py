"""What a web page, a rebinding DNS name or a malformed request can do to the endpoint.

Raw HTTP against the session's endpoint (and, for the allow-lists, a second one
started with ``--allow-origin`` / ``--allow-host``): nothing a foreign origin or
host sends is executed, nothing answers it with CORS permission, unsigned
requests get AWS's answers, and size limits are answered from the headers.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import uuid

import pytest

from localaws import lifecycle
from localaws.gate import ADMIN_HEADER
from tests.conftest import ROOT

pytestmark = pytest.mark.functional
AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=abc")


def _raw(port: int, method: str = "POST", path: str = "/", headers: dict | None = None,
         body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host=True)
        headers = {"Host": f"127.0.0.1:{port}", **(headers or {})}
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, \
            response.read()
    finally:
        conn.close()


def _create_table(name: str) -> tuple[dict, bytes]:
    headers = {"X-Amz-Target": "DynamoDB_20120810.CreateTable",
               "Content-Type": "application/x-amz-json-1.0",
               "Authorization": AUTH.format(service="dynamodb")}
    body = json.dumps({"TableName": name, "BillingMode": "PAY_PER_REQUEST",
                       "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                       "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}).encode()
    return headers, body


def _tables(backend) -> list[str]:
    return backend.client("dynamodb").list_tables()["TableNames"]


def test_a_foreign_host_gets_403_and_changes_nothing(endpoint, backend):
    # given
    name = f"rebind-{uuid.uuid4().hex[:8]}"
    headers, body = _create_table(name)
    # when
    status, out, _ = _raw(endpoint["port"], headers={**headers,
                                                     "Host": "attacker.example:4566"},
                          body=body)
    # then
    assert status == 403
    assert name not in _tables(backend)
    assert not any(k.startswith("access-control-") for k in out)


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://localhost:8888"])
def test_a_foreign_origin_gets_no_cors_permission_and_changes_nothing(endpoint, backend,
                                                                      origin):
    # given
    name = f"csrf-{uuid.uuid4().hex[:8]}"
    headers, body = _create_table(name)
    # when
    preflight = _raw(endpoint["port"], "OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,x-amz-target"})
    simple = _raw(endpoint["port"], headers={**headers, "Origin": origin}, body=body)
    # then
    for status, out, _ in (preflight, simple):
        assert status == 403
        assert not any(k.startswith("access-control-") for k in out)
    assert name not in _tables(backend)


def test_a_browser_form_post_is_refused_as_unsigned(endpoint):
    # given: what an HTML form can send without a preflight (no Origin in old browsers)
    body = b"Action=CreateUser&Version=2010-05-08&UserName=intruder"
    # when
    status, out, answer = _raw(endpoint["port"], body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    # then
    assert status == 403
    assert b"<Code>MissingAuthenticationToken</Code>" in answer
    assert "access-control-allow-origin" not in out


def test_no_answer_carries_a_wildcard_cors_header(endpoint, backend):
    # when
    response = backend.client("sts").get_caller_identity()
    # then
    assert "access-control-allow-origin" not in response["ResponseMetadata"]["HTTPHeaders"]


@pytest.mark.parametrize(("service", "headers", "body", "status", "code"), [
    ("dynamodb", {"X-Amz-Target": "DynamoDB_20120810.ListTables"}, b"{}", 400,
     b"MissingAuthenticationTokenException"),
    ("sqs", {"X-Amz-Target": "AmazonSQS.ListQueues"}, b"{}", 400,
     b"MissingAuthenticationTokenException"),
    ("sns", {"Content-Type": "application/x-www-form-urlencoded"},
     b"Action=ListTopics&Version=2010-03-31", 403, b"MissingAuthenticationToken"),
    ("none", {}, b"", 400, b"UnrecognizedServiceException"),
    ("none", {}, bytes(range(256)), 400, b"UnrecognizedServiceException"),
])
def test_unsigned_requests_get_awss_answer_and_never_s3s(endpoint, service, headers, body,
                                                         status, code):
    # when
    got, _, answer = _raw(endpoint["port"], headers=headers, body=body)
    # then
    assert got == status
    assert code in answer
    assert b"ListAllMyBucketsResult" not in answer


def test_admin_routes_need_the_token_from_the_state_directory(endpoint):
    # when
    anonymous = _raw(endpoint["port"], "GET", "/_workshop/health")
    restart = _raw(endpoint["port"], "POST", "/_workshop/engine/restart")
    with_token = lifecycle.health(endpoint["port"])
    # then
    assert anonymous[0] == 403 and restart[0] == 403
    assert with_token["status"] == "ok"


def test_moto_api_stays_reachable_from_loopback_and_only_from_there(endpoint):
    # when
    status, _, body = _raw(endpoint["port"], "GET", "/moto-api/")
    foreign = _raw(endpoint["port"], "GET", "/moto-api/", {"Host": "evil.example:4566"})
    # then
    assert status == 200
    assert b"<html" in body.lower()
    assert foreign[0] == 403


def test_an_oversized_body_is_refused_before_the_service_parses_it(endpoint):
    # given: a 17 MB BatchWriteItem (DynamoDB takes 16 MB at most)
    headers = {"X-Amz-Target": "DynamoDB_20120810.BatchWriteItem",
               "Content-Type": "application/x-amz-json-1.0",
               "Authorization": AUTH.format(service="dynamodb")}
    # when
    status, _, body = _raw(endpoint["port"], headers=headers, body=b" " * (17 * 1024 * 1024))
    # then
    assert status == 400
    assert json.loads(body)["message"] == "Request size exceeded the 16 MB limit of DynamoDB"


def test_a_body_beyond_any_limit_is_refused_from_its_headers_alone(endpoint):
    # given: headers announcing 100 MB, and no body at all
    with socket.create_connection(("127.0.0.1", endpoint["port"]), timeout=10) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n"
            b"Authorization: %s\r\n\r\n"
            % (endpoint["port"], 100 * 1024 * 1024, AUTH.format(service="dynamodb").encode()))
        # when
        answer = sock.recv(65536)
    # then
    assert answer.startswith(b"HTTP/1.1 413")


@pytest.mark.parametrize(("call", "code"), [
    ("invoke", "RequestEntityTooLargeException"),
    ("put_item", "ValidationException"),
    ("sns", "InvalidParameter"),
    ("sqs", "InvalidParameterValue"),
])
def test_size_limits_are_awss(backend, call, code, unique):
    from botocore.exceptions import ClientError

    # when
    with pytest.raises(ClientError) as err:
        if call == "invoke":
            backend.client("lambda").invoke(FunctionName="any",
                                            Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
        elif call == "put_item":
            ddb = backend.client("dynamodb")
            ddb.create_table(TableName=f"big-{unique}", BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": "pk",
                                                    "AttributeType": "S"}],
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
            ddb.put_item(TableName=f"big-{unique}",
                         Item={"pk": {"S": "a"}, "v": {"S": "x" * (400 * 1024)}})
        elif call == "sns":
            sns = backend.client("sns")
            topic = sns.create_topic(Name=f"big-{unique}")["TopicArn"]
            sns.publish(TopicArn=topic, Message="x" * (256 * 1024 + 1))
        else:
            sqs = backend.client("sqs")
            url = sqs.create_queue(QueueName=f"big-{unique}")["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody="x" * (1024 * 1024 + 1))
    # then
    assert err.value.response["Error"]["Code"].endswith(code)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 413)


@pytest.mark.slow
def test_the_aws_cli_gets_no_5xx_from_any_service(endpoint):
    # given: one read per service, and one call AWS refuses
    calls = [["dynamodb", "list-tables"], ["dynamodbstreams", "list-streams"],
             ["lambda", "list-functions"], ["iam", "list-roles"],
             ["sts", "get-caller-identity"], ["sqs", "list-queues"], ["sns", "list-topics"],
             ["cloudwatch", "list-metrics"], ["logs", "describe-log-groups"],
             ["dynamodb", "describe-table", "--table-name", "no-such-table"]]
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent",
           "AWS_MAX_ATTEMPTS": "1", "PATH": "/usr/bin:/bin"}
    aws = [str(ROOT / ".venv/bin/aws"), "--endpoint-url", endpoint["url"]]
    # when
    results = {" ".join(c): subprocess.run([*aws, *c], env=env, capture_output=True,
                                           text=True, timeout=120)
               for c in calls}
    # then
    failed = {k: r.stderr for k, r in results.items() if r.returncode != 0}
    assert list(failed) == ["dynamodb describe-table --table-name no-such-table"], failed
    assert "ResourceNotFoundException" in failed["dynamodb describe-table --table-name "
                                                 "no-such-table"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_allow_origin_and_allow_host_open_exactly_what_they_name(endpoint):
    # given
    port = _free_port()
    lifecycle.up(port, allow_hosts=("workshop.test",),
                 allow_origins=("http://localhost:8080",))
    try:
        headers = {"X-Amz-Target": "DynamoDB_20120810.ListTables",
                   "Content-Type": "application/x-amz-json-1.0",
                   "Authorization": AUTH.format(service="dynamodb")}
        # when
        allowed = _raw(port, headers={**headers, "Origin": "http://localhost:8080"},
                       body=b"{}")
        preflight = _raw(port, "OPTIONS", headers={"Origin": "http://localhost:8080",
                                                   "Access-Control-Request-Method": "POST"})
        other = _raw(port, headers={**headers, "Origin": "http://localhost:8081"}, body=b"{}")
        host = _raw(port, headers={**headers, "Host": f"workshop.test:{port}"}, body=b"{}")
        # then
        assert allowed[0] == 200
        assert allowed[1]["access-control-allow-origin"] == "http://localhost:8080"
        assert preflight[0] == 200
        assert preflight[1]["access-control-allow-origin"] == "http://localhost:8080"
        assert other[0] == 403 and "access-control-allow-origin" not in other[1]
        assert host[0] == 200
        assert lifecycle.admin_request(port, "/_workshop/health")["port"] == port
        assert _raw(port, "GET", "/_workshop/health", {ADMIN_HEADER: "guess"})[0] == 403
    finally:
        lifecycle.down(port)
