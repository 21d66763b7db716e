"""Host, origin, admin-token and signature checks of the request pipeline."""

from __future__ import annotations

import json
import os
import stat

import botocore.parsers
import pytest
from botocore.awsrequest import HeadersDict

from localaws.errors import RequestError
from localaws.gate import (
    ADMIN_HEADER,
    Gate,
    GateConfigError,
    check_signature,
    read_admin_token,
    write_admin_token,
)
from localaws.protocols import service_model
from tests.unit.wsgi import PORT, call, signed


@pytest.fixture
def gate() -> Gate:
    return Gate(PORT, "secret-token")


@pytest.mark.parametrize("host", [f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"[::1]:{PORT}",
                                  f"LOCALHOST:{PORT}"])
def test_loopback_hosts_with_our_port_pass(gate, host):
    # when
    response = gate.check_host(call(headers={"Host": host}))
    # then
    assert response is None


@pytest.mark.parametrize("host", ["attacker.example:4611", f"127.0.0.1.evil.example:{PORT}",
                                  "127.0.0.1:4566", "localhost", "", "127.0.0.1:x",
                                  f"evil.example:{PORT}@127.0.0.1"])
def test_any_other_host_is_refused_with_403(gate, host):
    # when
    status, headers, body = gate.check_host(call(headers={"Host": host}))
    # then
    assert status == 403
    assert json.loads(body)["__type"] == "AccessDeniedException"
    assert not any(k.lower().startswith("access-control-") for k in headers)


_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(("service", "protocol", "extra", "code"), [
    ("iam", "query", _FORM, "AccessDenied"),
    ("sts", "query", _FORM, "AccessDenied"),
    ("sns", "query", _FORM, "AuthorizationError"),
    ("cloudwatch", "query", _FORM, "AccessDenied"),
    ("cloudwatch", "json", {"X-Amz-Target": "GraniteServiceVersion20100801.ListMetrics"},
     "AccessDenied"),
    ("sqs", "json", {"X-Amz-Target": "AmazonSQS.ListQueues"}, "AccessDenied"),
    ("dynamodb", "json", {"X-Amz-Target": "DynamoDB_20120810.ListTables"},
     "AccessDeniedException"),
    ("logs", "json", {"X-Amz-Target": "Logs_20140328.DescribeLogGroups"},
     "AccessDeniedException"),
    ("lambda", "rest-json", {}, "AccessDeniedException"),
])
def test_a_refused_host_is_answered_in_the_shape_its_sdk_parses(gate, service, protocol,
                                                                  extra, code):
    # given: an SDK call for the service, sent with a foreign Host
    signing_name = "monitoring" if service == "cloudwatch" else service
    headers = signed(signing_name, Host="workshop.box:4690", **extra)
    path = "/2015-03-31/functions" if service == "lambda" else "/"
    # when
    response = gate.check_host(call(path=path, headers=headers))
    # then: botocore reads the code and our message (before, IAM, STS, SNS and
    # CloudWatch clients got "Unable to parse response ... invalid XML received")
    assert response[0] == 403
    error = _parse(service, protocol, response)["Error"]
    assert error["Code"] == code
    assert "--allow-host" in error["Message"]


def _parse(service: str, protocol: str, response: tuple) -> dict:
    status, headers, body = response
    model = service_model(service)
    operation = model.operation_model(model.operation_names[0])
    parser = botocore.parsers.create_parser(protocol)
    return parser.parse({"status_code": status, "headers": HeadersDict(headers.items()),
                         "body": body}, operation.output_shape)


def test_allow_host_adds_a_name_for_our_port_or_an_exact_host():
    # given
    gate = Gate(PORT, "t", allow_hosts=["workshop.internal", "box:8080"])
    # then
    assert gate.check_host(call(headers={"Host": f"workshop.internal:{PORT}"})) is None
    assert gate.check_host(call(headers={"Host": "box:8080"})) is None
    assert gate.check_host(call(headers={"Host": "workshop.internal:9999"}))[0] == 403


