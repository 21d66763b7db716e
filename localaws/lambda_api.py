"""The Lambda operations the local endpoint serves itself (rest-json protocol).

Everything else of the Lambda API (CreateFunction, GetFunction, concurrency,
tags, ...) is moto's; these are the operations that must run code or poll
streams, and the checks AWS makes that moto does not:

* ``Invoke`` (RequestResponse, Event, DryRun) -> :class:`~localaws.executor.pool.Executor`;
* ``Create/Get/List/Update/DeleteEventSourceMapping`` -> the ESM engine;
* ``CreateFunction`` / ``UpdateFunctionConfiguration`` parameter checks (runtime,
  timeout, memory size) before moto stores the function.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from localaws.errors import ServiceError, validation_error

MAX_PAYLOAD = 6 * 1024 * 1024
DEPRECATED_RUNTIMES = {
    "python2.7", "python3.6", "python3.7", "python3.8", "nodejs", "nodejs4.3",
    "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x", "nodejs16.x",
    "java8", "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1",
    "dotnet5.0", "dotnet6", "ruby2.5", "ruby2.7", "go1.x", "provided",
}
SUPPORTED_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13",
                      "python3.14")


@dataclass
class Request:
    """A parsed HTTP request for one of our operations."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    account_id: str
    region: str

    def json(self) -> dict[str, Any]:
        """The body as a JSON object (``{}`` when empty)."""
        if not self.body:
            return {}
        try:
            value = json.loads(self.body)
        except ValueError:
            raise ServiceError("SerializationException", "Could not parse request body") from None
        if not isinstance(value, dict):
            raise ServiceError("SerializationException", "Could not parse request body")
        return value


Response = tuple[int, dict[str, str], bytes]
Handler = Callable[..., Response]


#: Lambda's default code storage quota per region (75 GB).
ACCOUNT_CODE_STORAGE_BYTES = 80_530_636_800


def json_response(status: int, body: Any) -> Response:
    """A rest-json response."""
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


