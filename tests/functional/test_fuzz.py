"""Fuzzing the endpoint: no request, however bad, gets a 5xx or hangs it.

Two property-based tests and a deterministic sweep against a real endpoint of
their own (so that what the fuzzer creates never meets the other tests), over
four keep-alive connections:

* every operation of every service, with no parameters and with every member
  wrong (the sweep: no operation goes unreached, whatever the draws);
* random and mutated requests to every service: bodies, headers, targets,
  paths, methods, encodings, hosts, origins and sizes;
* the SDK's own request shapes (botocore's serializers) with one member
  mutated per request.

Every answer must be a 2xx or a 4xx in the protocol's shape (botocore's parser
finds its error code); afterwards the endpoint is healthy and a canary table
and queue are intact. Counts and status codes go to ``build/fuzz-summary.json``.

A failure shows each bad answer's whole request (method, path, headers, body)
and names two files in the test's tmp dir: ``findings.jsonl`` (every bad
answer with its request, to replay with ``fuzz_support.wire_from`` in a
regression test such as ``test_fuzz_findings.py``) and the endpoint's log
(the traceback of a 5xx). ``WORKSHOP_FUZZ_PORT`` fixes the endpoint's port.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import botocore.serialize
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from localaws import lifecycle, paths
from localaws.protocols import service_model
from tests.conftest import ROOT
from tests.functional.fuzz_support import (
    AUTH,
    PROTOCOL,
    SIGNING,
    TEXT,
    Sender,
    Wire,
    build,
    describe,
    finding,
    operations,
    params_strategy,
    problem,
    signed_headers,
)

pytestmark = [pytest.mark.functional, pytest.mark.slow]
BATCH = 50
# 2 x 50 x 50 = 5,000 drawn (beside the sweep's 1,176); a few SDK shapes botocore cannot
# serialize are skipped. `make fuzz` draws 2 x 102 x 50 = 10,200 new ones.
EXAMPLES = int(os.environ.get("WORKSHOP_FUZZ_EXAMPLES", "50"))
# No shrinking: a failing batch is reported as it is (the first problems of its 50
# requests), which is more useful than minutes of shrinking 50 HTTP requests.
# The same requests every run by default (derandomized: the seed comes from the test
# function; no example database; every strategy draws from sorted lists, so the hash
# seed changes nothing), so that a red run always means a change of ours.
# WORKSHOP_FUZZ_RANDOM=1 explores new ones (`make fuzz`: run it when changing the
# pipeline).
# WORKSHOP_FUZZ_ONLY=lambda:CreateEventSourceMapping,sqs:SendMessage spends every request
# on those operations (to hunt around a finding).
FOCUS = sorted(tuple(pair.split(":", 1)) for pair in
               os.environ.get("WORKSHOP_FUZZ_ONLY", "").split(",") if pair)
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                         derandomize=os.environ.get("WORKSHOP_FUZZ_RANDOM") != "1",
                         phases=[Phase.explicit, Phase.generate],
                         suppress_health_check=list(HealthCheck))


def _port() -> int:
    """``WORKSHOP_FUZZ_PORT``, or a free loopback port."""
    if os.environ.get("WORKSHOP_FUZZ_PORT"):
        return int(os.environ["WORKSHOP_FUZZ_PORT"])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Target:
    """The fuzzer's endpoint: its sender, and where its log and any findings go."""

    sender: Sender
    log: Path
    findings: Path


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """An endpoint of the fuzzer's own, with a canary table and queue in it.

    Its files (log, pid, token, saved state) live in the test's tmp dir, named in
    any failure's message, so that the traceback of a 5xx outlives the run.
    """
    import boto3

    home = tmp_path_factory.mktemp("fuzz-endpoint")
    saved = os.environ.get(paths.ENV_STATE_DIR)
    os.environ[paths.ENV_STATE_DIR] = str(home)
    port = _port()
    lifecycle.up(port)
    url = f"http://127.0.0.1:{port}"
    args = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing"}
    ddb, sqs = boto3.client("dynamodb", **args), boto3.client("sqs", **args)
    ddb.create_table(TableName="canary", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    for i in range(3):
        ddb.put_item(TableName="canary", Item={"pk": {"S": f"item-{i}"}})
    queue = sqs.create_queue(QueueName="canary")["QueueUrl"]
    # Four connections: the same requests every run, in drawn order but up to four in
    # flight at once (one connection takes several times as long on a busy machine).
    sender = Sender(port, threads=4)
    yield Target(sender, paths.log_file(port), home / "findings.jsonl")
    # then: healthy, and the canaries untouched
    try:
        assert lifecycle.health(port) is not None
        assert ddb.scan(TableName="canary")["Count"] == 3
        assert sqs.get_queue_url(QueueName="canary")["QueueUrl"] == queue
        summary = {"requests": sender.sent,
                   "statuses": dict(sorted(sender.statuses.items()))}
        out = ROOT / "build" / "fuzz-summary.json"
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2))
        print(f"\nfuzz: {summary}")
    finally:
        lifecycle.down(port)
        # The endpoint's log stays in the tmp dir; a copy goes to build/ too.
        log = paths.log_file(port)
        if log.exists():
            (ROOT / "build").mkdir(exist_ok=True)
            shutil.copyfile(log, ROOT / "build" / "fuzz-endpoint.log")
        if saved is None:
            os.environ.pop(paths.ENV_STATE_DIR, None)
        else:
            os.environ[paths.ENV_STATE_DIR] = saved


