"""The embedded local AWS endpoint: one WSGI app on 127.0.0.1.

Every request goes through one pipeline (:class:`Router`): an ordered list of
checks over a parsed :class:`~localaws.protocols.Call`, then the service. The
Lambda operations that must run code or poll streams go to our providers
(:mod:`localaws.lambda_api`), everything else to moto, served in-process.
``serve`` runs it in the foreground until SIGTERM/SIGINT.
"""

from __future__ import annotations

import http
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from localaws import backends, limits, moto_setup, validation
from localaws.errors import EndpointError, ServiceError
from localaws.gate import ADMIN_PATH, Gate, check_signature, new_admin_token, write_admin_token
from localaws.protocols import (
    Call,
    Response,
    canonical_content_type,
    internal_failure,
    not_emulated,
    render_error,
    xml_safe,
)

log = logging.getLogger("localaws")

HOST = "127.0.0.1"
GET_RECORDS_TARGET = "DynamoDBStreams_20120810.GetRecords"
# Every DynamoDB request runs under one lock. moto takes none: two concurrent writes
# could read the same old image or take the same sequence number, breaking the
# per-item order the stream guarantees; and a read iterating a table's items (Scan,
# Query, DescribeTable's item count, a GetItem of a missing key in a table with a
# sort key, which adds an empty entry) while a write adds a key or an attribute
# fails inside moto with "dictionary changed size during iteration" (a 500).
DYNAMODB_TARGET_PREFIX = "DynamoDB_20120810."
# The services our components also write outside requests (function logs and
# metrics, under localaws.backends.LOCK): their reads iterate the same dicts.
TELEMETRY_SERVICES = frozenset({"logs", "cloudwatch"})
# waitress buffers at most this much of any body (the largest AWS accepts: a zip
# uploaded in CreateFunction); each operation's own limit is checked earlier.
MAX_BODY_BYTES = 70 * 1024 * 1024

Check = Callable[[Call], "Response | None"]


