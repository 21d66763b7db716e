"""The local Lambda executor, used only through boto3 (issue: local endpoint)."""

from __future__ import annotations

import base64
import json
import math
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.functional.support import (
    deploy,
    log_text,
    make_table,
    wait_for,
    zip_code,
)

pytestmark = pytest.mark.functional

ECHO = '''
import json, logging, os
logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    print("hello from print")
    logger.info("hello from logging")
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb,
        "remaining": context.get_remaining_time_in_millis(),
        "group": context.log_group_name,
        "stream": context.log_stream_name,
        "env": {k: os.environ.get(k)
                for k in ("GREETING", "AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME")},
        "pid": os.getpid(),
    }
'''

FAILING = {
    "raise": "def handler(e, c):\n    raise ValueError('broken on purpose')\n",
    "sleep": "import time\n\ndef handler(e, c):\n    time.sleep(10)\n",
    "exit": "import os\n\ndef handler(e, c):\n    os._exit(7)\n",
    "oom": "def handler(e, c):\n    hog = [bytearray(32 * 1024 * 1024) for _ in range(16)]\n"
           "    return len(hog)\n",
}


def _invoke(backend, name: str, payload: dict | None = None, **kwargs) -> tuple[dict, dict]:
    response = backend.client("lambda").invoke(
        FunctionName=name, Payload=json.dumps(payload or {}).encode(), **kwargs)
    return response, json.loads(response["Payload"].read() or b"null")


def _invoke_failing(backend, role, name: str, files: dict, **config) -> tuple[dict, dict]:
    """Deploy ``files`` as ``name``, invoke it once and check it failed as unhandled."""
    deploy(backend, name, files, role=role, **config)
    response, body = _invoke(backend, name)
    assert response["FunctionError"] == "Unhandled"
    return response, body


def test_invoke_runs_the_handler_with_an_aws_shaped_context(backend, role, unique):
    # given
    name = f"echo-{unique}"
    deploy(backend, name, {"app.py": ECHO}, role=role, Timeout=7, MemorySize=256,
           Environment={"Variables": {"GREETING": "hi"}})
    # when
    response, body = _invoke(backend, name, {"x": 1})
    # then
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert body["event"] == {"x": 1}
    assert re.fullmatch(r"[0-9a-f-]{36}", body["request_id"])
    assert body["function_name"] == name
    assert body["function_version"] == "$LATEST"
    assert body["arn"].endswith(f":function:{name}")
    assert body["memory"] == "256"
    assert 5000 < body["remaining"] <= 7000
    assert body["group"] == f"/aws/lambda/{name}"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", body["stream"])
    assert body["env"] == {"GREETING": "hi", "AWS_REGION": "us-east-1",
                           "AWS_LAMBDA_FUNCTION_NAME": name}


def test_warm_environment_is_reused_between_invocations(backend, role, unique):
    # given
    name = f"warm-{unique}"
    deploy(backend, name, {"app.py": ECHO}, role=role)
    # when
    _, first = _invoke(backend, name)
    _, second = _invoke(backend, name)
    # then
    assert first["pid"] == second["pid"]
    assert first["stream"] == second["stream"]
    text = log_text(backend, name)
    assert text.count("Init Duration") == 1


def test_logs_have_start_end_report_lines_in_aws_format(backend, role, unique):
    # given
    name = f"logs-{unique}"
    deploy(backend, name, {"app.py": ECHO}, role=role)
    # when
    response, body = _invoke(backend, name, LogType="Tail")
    # then
    rid = body["request_id"]
    text = wait_for(lambda: log_text(backend, name), message="log events")
    assert f"START RequestId: {rid} Version: $LATEST\n" in text
    assert f"END RequestId: {rid}\n" in text
    report = re.search(
        rf"REPORT RequestId: {rid}\tDuration: (\d+\.\d\d) ms\tBilled Duration: (\d+) ms\t"
        r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: (\d+\.\d\d) ms\t\n",
        text)
    assert report
    duration, billed, init = float(report[1]), int(report[2]), float(report[3])
    # INIT is billed since 2025-08-01; the shown values are rounded to 0.01 ms each
    assert billed in {max(1, math.ceil(duration + init + d)) for d in (-0.01, 0.01)}
    assert "hello from print\n" in text
    assert re.search(rf"\[INFO\]\t\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t{rid}\t"
                     r"hello from logging\n", text)
    tail = base64.b64decode(response["LogResult"]).decode()
    assert f"REPORT RequestId: {rid}" in tail


def test_unhandled_exception_is_a_function_error_with_aws_payload(backend, role, unique):
    # given
    name = f"raise-{unique}"
    # when
    response, body = _invoke_failing(backend, role, name, {"app.py": FAILING["raise"]})
    # then
    assert response["StatusCode"] == 200
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "broken on purpose"
    assert isinstance(body["stackTrace"], list) and body["stackTrace"]
    text = wait_for(lambda: "[ERROR]" in log_text(backend, name) and log_text(backend, name))
    assert "[ERROR] ValueError: broken on purpose\nTraceback (most recent call last):" in text
    assert "\u00a0\u00a0File" in text