def _check(target: Target, wires: list[Wire]) -> None:
    found = []
    for wire, status, headers, body in target.sender.send(wires):
        issue = problem(wire, status, headers, body)
        if issue:
            found.append(finding(wire, status, body, issue))
    if found:
        with target.findings.open("a") as out:
            out.writelines(json.dumps(f) + "\n" for f in found)
    assert not found, "\n\n".join(
        [f"{len(found)} bad answers; every request in {target.findings}, "
         f"the endpoint's log (tracebacks) in {target.log}",
         *(describe(f) for f in found[:5])])


# -- every operation, deterministically -------------------------------------------------
# The random tests draw a service, then one of its operations: an operation of IAM's 180
# may go undrawn in a run. This sweep sends every operation of every service twice:
# with no parameters, and with every member given a wrong value (cycling through these).
WRONG = [{"S": {"S": "deep"}}, "x" * 300, -(2**63), [1, 2], True, None, "ünï", 1.5]


def sweep_wires(service: str) -> list[Wire]:
    """Every operation of ``service``: no parameters, then every member wrong."""
    wires = []
    for operation in operations(service):
        shape = service_model(service).operation_model(operation).input_shape
        members = sorted(shape.members) if shape is not None else []
        wrong = {member: WRONG[i % len(WRONG)] for i, member in enumerate(members)}
        wires += [build(service, operation, {}, signed_headers(service)),
                  build(service, operation, wrong, signed_headers(service))]
    return wires


@pytest.mark.parametrize("service", sorted(PROTOCOL))
def test_every_operation_without_parameters_or_with_wrong_ones_gets_a_2xx_or_a_shaped_4xx(
        target, service):
    # given
    wires = sweep_wires(service)
    # when / then
    assert len(wires) == 2 * len(operations(service))
    _check(target, wires)


# -- random and mutated requests --------------------------------------------------------
# Signing regions: two real ones, and one AWS lacks (moto has no backend for it).
FUZZ_REGIONS = ["us-east-1", "us-east-1", "eu-west-1", "zz-fuzz-1"]
MUTATIONS = ["none"] * 6 + ["target", "bytes", "truncate", "content-type", "path", "top-level",
                            "method", "unsigned", "bad-auth", "other-service", "host", "origin",
                            "admin", "size", "encoding"]


def _operation(draw: st.DrawFn) -> tuple[str, str]:
    """A service and one of its operations, from ``WORKSHOP_FUZZ_ONLY`` when it is set."""
    if FOCUS:
        return draw(st.sampled_from(FOCUS))
    service = draw(st.sampled_from(sorted(PROTOCOL)))
    return service, draw(st.sampled_from(operations(service)))