class Router:
    """WSGI app: the request pipeline, then our Lambda providers or moto.

    The pipeline is :attr:`checks`, an ordered list of ``check(call) -> response
    | None``: the first check that returns a response (or raises
    :class:`~localaws.errors.ServiceError`, shaped by the call's protocol) ends
    the request before any service code runs. In order:

    1. ``gate.check_host`` - the ``Host`` header (DNS rebinding);
    2. ``gate.check_origin`` - browser origins and CORS preflights;
    3. ``gate.check_admin`` - the admin token of ``/_workshop/*``;
    4. ``limits.check_size`` - ``Content-Length`` against the operation's limit
       (the body is unread until here);
    5. ``check_signature`` - authentication (SigV4 present and well formed);
    6. authorization (``router.insert_check(check, before=validation.check_input)``);
    7. ``validation.check_input`` - the input against botocore's model;
    8. the AWS timing profile's ``Profile.check``; its ``respond`` is one of
       :attr:`responses`, ``step(call, response) -> response``, run after the service.

    An exception other than ``ServiceError`` is ours: it is logged with its
    traceback and answered ``500 InternalFailure`` in the service's shape.

    Parameters
    ----------
    moto_app : callable
        moto's WSGI application.
    lambda_api : LambdaApi
        Our Lambda operations.
    status : callable
        Returns the health/status document.
    restart_engine : callable, optional
        Restarts the ESM engine (``POST /_workshop/engine/restart``, :mod:`localaws.admin`).
    gate : Gate
        Host, origin and admin-token policy.
    """

    def __init__(self, moto_app: Any, lambda_api: Any, status: Any,
                 restart_engine: Any = None, *, gate: Gate) -> None:
        self.moto_app = moto_app
        self.lambda_api = lambda_api
        self.status = status
        self.restart_engine = restart_engine
        self.gate = gate
        self.checks: list[Check] = [gate.check_host, gate.check_origin, gate.check_admin,
                                    limits.check_size, check_signature,
                                    validation.check_input]
        self.responses: list[Callable[[Call, Response], Response]] = []
        # Told of every call about to be served (the durable state notes what it changes).
        self.on_dispatch: Callable[[Call], None] = lambda call: None
        # Public: the TTL sweeper deletes items under the same lock. Every DynamoDB
        # request holds it (see DYNAMODB_TARGET_PREFIX).
        self.write_lock = threading.RLock()

    def insert_check(self, check: Check, before: Check) -> None:
        """Run ``check`` just before the check ``before`` (e.g. authorization)."""
        self.checks.insert(self.checks.index(before), check)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        call = Call(environ)
        try:
            for check in self.checks:
                response = check(call)
                if response is not None:
                    return self._send(call, start_response, response)
            self.on_dispatch(call)
            response = self.dispatch(call)
            for step in self.responses:
                response = step(call, response)
            return self._send(call, start_response, response)
        except ServiceError as err:
            return self._send(call, start_response, render_error(call, err))
        except Exception:
            log.exception("internal error serving %s %s (request %s)", call.method,
                          call.path, call.request_id)
            return self._send(call, start_response, internal_failure(call))

    def dispatch(self, call: Call) -> Response:
        """Serve a call that passed every check."""
        from localaws.lambda_api import Request, parse_query

        if call.path.startswith(ADMIN_PATH):
            return self._admin(call)
        target = call.header("x-amz-target")
        if target == GET_RECORDS_TARGET:
            from localaws.streams import serve_get_records

            return serve_get_records(call.body, _account_id(), call.region)
        if target is not None and target.startswith(DYNAMODB_TARGET_PREFIX):
            with self.write_lock:  # one table access (and stream record) at a time
                return self._moto(call)
        if call.service in TELEMETRY_SERVICES:
            with backends.LOCK:
                return self._moto(call)
        if call.path.startswith("/moto-api") or call.service != "lambda":
            return self._moto(call)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in call.environ.items()
                   if k.startswith("HTTP_")}
        request = Request(method=call.method, path=call.path,
                          query=parse_query(call.query_string), headers=headers,
                          body=call.body, account_id=_account_id(), region=call.region)
        response = self.lambda_api.handle(request)
        return self._moto(call) if response is None else response

    def _admin(self, call: Call) -> Response:
        from localaws import admin

        def mappings_idle(regions: list[str], function: str) -> dict[str, Any]:
            return self.lambda_api.mappings.idle(_account_id(), regions, function)

        return admin.serve(call, status=self.status, restart_engine=self.restart_engine,
                           mappings_idle=mappings_idle)

    def _moto(self, call: Call) -> Response:
        captured: dict[str, Any] = {}
        written: list[bytes] = []
        if not call.path.startswith("/moto-api"):
            # moto chooses its parser by Content-Type: make it read the body the way
            # the pipeline has checked it.
            content_type = canonical_content_type(call)
            if content_type is not None:
                call.environ["CONTENT_TYPE"] = content_type
            if call.protocol == "rest-json" and call.method in ("POST", "PUT") \
                    and not call.body.strip():
                call.replace_body(b"{}")  # moto parses it as JSON

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return written.append

        try:
            chunks = self.moto_app(call.environ, capture)
        except NotImplementedError:  # moto has the operation in its model, not its code
            raise not_emulated(call) from None
        try:
            body = b"".join(written) + b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        status = int(captured["status"].split(" ", 1)[0])
        content_type = dict((k.lower(), v) for k, v in captured["headers"]).get("content-type", "")
        if status == 404 and content_type.startswith("text/html") and call.service:
            raise not_emulated(call)  # moto routes no URL for it
        if status >= 400 and call.protocol == "query":
            body = xml_safe(body)  # moto echoes values into its messages
        if status >= 500:  # moto failed without raising: ours too, in the service's shape
            log.error("moto answered %s to %s %s (request %s): %s", status, call.method,
                      call.path, call.request_id, body[:500])
            return internal_failure(call)
        return status, captured["headers"], body

    def _send(self, call: Call, start_response: Any, response: Response) -> Any:
        status, headers, body = response
        items = headers.items() if isinstance(headers, dict) else headers
        out = [(k, v) for k, v in self.gate.finish(call, items) if k.lower() != "content-length"]
        out.append(("Content-Length", str(len(body))))
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        start_response(f"{status} {reason}", out)
        return [body]