class LambdaApi:
    """Routes Lambda requests the endpoint handles itself; ``None`` means "moto's".

    Parameters
    ----------
    executor : Executor
        Runs functions.
    mappings : object
        The ESM engine's API (``create``, ``get``, ``list``, ``update``, ``delete``).
    """

    def __init__(self, executor: Any, mappings: Any) -> None:
        self.executor = executor
        self.mappings = mappings
        fn = r"(?P<name>[^/]+)"
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("POST", re.compile(rf"^/2015-03-31/functions/{fn}/invocations/?$"), self.invoke),
            ("POST", re.compile(r"^/2015-03-31/event-source-mappings/?$"), self.create_mapping),
            ("GET", re.compile(r"^/2015-03-31/event-source-mappings/?$"), self.list_mappings),
            ("GET", re.compile(r"^/2015-03-31/event-source-mappings/(?P<uuid>[^/]+)/?$"),
             self.get_mapping),
            ("PUT", re.compile(r"^/2015-03-31/event-source-mappings/(?P<uuid>[^/]+)/?$"),
             self.update_mapping),
            ("DELETE", re.compile(r"^/2015-03-31/event-source-mappings/(?P<uuid>[^/]+)/?$"),
             self.delete_mapping),
            ("GET", re.compile(r"^/2016-08-19/account-settings/?$"), self.account_settings),
        ]
        self._routes += [
            (method, re.compile(rf"^/2019-09-25/functions/{fn}/event-invoke-config/?$"),
             self.refuse_event_invoke_config) for method in ("PUT", "POST")
        ] + [("POST", re.compile(rf"^/2015-03-31/functions/{fn}/versions/?$"),
              self.refuse_publish_version)]
        self._checks: list[tuple[str, re.Pattern[str], Callable[[Request], None]]] = [
            ("POST", re.compile(r"^/2015-03-31/functions/?$"), self.check_create_function),
            ("PUT", re.compile(rf"^/2015-03-31/functions/{fn}/configuration/?$"),
             self.check_update_configuration),
        ]

    @staticmethod
    def is_lambda_path(path: str) -> bool:
        """True for paths of the Lambda API (no other service uses these prefixes)."""
        return path.startswith(("/2015-03-31/", "/2016-08-19/", "/2017-10-31/", "/2019-09-25/",
                                "/2019-09-30/"))

    def handle(self, request: Request) -> Response | None:
        """Serve ``request`` or return ``None`` to pass it on to moto.

        Raises
        ------
        ServiceError
            For requests AWS would refuse.
        """
        for method, pattern, check in self._checks:
            if request.method == method and pattern.match(request.path):
                check(request)
                return None
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if request.method == method and match:
                args = {k: unquote(v) for k, v in match.groupdict().items()}
                return handler(request, **args)
        return None

    # -- Account settings ------------------------------------------------------------
    def account_settings(self, request: Request) -> Response:
        """``lambda:GetAccountSettings``: the limits the executor enforces, and the usage."""
        from localaws import backends
        from localaws.executor.pool import ACCOUNT_CONCURRENCY

        functions = backends.lambda_functions(request.account_id, request.region)
        reserved = sum(int(f.reserved_concurrency or 0) for f in functions)
        return json_response(200, {
            "AccountLimit": {
                "TotalCodeSize": ACCOUNT_CODE_STORAGE_BYTES,
                "CodeSizeUnzipped": 262_144_000,
                "CodeSizeZipped": 52_428_800,
                "ConcurrentExecutions": ACCOUNT_CONCURRENCY,
                "UnreservedConcurrentExecutions": ACCOUNT_CONCURRENCY - reserved,
            },
            "AccountUsage": {
                "TotalCodeSize": sum(int(f.code_size or 0) for f in functions),
                "FunctionCount": len(functions),
            },
        })

    # -- Invoke ----------------------------------------------------------------------
    def invoke(self, request: Request, name: str) -> Response:
        """``lambda:Invoke``."""
        kind = request.headers.get("x-amz-invocation-type", "RequestResponse")
        if kind not in ("RequestResponse", "Event", "DryRun"):
            raise validation_error(
                f"1 validation error detected: Value '{kind}' at 'invocationType' failed to "
                "satisfy constraint: Member must satisfy enum value set: "
                "[RequestResponse, Event, DryRun]")
        qualifier = request.query.get("Qualifier")
        if qualifier and qualifier != "$LATEST":
            raise ServiceError(
                "InvalidParameterValueException",
                "The local endpoint runs $LATEST only; versions and aliases are not "
                "supported.")
        if len(request.body) > MAX_PAYLOAD:
            raise ServiceError(
                "RequestEntityTooLargeException",
                f"Request must be smaller than {MAX_PAYLOAD} bytes for the InvokeFunction "
                "operation", status=413)
        if request.body:
            try:
                json.loads(request.body)
            except ValueError as exc:
                raise ServiceError(
                    "InvalidRequestContentException",
                    f"Could not parse request body into json: Could not parse payload into "
                    f"json: {exc}") from None
        if kind == "DryRun":
            self.executor.validate(request.account_id, request.region, name)
            return 204, {}, b""
        if kind == "Event":
            request_id = self.executor.invoke_async(
                request.account_id, request.region, name, request.body)
            return 202, {"x-amzn-RequestId": request_id}, b""
        result = self.executor.invoke(
            request.account_id, request.region, name, request.body,
            log_tail=request.headers.get("x-amz-log-type") == "Tail")
        if len(result.payload) > MAX_PAYLOAD:
            err = {"errorMessage": f"Response payload size ({len(result.payload)} bytes) "
                                   f"exceeded maximum allowed payload size ({MAX_PAYLOAD} "
                                   "bytes).", "errorType": "Function.ResponseSizeTooLarge"}
            result.payload = json.dumps(err).encode()
            result.function_error = "Unhandled"
        headers = {"Content-Type": "application/json",
                   "X-Amz-Executed-Version": result.executed_version,
                   "x-amzn-RequestId": result.request_id}
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        if result.log_tail is not None:
            headers["X-Amz-Log-Result"] = result.log_tail
        return 200, headers, result.payload

    # -- event source mappings ---------------------------------------------------------
    def create_mapping(self, request: Request) -> Response:
        """``lambda:CreateEventSourceMapping``."""
        body = self.mappings.create(request.account_id, request.region, request.json())
        return json_response(202, body)

    def list_mappings(self, request: Request) -> Response:
        """``lambda:ListEventSourceMappings``."""
        return json_response(200, self.mappings.list(
            request.account_id, request.region,
            function_name=request.query.get("FunctionName"),
            event_source_arn=request.query.get("EventSourceArn"),
            marker=request.query.get("Marker"),
            max_items=request.query.get("MaxItems")))

    def get_mapping(self, request: Request, uuid: str) -> Response:
        """``lambda:GetEventSourceMapping``."""
        return json_response(200, self.mappings.get(request.account_id, request.region, uuid))

    def update_mapping(self, request: Request, uuid: str) -> Response:
        """``lambda:UpdateEventSourceMapping``."""
        body = self.mappings.update(request.account_id, request.region, uuid, request.json())
        return json_response(202, body)

    def delete_mapping(self, request: Request, uuid: str) -> Response:
        """``lambda:DeleteEventSourceMapping``."""
        return json_response(202, self.mappings.delete(request.account_id, request.region,
                                                       uuid))

    def refuse_event_invoke_config(self, request: Request, name: str) -> Response:
        """``Put/UpdateFunctionEventInvokeConfig``: not emulated, refused."""
        raise _not_emulated("Event invoke configuration",
                            "asynchronous retries and destinations are not emulated")

    def refuse_publish_version(self, request: Request, name: str) -> Response:
        """``PublishVersion``: not emulated, refused."""
        raise _not_emulated("PublishVersion", "versions are not supported; $LATEST runs")

    # -- function parameter checks -------------------------------------------------------
    def check_create_function(self, request: Request) -> None:
        """AWS's checks on CreateFunction that moto does not make."""
        body = request.json()
        _check_function_settings(body)
        package_type = body.get("PackageType", "Zip")
        if package_type == "Image":
            raise ServiceError("InvalidParameterValueException",
                               "The local endpoint runs zip-packaged functions only "
                               "(PackageType Zip).")
        if "Runtime" not in body:
            raise ServiceError("InvalidParameterValueException",
                               "Runtime and Handler are mandatory parameters for functions "
                               "created with deployment packages.")
        if "Handler" not in body:
            raise ServiceError("InvalidParameterValueException",
                               "Runtime and Handler are mandatory parameters for functions "
                               "created with deployment packages.")

    def check_update_configuration(self, request: Request) -> None:
        """AWS's checks on UpdateFunctionConfiguration that moto does not make."""
        body = request.json()
        body.setdefault("FunctionName", unquote(request.path.split("/")[3]))
        _check_function_settings(body)


