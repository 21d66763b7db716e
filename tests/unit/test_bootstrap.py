"""The runtime inside an execution environment, run in-process over a pair of pipes.

``bootstrap.main`` is what a worker process runs; here it reads its requests from
one pipe and writes its messages to another in the test's own process (so that
coverage sees it), with the environment, ``sys.path``, the working directory,
``sys.stdout``/``sys.stderr`` and the root logger put back afterwards.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from localaws.executor import bootstrap

_ids = itertools.count()
Run = Callable[..., list[dict]]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``run(source, requests, handler="fn")``: the messages ``main`` sends for them
    (``handler`` is a function of the module written from ``source``, or a whole
    ``_HANDLER`` value after ``=`` or with a dot)."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level

    def go(source: str, requests: list[dict] = (), handler: str = "fn",
           level: str = "INFO") -> list[dict]:
        module = f"handler_{next(_ids)}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        whole = handler.startswith("=") or "." in handler
        for name, value in {"LAMBDA_TASK_ROOT": str(tmp_path), "AWS_LAMBDA_LOG_LEVEL": level,
                            "_HANDLER": handler.lstrip("=") if whole else f"{module}.{handler}",
                            "AWS_LAMBDA_FUNCTION_NAME": "fn",
                            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"}.items():
            monkeypatch.setenv(name, value)
        requests_r, requests_w = os.pipe()
        out_r, out_w = os.pipe()
        with os.fdopen(requests_w, "wb") as pipe:
            pipe.writelines((json.dumps({"request_id": f"req-{i}", "deadline_ms": 4e12,
                                         "function_arn": "arn:aws:lambda:us-east-1:1:function:fn",
                                         **r}) + "\n").encode() for i, r in enumerate(requests))
        monkeypatch.setattr(sys, "argv", ["bootstrap", str(requests_r), str(out_w)])
        monkeypatch.setattr(sys, "path", ["", *sys.path])
        monkeypatch.setattr(sys, "stdout", sys.stdout)
        monkeypatch.setattr(sys, "stderr", sys.stderr)
        monkeypatch.chdir(tmp_path)
        try:
            bootstrap.main()
        finally:
            root.handlers, level_ = saved[0][:], saved[1]
            root.setLevel(level_)
        os.set_blocking(out_r, False)
        data = b""
        with os.fdopen(out_r, "rb") as out:
            while chunk := out.read(65536):
                data += chunk
        return [json.loads(line) for line in data.splitlines()]

    return go


def _of(messages: list[dict], kind: str) -> list[dict]:
    return [m for m in messages if m["type"] == kind]


def test_a_handler_is_imported_once_and_answers_each_request_with_its_result(run):
    # given
    source = """
        import decimal
        def fn(event, context):
            return {"got": event, "whole": decimal.Decimal("3"), "part": decimal.Decimal("1.5")}
    """
    # when
    messages = run(source, [{"payload": '{"a": 1}'}, {"payload": ""}])
    # then
    assert messages[0]["type"] == "ready" and messages[0]["error"] is None
    results = _of(messages, "result")
    assert [r["request_id"] for r in results] == ["req-0", "req-1"]
    assert [json.loads(r["payload"]) for r in results] == [
        {"got": {"a": 1}, "whole": 3, "part": 1.5}, {"got": {}, "whole": 3, "part": 1.5}]
    assert all(r["error"] is None and r["max_rss_kb"] > 0 for r in results)


def test_print_lines_and_log_records_become_log_events_with_the_request_id(run):
    # given
    source = """
        import logging, sys
        def fn(event, context):
            print("one\\ntwo")
            sys.stderr.write("no newline")
            logging.getLogger("app").warning("careful %s", 42)
            logging.getLogger("app").debug("hidden at INFO")
            return None
    """
    # when
    logs = [m["message"] for m in _of(run(source, [{"payload": "{}"}]), "log")]
    # then
    assert len(logs) == 4
    assert logs[:2] == ["one\n", "two\n"]
    assert logs[3] == "no newline"  # a partial line goes out when the handler returns
    level, stamp, request_id, text = logs[2].split("\t")
    assert (level, request_id, text) == ("[WARNING]", "req-0", "careful 42\n")
    assert stamp.endswith("Z")


def test_a_raising_handler_gives_an_error_result_and_an_error_log_with_its_traceback(run):
    # given
    source = """
        def fn(event, context):
            raise KeyError("missing")
    """
    # when
    messages = run(source, [{"payload": "{}"}])
    # then
    [result] = _of(messages, "result")
    error = result["error"]
    assert (error["errorType"], error["errorMessage"], error["requestId"]) == (
        "KeyError", "'missing'", "req-0")
    assert any("raise KeyError" in frame for frame in error["stackTrace"])
    [log] = _of(messages, "log")
    assert log["message"].startswith("[ERROR] KeyError: 'missing'\nTraceback")
    assert "\u00a0" in log["message"]  # indentation kept as AWS shows it


def test_a_result_json_cannot_carry_is_a_marshal_error(run):
    # given
    source = """
        def fn(event, context):
            return {1, 2}
    """
    # when
    [result] = _of(run(source, [{"payload": "{}"}]), "result")
    # then
    assert result["error"]["errorType"] == "Runtime.MarshalError"
    assert result["error"]["errorMessage"].startswith("Unable to marshal response:")


def test_the_context_carries_the_request_and_the_functions_settings(run):
    # given
    source = """
        def fn(event, context):
            return {"id": context.aws_request_id, "name": context.function_name,
                    "memory": context.memory_limit_in_mb, "arn": context.invoked_function_arn,
                    "left": context.get_remaining_time_in_millis() > 0, "repr": repr(context)}
    """
    # when
    [result] = _of(run(source, [{"payload": "{}"}]), "result")
    # then
    body = json.loads(result["payload"])
    assert body["id"] == "req-0" and body["name"] == "fn" and body["memory"] == "256"
    assert body["arn"].endswith(":function:fn") and body["left"] is True
    assert body["repr"].startswith("LambdaContext([aws_request_id=req-0,function_name=fn,")


@pytest.mark.parametrize("source,handler,error_type,message", [
    ("def fn(e, c): pass", "=nodot", "Runtime.MalformedHandlerName",
     "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)"),
    ("def fn(e, c): pass", "no_such_module.fn", "Runtime.ImportModuleError",
     "Unable to import module 'no_such_module': No module named 'no_such_module'"),
    ("def fn(e, c) pass", "fn", "Runtime.UserCodeSyntaxError", "Syntax error in module"),
    ("def other(e, c): pass", "fn", "Runtime.HandlerNotFound", "Handler 'fn' missing on module"),
    ("raise ValueError('bad setting')", "fn", "ValueError", "bad setting"),
], ids=["malformed", "import", "syntax", "not-found", "init-raises"])
def test_an_init_failure_is_reported_once_in_ready_and_logged(run, source, handler, error_type,
                                                              message):
    # when
    messages = run(source, [{"payload": "{}"}], handler=handler)
    # then: no request is served
    ready = messages[0]
    assert ready["type"] == "ready" and ready["init_ms"] >= 0
    assert ready["error"]["errorType"] == error_type
    assert ready["error"]["errorMessage"].startswith(message)
    assert not _of(messages, "result")
    assert _of(messages, "log")[0]["message"].startswith(f"[ERROR] {error_type}: ")


def test_a_log_record_that_cannot_be_formatted_is_sent_as_its_message():
    # given
    sent: list[dict] = []
    channel = type("Channel", (), {"send": lambda self, m: sent.append(m)})()
    handler = bootstrap._LambdaLogHandler(channel)
    handler.setFormatter(logging.Formatter("%(aws_request_id)s %(message)s"))  # no filter
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "plain", (), None)
    # when
    handler.emit(record)
    # then
    assert sent == [{"type": "log", "message": "plain\n"}]