def test_timeout_returns_sandbox_timedout_and_recycles_the_environment(backend, role, unique):
    # given
    name = f"sleep-{unique}"
    # when
    _, body = _invoke_failing(backend, role, name, {"app.py": FAILING["sleep"]}, Timeout=1)
    # then
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert body["errorMessage"].startswith("RequestId: ")
    text = log_text(backend, name)
    assert "Task timed out after 1.00 seconds" in text
    assert "Status: timeout" in text


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        ({"app.py": "def handler(e, c):\n    return 1\n"}, "missing.handler",
         "Runtime.ImportModuleError", "Unable to import module 'missing'"),
        ({"app.py": "def handler(e, c):\n    return 1\n"}, "app.nope",
         "Runtime.HandlerNotFound", "Handler 'nope' missing on module 'app'"),
        ({"app.py": "def handler(e, c):\n    return (\n"}, "app.handler",
         "Runtime.UserCodeSyntaxError", "Syntax error in module 'app'"),
    ],
    ids=["module_missing", "handler_missing", "syntax_error"],
)
def test_init_errors_are_reported_like_the_python_runtime(backend, role, unique, files,
                                                          handler, error_type, message):
    # given
    name = f"init-{unique}"
    # when
    _, body = _invoke_failing(backend, role, name, files, handler=handler)
    # then
    assert body["errorType"] == error_type
    assert body["errorMessage"].startswith(message)


def test_memory_over_memory_size_kills_the_environment(backend, role, unique):
    # given
    name = f"oom-{unique}"
    # when
    _, body = _invoke_failing(backend, role, name, {"app.py": FAILING["oom"]}, MemorySize=128)
    # then
    assert body["errorType"] == "Runtime.OutOfMemory"
    assert "Runtime exited with error: signal: killed" in body["errorMessage"]


def test_process_crash_is_an_exit_error_and_the_endpoint_stays_healthy(backend, role, unique):
    # given
    name = f"exit-{unique}"
    # when
    _, body = _invoke_failing(backend, role, name, {"app.py": FAILING["exit"]})
    # then
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith("Runtime exited with error: exit status 7")
    assert backend.client("sts").get_caller_identity()["Account"]


def test_handler_boto3_reaches_the_local_endpoint_without_code_changes(backend, role, unique):
    # given
    table = f"written-{unique}"
    make_table(backend, table, view_type=None)
    code = ("import boto3, os\n\ndef handler(e, c):\n"
            "    boto3.client('dynamodb').put_item(TableName=os.environ['T'],"
            " Item={'pk': {'S': 'from-lambda'}})\n    return 'ok'\n")
    name = f"writer-{unique}"
    deploy(backend, name, {"app.py": code}, role=role,
           Environment={"Variables": {"T": table}})
    # when
    _invoke(backend, name)
    # then
    items = backend.client("dynamodb").scan(TableName=table)["Items"]
    assert items == [{"pk": {"S": "from-lambda"}}]


def test_reserved_concurrency_zero_throttles_every_invoke(backend, role, unique):
    # given
    name = f"throttle-{unique}"
    lam = backend.client("lambda")
    deploy(backend, name, {"app.py": ECHO}, role=role)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    # when
    with pytest.raises(ClientError) as err:
        _invoke(backend, name)
    # then
    assert err.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert err.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lam.delete_function_concurrency(FunctionName=name)
    assert _invoke(backend, name)[0]["StatusCode"] == 200


def test_reserved_concurrency_one_throttles_a_second_concurrent_invoke(backend, role, unique):
    # given
    name = f"one-{unique}"
    lam = backend.client("lambda")
    deploy(backend, name, {"app.py": "import time\n\ndef handler(e, c):\n    time.sleep(1.5)\n"},
           role=role, Timeout=5)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    results: list[str] = []

    def call() -> None:
        try:
            _invoke(backend, name)
            results.append("ok")
        except ClientError as exc:
            results.append(exc.response["Error"]["Code"])

    # when
    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then
    assert sorted(results) == ["TooManyRequestsException", "ok"]


def test_event_invocation_is_accepted_and_runs_in_the_background(backend, role, unique):
    # given
    table = f"async-{unique}"
    make_table(backend, table, view_type=None)
    code = ("import boto3, os\n\ndef handler(e, c):\n"
            "    boto3.client('dynamodb').put_item(TableName=os.environ['T'],"
            " Item={'pk': {'S': e['k']}})\n")
    name = f"async-{unique}"
    deploy(backend, name, {"app.py": code}, role=role, Environment={"Variables": {"T": table}})
    # when
    response = backend.client("lambda").invoke(FunctionName=name, InvocationType="Event",
                                                Payload=b'{"k": "queued"}')
    # then
    assert response["StatusCode"] == 202
    wait_for(lambda: backend.client("dynamodb").scan(TableName=table)["Count"] == 1,
             message="the async invocation to write its item")