def _range_error(value: Any, field: str, bound: int, upper: bool) -> ServiceError:
    relation = "less than or equal to" if upper else "greater than or equal to"
    return validation_error(
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
        f"constraint: Member must have value {relation} {bound}")


def _not_emulated(setting: str, why: str) -> ServiceError:
    return ServiceError("InvalidParameterValueException",
                        f"{setting} is not supported by the local endpoint: {why}. Remove it "
                        "(see FIDELITY.md).")


def _check_not_emulated(body: dict[str, Any]) -> None:
    """Refuse function settings the executor would otherwise silently ignore."""
    if body.get("Layers"):
        raise _not_emulated("Layers", "layers are not applied to the function's code")
    logging_config = body.get("LoggingConfig") or {}
    if logging_config.get("LogFormat", "Text") != "Text" or any(
            k in logging_config for k in ("ApplicationLogLevel", "SystemLogLevel")):
        raise _not_emulated("LoggingConfig", "only the Text log format is emulated")
    if logging_config.get("LogGroup") not in (None, f"/aws/lambda/{body.get('FunctionName')}"):
        raise _not_emulated("LoggingConfig.LogGroup", "logs go to /aws/lambda/<function>")
    if (body.get("DeadLetterConfig") or {}).get("TargetArn"):
        raise _not_emulated("DeadLetterConfig", "asynchronous invocations are not retried "
                                                "to a dead-letter queue")
    if body.get("FileSystemConfigs"):
        raise _not_emulated("FileSystemConfigs", "no file system is mounted")
    if (body.get("EphemeralStorage") or {}).get("Size", 512) != 512:
        raise _not_emulated("EphemeralStorage", "/tmp is not sized")
    if (body.get("SnapStart") or {}).get("ApplyOn", "None") != "None":
        raise _not_emulated("SnapStart", "environments are not snapshotted")
    if (body.get("TracingConfig") or {}).get("Mode", "PassThrough") == "Active":
        raise _not_emulated("TracingConfig", "X-Ray tracing is not emulated")
    if (body.get("VpcConfig") or {}).get("SubnetIds"):
        raise _not_emulated("VpcConfig", "functions run on the local network")
    if body.get("Publish"):
        raise _not_emulated("Publish", "versions are not supported; $LATEST runs")