def _authorize(call: Call) -> Response | None:
    """The pipeline's authorization check: a function's calls against its role."""
    from localaws import authz

    return authz.authorize(call.environ)


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
    allow_hosts, allow_origins : iterable of str, optional
        Extra ``Host`` values and browser origins to accept (see :class:`~localaws.gate.Gate`).

    Raises
    ------
    SavedStateError
        The saved state is from another version or damaged (nothing is served).
    """

    def __init__(self, port: int, saved_state: Path | None = None,
                 stream_settings: Any = None, allow_hosts: Iterable[str] = (),
                 allow_origins: Iterable[str] = ()) -> None:
        moto_setup.prepare()
        from waitress.server import create_server

        from localaws import alarms, profile, streams
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
        gate = Gate(port, new_admin_token(), allow_hosts, allow_origins)
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.started = time.time()
        self.profile_settings = profile.ProfileSettings.from_env()  # see localaws.profile
        self.executor = Executor(state_dir(), self.url,
                                 warm_starts=self.profile_settings.name == "default")
        self.mappings = MappingService(self.executor)
        self.app = Router(moto_setup.application(), LambdaApi(self.executor, self.mappings),
                          self.status, self.restart_engine, gate=gate)
        active = profile.install(self.profile_settings, self.app)
        self.alarms = active.alarm_evaluator() if active else alarms.AlarmEvaluator()
        # A function's own calls are restricted to its execution role (GetRecords too).
        self.app.insert_check(_authorize, before=validation.check_input)
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
                                        max_request_body_size=MAX_BODY_BYTES,
                                        ident="workshop")
        except OSError as exc:
            self.executor.shutdown()
            raise EndpointError(f"cannot listen on {HOST}:{port}: {exc}") from exc
        write_admin_token(port, gate.token)  # only once the port is ours

    def _keep_state(self, directory: Path, app: Any) -> Any:
        """Restore the saved state and arrange for snapshots; returns the gated app."""
        from localaws.state import GatedApp, RequestGate, Snapshotter, StateStore, dirty
        from localaws.state.gate import release_during_long_polls
        from localaws.state.parts import MAPPING_ATTRIBUTES, AttributeState

        gate = RequestGate()
        changed = dirty.DirtyParts()
        dirty.install()
        self.snapshots = Snapshotter(
            StateStore(directory), gate,
            {"mappings": AttributeState(self.mappings, MAPPING_ATTRIBUTES, self.mappings._lock)},
            locks=(backends.LOCK,), dirty=changed)
        if self.snapshots.restore():
            log.info("state restored from %s", directory)
        release_during_long_polls(gate)
        # Our components' own reads and changes of moto's data pass the gate too, and
        # name what they change; so does every request (the pipeline's hook).
        backends.use_gate(gate.shared, gate.changed.set, changed.changes)
        app.on_dispatch = changed.note_call
        # Changes made outside requests: invocations (logs, metrics, through
        # localaws.backends, which marks them) and alarm evaluations (which also pass
        # the gate, as a request would, and mark through localaws.backends).
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
        # TTL deletions and stream trimming happen outside requests too (trimming is
        # seen by the snapshot itself: a table's stream signature moves).
        self.ttl.guard = gate.shared

        def ttl_deleted() -> None:
            changed.mark_everything()
            gate.changed.set()

        self.ttl.on_change = ttl_deleted
        return GatedApp(app, gate, changed)

    def state_status(self) -> dict[str, Any]:
        """Where the state is saved, its size and the last snapshot's figures."""
        if self.snapshots is None:
            return {"dir": None, "ephemeral": True}
        from localaws.paths import directory_size

        stats = self.snapshots.stats
        return {"dir": str(self.saved_state), "ephemeral": False,
                "bytes": directory_size(self.saved_state), "snapshots": stats.count,
                "saved_at": stats.saved_at, "pause_ms": round(stats.pause_ms, 2),
                "hold_ms": round(stats.hold_ms, 2), "forked": stats.forked,
                "write_ms": round(stats.write_ms, 2), "stored_bytes": stats.stored_bytes,
                "written_bytes": stats.written_bytes, "parts": stats.parts,
                "parts_written": stats.parts_written, "holds": stats.hold_summary()}

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
            "warm_starts": self.executor.spawner.warm,  # see localaws.executor.spawner
            "mappings": self.mappings.count(),
            "state": self.state_status(),
            "profile": self.profile_settings.document(),
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
            from waitress import wasyncore

            # No new connection; waitress's own close() also closes the trigger the
            # task threads wake the loop with.
            wasyncore.dispatcher.close(self.server)
            # Requests in flight finish and are answered before their connections
            # close: closing first made a finishing task write to a closed trigger
            # (waitress logged "OSError: Bad file descriptor") and lost its answer.
            self.server.task_dispatcher.shutdown(timeout=2)
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline and any(
                    getattr(c, "total_outbufs_len", 0) for c in list(self.server._map.values())):
                time.sleep(0.01)  # the loop is still sending those answers
            for channel in list(self.server._map.values()):
                channel.close()

        threading.Thread(target=close, daemon=True).start()


def serve(port: int, saved_state: Path | None = None, stream_settings: Any = None,
          allow_hosts: Iterable[str] = (), allow_origins: Iterable[str] = ()) -> int:
    """Run the endpoint in the foreground until SIGTERM or SIGINT.

    Parameters
    ----------
    saved_state : Path, optional
        Directory of the saved state; ``None`` for an ephemeral endpoint.
    stream_settings : StreamSettings, optional
        Shard lifetime, stream retention and TTL sweep (the environment's by default).
    allow_hosts, allow_origins : iterable of str, optional
        Extra ``Host`` values and browser origins to accept.
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
        endpoint = Endpoint(port, saved_state, stream_settings, allow_hosts, allow_origins)
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
