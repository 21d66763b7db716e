"""The runtime inside one execution environment (a worker process).

Run as a script, never imported by the endpoint: it uses the standard library
only, so a worker starts fast and carries nothing of the endpoint (no moto).

Protocol: JSON lines. The parent writes requests on file descriptor ``argv[1]``
and reads messages from ``argv[2]``:

* worker -> parent ``{"type": "ready", "init_ms": float, "error": null | {...}}``
  once, after importing the handler (the INIT phase);
* parent -> worker ``{"type": "invoke", "request_id", "payload", "deadline_ms",
  "function_arn"}``;
* worker -> parent ``{"type": "log", "message": str}`` for every log event
  (``print`` lines and ``logging`` records, in the Python runtime's format);
* worker -> parent ``{"type": "result", "request_id", "error": null | {...},
  "payload": str, "max_rss_kb": int}``.

The handler's settings come from the environment, as on AWS: ``_HANDLER``,
``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_FUNCTION_*``, ``AWS_LAMBDA_LOG_*``.
"""

from __future__ import annotations

import decimal
import importlib
import io
import json
import logging
import os
import resource
import sys
import threading
import time
import traceback

_NBSP = "\u00a0"


class _Channel:
    """Writes protocol messages to the parent, one JSON line each, thread-safely."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._lock = threading.Lock()

    def send(self, message: dict) -> None:
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        with self._lock:
            self._file.write(data)


class _LogStream(io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr``: every complete line becomes one log event."""

    def __init__(self, channel: _Channel) -> None:
        self._channel = channel
        self._buffer = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._buffer += text
            *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            self._channel.send({"type": "log", "message": line + "\n"})
        return len(text)

    def flush(self) -> None:
        with self._lock:
            rest, self._buffer = self._buffer, ""
        if rest:
            self._channel.send({"type": "log", "message": rest})


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


class _LambdaLogHandler(logging.Handler):
    """One log event per record, as the Python runtime's text format sends them."""

    def __init__(self, channel: _Channel) -> None:
        super().__init__()
        self._channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
        except Exception:
            message = record.getMessage()
        self._channel.send({"type": "log", "message": message + "\n"})


def _error(exc: BaseException, error_type: str | None = None,
           message: str | None = None) -> dict:
    frames = traceback.extract_tb(exc.__traceback__)
    return {
        "errorMessage": message if message is not None else str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_list(frames),
    }


def _log_unhandled(channel: _Channel, err: dict) -> None:
    lines = [f"[ERROR] {err['errorType']}: {err['errorMessage']}",
             "Traceback (most recent call last):"]
    for entry in err["stackTrace"]:
        for sub in entry.rstrip("\n").split("\n"):
            stripped = sub.lstrip(" ")
            lines.append(_NBSP * (len(sub) - len(stripped)) + stripped)
    channel.send({"type": "log", "message": "\n".join(lines)})


class _Context:
    """The context object AWS passes to a Python handler."""

    def __init__(self, request_id: str, deadline_ms: float, function_arn: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = function_arn
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(int(self._deadline_ms - time.time() * 1000), 0)

    def __repr__(self) -> str:
        return (f"LambdaContext([aws_request_id={self.aws_request_id},"
                f"function_name={self.function_name},"
                f"function_version={self.function_version},"
                f"invoked_function_arn={self.invoked_function_arn}])")


class _Encoder(json.JSONEncoder):
    def default(self, o: object) -> object:
        if isinstance(o, decimal.Decimal):
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def _peak_rss_kb() -> int:
    # VmHWM belongs to this program's own address space; ru_maxrss would also
    # count the parent's pages copied before exec.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _load_handler(spec: str):
    module_name, _, function_name = spec.rpartition(".")
    if not module_name:
        raise _InitError("Runtime.MalformedHandlerName",
                         f"Bad handler '{spec}': not enough values to unpack "
                         "(expected 2, got 1)")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise _InitError("Runtime.ImportModuleError",
                         f"Unable to import module '{module_name}': {exc}") from exc
    except SyntaxError as exc:
        raise _InitError("Runtime.UserCodeSyntaxError",
                         f"Syntax error in module '{module_name}': {exc}") from exc
    handler = getattr(module, function_name, None)
    if handler is None:
        raise _InitError("Runtime.HandlerNotFound",
                         f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


class _InitError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def main() -> None:
    requests = os.fdopen(int(sys.argv[1]), "rb")
    channel = _Channel(int(sys.argv[2]))
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    sys.path[0] = task_root
    os.chdir(task_root)
    sys.stdout = _LogStream(channel)
    sys.stderr = _LogStream(channel)
    request_filter = _RequestIdFilter()
    log_handler = _LambdaLogHandler(channel)
    log_handler.setFormatter(logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S"))
    log_handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    log_handler.addFilter(request_filter)
    root = logging.getLogger()
    root.handlers = [log_handler]
    root.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "WARNING").upper())

    started = time.perf_counter()
    handler = None
    init_error = None
    try:
        handler = _load_handler(os.environ["_HANDLER"])
    except _InitError as exc:
        init_error = _error(exc.__cause__ or exc, exc.error_type, str(exc))
        init_error["stackTrace"] = []
    except Exception as exc:
        init_error = _error(exc)
    channel.send({"type": "ready", "init_ms": (time.perf_counter() - started) * 1000,
                  "error": init_error})
    if init_error is not None:
        _log_unhandled(channel, init_error)
        return

    for line in requests:
        request = json.loads(line)
        request_filter.request_id = request["request_id"]
        context = _Context(request["request_id"], request["deadline_ms"],
                           request["function_arn"])
        error = None
        payload = ""
        try:
            event = json.loads(request["payload"]) if request["payload"] else {}
            result = handler(event, context)
            try:
                payload = json.dumps(result, cls=_Encoder)
            except (TypeError, ValueError) as exc:
                error = {"errorMessage": f"Unable to marshal response: {exc}",
                         "errorType": "Runtime.MarshalError", "stackTrace": []}
        except MemoryError:
            os._exit(137)  # the parent reports it as an out-of-memory kill
        except Exception as exc:
            error = _error(exc)
            error = {"errorMessage": error["errorMessage"], "errorType": error["errorType"],
                     "requestId": request["request_id"], "stackTrace": error["stackTrace"]}
            _log_unhandled(channel, error)
        sys.stdout.flush()
        sys.stderr.flush()
        channel.send({"type": "result", "request_id": request["request_id"], "error": error,
                      "payload": payload,
                      "max_rss_kb": _peak_rss_kb()})


if __name__ == "__main__":
    main()