ARCHITECTURES = ("x86_64", "arm64")


def _check_architectures(body: dict[str, Any]) -> None:
    """``Architectures``: one of x86_64 or arm64 (the code runs on the host's CPU)."""
    value = body.get("Architectures")
    if value is None:
        return
    if not isinstance(value, list):
        raise ServiceError("SerializationException", "Architectures must be a list.")
    shown = "[" + ", ".join(map(str, value)) + "]"
    if len(value) != 1:
        bound = "less than or equal to 1" if value else "greater than or equal to 1"
        constraint = f"Member must have length {bound}"
    elif value[0] not in ARCHITECTURES:
        constraint = "Member must satisfy constraint: [Member must satisfy enum value set: " \
                     "[x86_64, arm64]]"
    else:
        return
    raise validation_error(f"1 validation error detected: Value '{shown}' at 'architectures' "
                           f"failed to satisfy constraint: {constraint}")


def _check_function_settings(body: dict[str, Any]) -> None:
    _check_not_emulated(body)
    _check_architectures(body)
    timeout = body.get("Timeout")
    if timeout is not None:
        if not isinstance(timeout, int) or isinstance(timeout, bool):
            raise ServiceError("SerializationException",
                               "NUMBER_VALUE can not be converted to an Integer")
        if timeout < 1:
            raise _range_error(timeout, "timeout", 1, False)
        if timeout > 900:
            raise _range_error(timeout, "timeout", 900, True)
    memory = body.get("MemorySize")
    if memory is not None:
        if not isinstance(memory, int) or isinstance(memory, bool):
            raise ServiceError("SerializationException",
                               "NUMBER_VALUE can not be converted to an Integer")
        if memory < 128:
            raise _range_error(memory, "memorySize", 128, False)
        if memory > 10240:
            raise ServiceError(
                "InvalidParameterValueException",
                "'MemorySize' value failed to satisfy constraint: Member must have value "
                "less than or equal to 10240")
    runtime = body.get("Runtime")
    if runtime is not None:
        if runtime in DEPRECATED_RUNTIMES:
            raise ServiceError(
                "InvalidParameterValueException",
                f"The runtime parameter of {runtime} is no longer supported for creating or "
                "updating AWS Lambda functions. We recommend you use a supported runtime "
                "while creating or updating functions.")
        if runtime not in SUPPORTED_RUNTIMES:
            raise ServiceError(
                "InvalidParameterValueException",
                f"The local endpoint runs Python functions only; runtime {runtime!r} is not "
                f"supported (use one of {', '.join(SUPPORTED_RUNTIMES)}).")


def parse_query(query_string: str) -> dict[str, str]:
    """A query string as a flat dict (last value wins)."""
    return {k: v[-1] for k, v in parse_qs(query_string, keep_blank_values=True).items()}
