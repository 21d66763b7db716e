"""The embedded local AWS endpoint: one WSGI app on 127.0.0.1.

``Router`` sends the Lambda operations that must run code or poll streams to our
providers (:mod:`localaws.lambda_api`) and everything else to moto, served
in-process. ``serve`` runs it in the foreground until SIGTERM/SIGINT.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from localaws.errors import EndpointError, ServiceError

log = logging.getLogger("localaws")

HOST = "127.0.0.1"
HEALTH_PATH = "/_workshop/health"
GET_RECORDS_TARGET = "DynamoDBStreams_20120810.GetRecords"
# DynamoDB writes that change items (and so append stream records). moto takes no
# lock: two concurrent writes could read the same old image or take the same
# sequence number, breaking the per-item order the stream guarantees.
DYNAMODB_WRITES = frozenset("DynamoDB_20120810." + op for op in (
    "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems",
    "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction", "UpdateTable",
    "DeleteTable", "CreateTable"))
ENGINE_RESTART_PATH = "/_workshop/engine/restart"
AUTHORIZATION_PATH = "/_workshop/authorization"
_CREDENTIAL = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[a-z0-9-]+)/")


def _prepare_moto() -> None:
    # Must happen before moto's IAM module is imported: the workshop attaches
    # AWS managed policies such as AWSLambdaDynamoDBExecutionRole.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    os.environ.setdefault("MOTO_ENABLE_ISO_REGIONS", "false")
    # AWS refuses a reservation that leaves less than 100 unreserved concurrency; moto
    # checks it against this quota: the executor's account limit, AWS's default quota
    # (new accounts may be given less; FIDELITY.md, "Concurrency").
    os.environ.setdefault("MOTO_LAMBDA_CONCURRENCY_QUOTA", "1000")
    from moto import backends
    from moto.core.common_models import BaseModel

    # moto keeps every model object it ever made (every item ever written, every
    # message, every iterator) in a class-level list for its dashboard, which the
    # endpoint does not serve: a long session would grow without bound.
    BaseModel.__new__ = staticmethod(_untracked_new)  # type: ignore[assignment]

    # moto lists its package directory on every request to route it; the list
    # never changes while the endpoint runs.
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    from localaws import iam_backend, moto_tuning

    iam_backend.install()
    moto_tuning.install()


def _untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    return object.__new__(cls)


class Router:
    """WSGI app: our Lambda providers first, moto for everything else.

    Parameters
    ----------
    moto_app : callable
        moto's WSGI application.
    lambda_api : LambdaApi
        Our Lambda operations.
    status : callable
        Returns the health/status document.
    """

    def __init__(self, moto_app: Any, lambda_api: Any, status: Any,
                 restart_engine: Any = None) -> None:
        self.moto_app = moto_app
        self.lambda_api = lambda_api
        self.status = status
        self.restart_engine = restart_engine
        # Public: the TTL sweeper deletes items under the same lock.
        self.write_lock = threading.RLock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        from localaws import authz
        from localaws.lambda_api import LambdaApi, Request, parse_query

        path = environ.get("PATH_INFO", "")
        if path == HEALTH_PATH:
            return self._send(start_response, 200, {"Content-Type": "application/json"},
                              json.dumps(self.status()).encode())
        if path == ENGINE_RESTART_PATH and environ["REQUEST_METHOD"] == "POST" \
                and self.restart_engine is not None:
            self.restart_engine()
            return self._send(start_response, 200, {"Content-Type": "application/json"},
                              json.dumps(self.status()).encode())
        if path == AUTHORIZATION_PATH:  # which actions each role was evaluated for
            return self._send(start_response, 200, {"Content-Type": "application/json"},
                              json.dumps(authz.usage()).encode())
        # A function's own calls are restricted to its execution role (GetRecords too).
        denied = authz.authorize(environ)
        if denied is not None:
            return self._send(start_response, *denied)
        if environ.get("HTTP_X_AMZ_TARGET") == GET_RECORDS_TARGET:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
            from localaws.streams import serve_get_records

            return self._send(start_response, *serve_get_records(
                environ["wsgi.input"].read(length), _account_id(),
                match.group("region") if match else "us-east-1"))
        if environ.get("HTTP_X_AMZ_TARGET") in DYNAMODB_WRITES:
            with self.write_lock:  # one item change (and stream record) at a time
                return list(self.moto_app(environ, start_response))
        if not LambdaApi.is_lambda_path(path):
            return self.moto_app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        auth = environ.get("HTTP_AUTHORIZATION", "")
        match = _CREDENTIAL.search(auth)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
                   if k.startswith("HTTP_")}
        request = Request(
            method=environ["REQUEST_METHOD"], path=path,
            query=parse_query(environ.get("QUERY_STRING", "")), headers=headers, body=body,
            account_id=_account_id(), region=match.group("region") if match else "us-east-1")
        try:
            response = self.lambda_api.handle(request)
        except ServiceError as err:
            return self._send(start_response, *err.to_rest_json())
        except Exception:
            log.exception("internal error serving %s %s", request.method, path)
            body_out = json.dumps({"Type": "Service", "message": "Internal error in the "
                                   "local endpoint: see its log file"}).encode()
            return self._send(start_response, 500, {"Content-Type": "application/json",
                                                    "x-amzn-ErrorType": "ServiceException"},
                              body_out)
        if response is None:
            # moto serves it; give it the body we consumed.
            import io

            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            return self.moto_app(environ, start_response)
        return self._send(start_response, *response)

    @staticmethod
    def _send(start_response: Any, status: int, headers: dict[str, str], body: bytes) -> Any:
        reason = {200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request",
                  403: "Forbidden", 404: "Not Found", 409: "Conflict",
                  413: "Request Entity Too Large", 429: "Too Many Requests",
                  500: "Internal Server Error"}.get(status, "")
        out = dict(headers)
        out["Content-Length"] = str(len(body))
        start_response(f"{status} {reason}", list(out.items()))
        return [body]


def _account_id() -> str:
    from moto.core import DEFAULT_ACCOUNT_ID

    return DEFAULT_ACCOUNT_ID


class Endpoint:
    """The running endpoint: moto, the executor, the ESM engine and the HTTP server.

    Parameters
    ----------
    port : int
        TCP port on 127.0.0.1.
    saved_state : Path, optional
        Directory of the saved state: restored now, snapshotted while serving and
        on a clean stop. ``None`` keeps everything in memory only (``--ephemeral``).
    stream_settings : StreamSettings, optional
        Shard lifetime, stream retention and TTL sweep (the environment's by default).

    Raises
    ------
    SavedStateError
        The saved state is from another version or damaged (nothing is served).
    """

    def __init__(self, port: int, saved_state: Path | None = None,
                 stream_settings: Any = None) -> None:
        _prepare_moto()
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from waitress.server import create_server

        from localaws import alarms, streams
        from localaws.esm.service import MappingService
        from localaws.executor.pool import Executor
        from localaws.lambda_api import LambdaApi
        from localaws.paths import state_dir
        from localaws.streams.settings import StreamSettings
        from localaws.streams.ttl import TtlSweeper

        self.stream_settings = stream_settings or StreamSettings.from_env()
        streams.install(self.stream_settings)
        alarms.install()
        alarms.serve_alarm_history()
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.started = time.time()
        self.executor = Executor(state_dir(), self.url)
        self.mappings = MappingService(self.executor, self.url)
        self.alarms = alarms.AlarmEvaluator()
        moto_app = DomainDispatcherApplication(create_backend_app)
        self.app = Router(moto_app, LambdaApi(self.executor, self.mappings), self.status,
                          self.restart_engine)
        self.ttl = TtlSweeper(self.app.write_lock)
        self.saved_state = saved_state
        self.snapshots = None
        if saved_state is not None:
            try:
                self.app = self._keep_state(saved_state, self.app)
            except Exception:
                self.executor.shutdown()
                raise

        # waitress keeps HTTP/1.1 connections alive (werkzeug's development
        # server closes every connection, which costs a TCP handshake and a new
        # thread per call). Enough threads for many long synchronous invokes.
        try:
            self.server = create_server(self.app, host=HOST, port=port, threads=64,
                                        connection_limit=1000, channel_timeout=960,
                                        ident="workshop")
        except OSError as exc:
            self.executor.shutdown()
            raise EndpointError(f"cannot listen on {HOST}:{port}: {exc}") from exc

    def _keep_state(self, directory: Path, app: Any) -> Any:
        """Restore the saved state and arrange for snapshots; returns the gated app."""
        from localaws import telemetry
        from localaws.state import GatedApp, RequestGate, Snapshotter, StateStore
        from localaws.state.gate import release_during_long_polls
        from localaws.state.parts import MAPPING_ATTRIBUTES, AttributeState

        gate = RequestGate()
        self.snapshots = Snapshotter(
            StateStore(directory), gate,
            {"mappings": AttributeState(self.mappings, MAPPING_ATTRIBUTES, self.mappings._lock)},
            locks=(telemetry._lock,))
        if self.snapshots.restore():
            log.info("state restored from %s", directory)
        release_during_long_polls(gate)
        # Changes made outside requests: invocations (logs, metrics) and alarm
        # evaluations (which also pass the gate, as a request would).
        invoke, evaluate = self.executor.invoke, self.alarms.evaluate_once

        def invoke_and_note(*args: Any, **kwargs: Any) -> Any:
            try:
                return invoke(*args, **kwargs)
            finally:
                gate.changed.set()

        def evaluate_gated(*args: Any, **kwargs: Any) -> Any:
            with gate.shared():
                changes = evaluate(*args, **kwargs)
            if changes:
                gate.changed.set()
            return changes

        self.executor.invoke = invoke_and_note  # type: ignore[method-assign]
        self.alarms.evaluate_once = evaluate_gated  # type: ignore[method-assign]
        # TTL deletions and stream trimming happen outside requests too.
        self.ttl.guard = gate.shared
        self.ttl.on_change = gate.changed.set
        return GatedApp(app, gate)

    def state_status(self) -> dict[str, Any]:
        """Where the state is saved, its size and the last snapshot's figures."""
        if self.snapshots is None:
            return {"dir": None, "ephemeral": True}
        from localaws.paths import directory_size

        stats = self.snapshots.stats
        return {"dir": str(self.saved_state), "ephemeral": False,
                "bytes": directory_size(self.saved_state), "snapshots": stats.count,
                "saved_at": stats.saved_at, "pause_ms": round(stats.pause_ms, 2),
                "write_ms": round(stats.write_ms, 2)}

    def status(self) -> dict[str, Any]:
        """The health document served on ``/_workshop/health``."""
        stats = self.executor.stats()
        return {
            "status": "ok",
            "pid": os.getpid(),
            "port": self.port,
            "url": self.url,
            "started": self.started,
            "uptime_s": round(time.time() - self.started, 1),
            "functions": stats["functions"],
            "environments": stats["environments"],
            "mappings": self.mappings.count(),
            "state": self.state_status(),
            "streams": {"shard_lifetime": self.stream_settings.shard_lifetime,
                        "stream_retention": self.stream_settings.stream_retention,
                        "ttl_sweep": self.stream_settings.ttl_sweep},
        }

    def restart_engine(self) -> None:
        """Stop every mapping worker and start them again (they resume from checkpoints)."""
        self.mappings.stop()
        self.mappings.start()

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown`; then save the state a last time."""
        self.mappings.start()
        self.alarms.start()
        self.ttl.start()
        if self.snapshots is not None:
            self.snapshots.start()
        try:
            self.server.run()
        except (OSError, ValueError):  # the socket map was closed under the loop
            pass
        finally:
            self.mappings.stop()  # in-flight batches finish and move their checkpoints
            self.alarms.stop()
            self.ttl.stop()
            if self.snapshots is not None:
                self.snapshots.close()
            self.executor.shutdown()

    def shutdown(self) -> None:
        """Stop serving (thread-safe): close the listener and every connection."""

        def close() -> None:
            self.mappings.stop()
            self.server.close()
            for channel in list(self.server._map.values()):
                channel.close()
            self.server.task_dispatcher.shutdown(timeout=2)

        threading.Thread(target=close, daemon=True).start()


def serve(port: int, saved_state: Path | None = None, stream_settings: Any = None) -> int:
    """Run the endpoint in the foreground until SIGTERM or SIGINT.

    Parameters
    ----------
    saved_state : Path, optional
        Directory of the saved state; ``None`` for an ephemeral endpoint.
    stream_settings : StreamSettings, optional
        Shard lifetime, stream retention and TTL sweep (the environment's by default).

    Returns
    -------
    int
        0 after a clean stop, 2 when the saved state is refused (the reason and how
        to start empty are printed on stderr).
    """
    from localaws.state import SavedStateError

    logging.basicConfig(level=os.environ.get("WORKSHOP_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        endpoint = Endpoint(port, saved_state, stream_settings)
    except SavedStateError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2

    def stop(signum: int, frame: Any) -> None:
        log.info("signal %s: stopping", signum)
        endpoint.shutdown()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("local AWS endpoint listening on %s (pid %s)", endpoint.url, os.getpid())
    if saved_state is not None:
        log.info("state saved in %s", saved_state)
    endpoint.serve_forever()
    log.info("stopped")
    return 0