def test_dry_run_validates_without_running(backend, role, unique):
    # given
    name = f"dry-{unique}"
    deploy(backend, name, {"app.py": ECHO}, role=role)
    # when
    response = backend.client("lambda").invoke(FunctionName=name, InvocationType="DryRun")
    # then
    assert response["StatusCode"] == 204


@pytest.mark.parametrize(
    ("payload", "code", "status"),
    [
        (b"{not json", "InvalidRequestContentException", 400),
        (b'"' + b"x" * (6 * 1024 * 1024) + b'"', "RequestEntityTooLargeException", 413),
    ],
    ids=["not_json", "over_6_mb"],
)
def test_bad_payloads_get_aws_errors(backend, role, unique, payload, code, status):
    # given
    name = f"payload-{unique}"
    deploy(backend, name, {"app.py": ECHO}, role=role)
    # when
    with pytest.raises(ClientError) as err:
        backend.client("lambda").invoke(FunctionName=name, Payload=payload)
    # then
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_unknown_function_is_not_found(backend):
    # when
    with pytest.raises(ClientError) as err:
        backend.client("lambda").invoke(FunctionName="does-not-exist", Payload=b"{}")
    # then
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert err.value.response["Error"]["Message"].endswith(":function:does-not-exist")


@pytest.mark.parametrize(
    ("settings", "code", "message"),
    [
        ({"Runtime": "python3.7"}, "InvalidParameterValueException",
         "The runtime parameter of python3.7 is no longer supported"),
        ({"Timeout": 0}, "ValidationException",
         "Value '0' at 'timeout' failed to satisfy constraint: Member must have value "
         "greater than or equal to 1"),
        ({"Timeout": 901}, "ValidationException",
         "Value '901' at 'timeout' failed to satisfy constraint: Member must have value "
         "less than or equal to 900"),
        ({"MemorySize": 64}, "ValidationException",
         "Value '64' at 'memorySize' failed to satisfy constraint: Member must have value "
         "greater than or equal to 128"),
    ],
    ids=["deprecated_runtime", "timeout_zero", "timeout_over_900", "memory_under_128"],
)
def test_function_settings_out_of_range_are_refused(backend, role, unique, settings, code,
                                                    message):
    # given: a client that lets bad values reach the endpoint, as other SDKs would
    lam = backend.client("lambda", config=Config(parameter_validation=False))
    args = {"Runtime": "python3.12", **settings}
    # when
    with pytest.raises(ClientError) as err:
        lam.create_function(FunctionName=f"bad-{unique}", Role=role, Handler="app.handler",
                            Code={"ZipFile": zip_code({"app.py": ECHO})}, **args)
    # then
    assert err.value.response["Error"]["Code"] == code
    assert message in err.value.response["Error"]["Message"]


def test_invocation_metrics_reach_cloudwatch(backend, role, unique):
    # given
    name = f"metrics-{unique}"
    deploy(backend, name, {"app.py": ECHO}, role=role)
    # when
    for _ in range(3):
        _invoke(backend, name)
    # then
    cw = backend.client("cloudwatch")
    now = datetime.now(UTC)

    def total(metric: str, stat: str = "Sum") -> float:
        points = cw.get_metric_statistics(
            Namespace="AWS/Lambda", MetricName=metric, Statistics=[stat], Period=60,
            Dimensions=[{"Name": "FunctionName", "Value": name}],
            StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=5),
        )["Datapoints"]
        return sum(p[stat] for p in points)

    assert total("Invocations") == 3
    assert total("Errors") == 0
    assert total("Duration", "SampleCount") == 3


def test_output_while_the_module_loads_goes_to_the_log(backend, role, unique):
    # given: the classic blueprint that prints when its module is imported
    name = f"loading-{unique}"
    code = "print('Loading function')\n\ndef handler(e, c):\n    return 'ok'\n"
    deploy(backend, name, {"app.py": code}, role=role)
    # when
    response, body = _invoke(backend, name)
    # then
    assert "FunctionError" not in response and body == "ok"
    text = log_text(backend, name)
    assert text.index("Loading function\n") < text.index("START RequestId")


def test_versions_and_aliases_are_refused_clearly(backend, role, unique):
    # given
    name = f"qualified-{unique}"
    deploy(backend, name, {"app.py": ECHO}, role=role)
    # when
    with pytest.raises(ClientError) as err:
        backend.client("lambda").invoke(FunctionName=f"{name}:live", Payload=b"{}")
    # then
    assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "$LATEST only" in err.value.response["Error"]["Message"]