@st.composite
def random_wire(draw: st.DrawFn) -> Wire:
    service, operation = _operation(draw)
    params = draw(params_strategy(service, operation, False))
    wire = build(service, operation, params if isinstance(params, dict) else {},
                 signed_headers(service, draw(st.sampled_from(FUZZ_REGIONS))))
    mutation = draw(st.sampled_from(MUTATIONS))
    if mutation == "target":
        wire.headers["X-Amz-Target"] = draw(st.one_of(TEXT, st.sampled_from(
            ["DynamoDB_20120810.", "AmazonSQS.Nope", "Logs_20140328.PutItem"])))
    elif mutation == "bytes":
        wire.body = draw(st.binary(max_size=300))
    elif mutation == "truncate":
        wire.body = wire.body[:draw(st.integers(0, max(0, len(wire.body) - 1)))]
    elif mutation == "content-type":
        wire.headers["Content-Type"] = draw(st.sampled_from(
            ["text/plain", "application/json", "application/x-www-form-urlencoded",
             "application/cbor", "multipart/form-data; boundary=x", ""]))
    elif mutation == "path":
        wire.path = "/" + draw(st.text(st.characters(min_codepoint=33, max_codepoint=126),
                                       max_size=40))
    elif mutation == "top-level":
        wire.body = json.dumps(draw(st.one_of(st.lists(st.integers(), max_size=3),
                                              st.integers(), st.text(max_size=10),
                                              st.none()))).encode()
    elif mutation == "method":
        wire.method = draw(st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]))
    elif mutation == "unsigned":
        wire.headers.pop("Authorization")
    elif mutation == "bad-auth":
        wire.headers["Authorization"] = draw(st.sampled_from(
            ["AWS4-HMAC-SHA256 Credential=x", "Basic Zm9vOmJhcg==", "AWS4-HMAC-SHA256",
             "AWS AKID:sig", "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=, "
             "Signature=z"]))
    elif mutation == "other-service":
        name = draw(st.sampled_from(["s3", "ec2", "kms", "x", *sorted(set(SIGNING.values()))]))
        wire.headers["Authorization"] = AUTH.format(region="us-east-1", service=name)
        served = {v: k for k, v in SIGNING.items() if k != "dynamodbstreams"}
        wire.service = served.get(name)
        if wire.service == "dynamodb" and wire.headers.get("X-Amz-Target", "").startswith(
                "DynamoDBStreams_"):
            wire.service = "dynamodbstreams"
        if wire.service != service:
            wire.operation = None
    elif mutation == "host":
        wire.headers["Host"] = draw(st.sampled_from(
            ["attacker.example:4566", "127.0.0.1.nip.io", "localhost:1", "[::2]"]))
        wire.expect_forbidden = True
    elif mutation == "origin":
        wire.headers["Origin"] = draw(st.sampled_from(
            ["https://evil.example", "null", "http://localhost:8888"]))
        wire.expect_forbidden = True
    elif mutation == "admin":
        wire.method, wire.path = draw(st.sampled_from(
            [("GET", "/_workshop/health"), ("POST", "/_workshop/engine/restart")]))
        wire.headers["X-Workshop-Token"] = draw(st.sampled_from(["", "guess"]))
        wire.expect_forbidden = True
    elif mutation == "size":
        wire.body = b'{"pad": "' + b"x" * draw(st.sampled_from(
            [64 * 1024, 1024 * 1024 + 1, 2 * 1024 * 1024 + 1])) + b'"}'
    elif mutation == "encoding":
        wire.body = wire.body.decode("latin-1").encode("utf-16")
    return wire


@FUZZ_SETTINGS
@given(wires=st.lists(random_wire(), min_size=BATCH, max_size=BATCH))
def test_random_requests_get_a_2xx_or_a_shaped_4xx(target, wires):
    _check(target, wires)


# -- the SDK's request shapes, one member mutated ---------------------------------------
def _sdk_wire(service: str, operation: str, params: dict[str, Any]) -> Wire | None:
    model = service_model(service)
    protocol = model.metadata["protocol"] if service != "cloudwatch" else "json"
    if service == "sqs":
        protocol = "json"
    try:
        request = botocore.serialize.create_serializer(protocol, include_validation=False) \
            .serialize_to_request(params, model.operation_model(operation))
    except Exception:  # a value the SDK cannot serialize is no SDK request
        return None
    headers = {k: str(v) for k, v in request["headers"].items()}
    headers.update(signed_headers(service))
    if protocol == "json" and "X-Amz-Target" not in headers:
        headers["X-Amz-Target"] = f"{model.metadata['targetPrefix']}.{operation}"
    body = request["body"]
    if isinstance(body, dict):  # the query serializer leaves the form as a dict
        body = urlencode(body, doseq=True)
    if isinstance(body, str):
        body = body.encode()
    elif isinstance(body, bytes | bytearray) or not body:
        body = bytes(body or b"")
    else:  # a payload member given a value no SDK would send as bytes (bytes(2**63)
        return None  # would also try to allocate 2**63 zero bytes)
    path = request["url_path"]
    if request["query_string"]:
        query = request["query_string"]
        path += ("&" if "?" in path else "?") + (
            urlencode(query, doseq=True) if isinstance(query, dict) else query)
    return Wire(service, request["method"], path, headers, body, operation)


MUTANTS = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63), TEXT,
                    st.just("x" * 70_000), st.lists(st.integers(), max_size=3),
                    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
                    st.just({"S": {"S": {"S": "deep"}}}), st.floats(allow_nan=False))


@st.composite
def mutated_sdk_wire(draw: st.DrawFn) -> Wire | None:
    service, operation = _operation(draw)
    shape = service_model(service).operation_model(operation).input_shape
    if shape is None or not shape.members:
        return _sdk_wire(service, operation, {})
    params = draw(params_strategy(service, operation, True))
    member = draw(st.sampled_from(sorted(shape.members)))
    if draw(st.booleans()) and member in params:
        del params[member]
    else:
        params[member] = draw(MUTANTS)
    wire = _sdk_wire(service, operation, params)
    if wire is None:  # the SDK would refuse it: send the mutant in the JSON body instead
        wire = build(service, operation, params, signed_headers(service))
    return wire


@FUZZ_SETTINGS
@given(wires=st.lists(mutated_sdk_wire(), min_size=BATCH, max_size=BATCH))
def test_sdk_requests_with_one_member_mutated_get_a_2xx_or_a_shaped_4xx(target, wires):
    _check(target, [w for w in wires if w is not None])