def test_a_request_without_origin_passes_the_origin_check(gate):
    assert gate.check_origin(call(headers=signed("dynamodb"))) is None


@pytest.mark.parametrize("method", ["POST", "OPTIONS", "GET"])
def test_a_foreign_origin_is_refused_without_cors_headers(gate, method):
    # given
    headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    # when
    status, out, _ = gate.check_origin(call(method, headers=headers))
    # then
    assert status == 403
    assert not any(k.lower().startswith("access-control-") for k in out)


def test_an_allowed_origin_gets_its_preflight_answered_without_reflection_of_others():
    # given
    gate = Gate(PORT, "t", allow_origins=["http://localhost:8080/"])
    preflight = {"Origin": "http://localhost:8080", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,x-amz-target"}
    # when
    status, headers, _ = gate.check_origin(call("OPTIONS", headers=preflight))
    # then
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "http://localhost:8080"
    assert headers["Access-Control-Allow-Headers"] == "authorization,x-amz-target"
    assert headers["Vary"] == "Origin"


def test_finish_strips_motos_wildcard_and_grants_only_an_allowed_origin():
    # given
    gate = Gate(PORT, "t", allow_origins=["http://localhost:8080"])
    moto_headers = [("Access-Control-Allow-Origin", "*"), ("Content-Type", "text/xml")]
    # when
    plain = gate.finish(call(), moto_headers)
    granted = dict(gate.finish(call(headers={"Origin": "http://localhost:8080"}),
                               moto_headers))
    # then
    assert plain == [("Content-Type", "text/xml")]
    assert granted["Access-Control-Allow-Origin"] == "http://localhost:8080"


@pytest.mark.parametrize("origin", ["*", "localhost:8080", "http://x.example/path", ""])
def test_allow_origin_refuses_wildcards_and_non_origins(origin):
    with pytest.raises(GateConfigError):
        Gate(PORT, "t", allow_origins=[origin])


@pytest.mark.parametrize("given", [None, "", "wrong", "secret-token-and-more"])
def test_admin_routes_need_the_token(gate, given):
    # given
    headers = {} if given is None else {ADMIN_HEADER: given}
    # when
    response = gate.check_admin(call("GET", "/_workshop/health", headers))
    # then
    assert response[0] == 403


def test_admin_routes_open_with_the_token_and_other_paths_need_none(gate):
    assert gate.check_admin(call("GET", "/_workshop/health",
                                 {ADMIN_HEADER: "secret-token"})) is None
    assert gate.check_admin(call("GET", "/moto-api/data.json")) is None


def test_the_token_file_is_private_and_read_back(tmp_path, monkeypatch):
    # given
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    # when
    write_admin_token(PORT, "abc")
    # then
    path = tmp_path / f"endpoint-{PORT}.token"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert read_admin_token(PORT) == "abc"
    assert read_admin_token(PORT + 1) is None


@pytest.mark.parametrize(("headers", "kind"), [
    ({"X-Amz-Target": "DynamoDB_20120810.ListTables"}, "missing-authentication"),
    ({"X-Amz-Target": "DynamoDB_20120810.ListTables", "Authorization": "Basic dXNlcg=="},
     "incomplete-signature"),
    ({"X-Amz-Target": "DynamoDB_20120810.ListTables",
      "Authorization": "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/dynamodb/aws4_request"},
     "incomplete-signature"),
    ({}, "unknown-service"),
    (signed("s3"), "unknown-service"),
])
def test_unsigned_and_badly_signed_requests_are_refused(headers, kind):
    # when
    with pytest.raises(RequestError) as err:
        check_signature(call(headers=headers, body=b"{}"))
    # then
    assert err.value.kind == kind


def test_signed_requests_with_any_credentials_pass():
    assert check_signature(call(headers=signed("dynamodb"), body=b"{}")) is None


def test_awss_unsigned_sts_operations_need_no_signature():
    # given
    body = b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    # then
    assert check_signature(call(headers=headers, body=body)) is None
