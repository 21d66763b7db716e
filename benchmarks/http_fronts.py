"""HTTP servers ("fronts") that ``benchmarks.http_floor`` compares, each serving a WSGI app.

``python -m benchmarks.http_fronts FRONT PORT`` serves the do-nothing application
(:func:`answer_empty`) with one front on ``127.0.0.1:PORT`` until SIGTERM, in this
process, so that its CPU time can be read from ``/proc`` apart from the client's.
Every front runs the application in the same process as the server, as the
endpoint needs (its executor, mapping workers and snapshot loop are threads):

* ``waitress``: the endpoint's settings (an asyncore loop thread hands each request
  to one of 64 task threads and the answer back);
* ``granian``: Rust (hyper on tokio) with its WSGI interface, its worker as a thread
  of this process (granian's ``MTServer``, meant for free-threaded builds; with the
  GIL it runs the same way, one worker) and 64 Python threads for the application;
  ``granian-mt`` is the same on a multi-threaded Rust runtime;
* ``cheroot``: CherryPy's server, a pool of 64 worker threads and a selector for
  idle keep-alive connections;
* ``stdlib``: ``http.server.ThreadingHTTPServer`` with a minimal WSGI handler
  (HTTP/1.1, keep-alive): a thread per connection runs the application itself;
* ``uvicorn``: asyncio + h11, the WSGI app through ``a2wsgi`` (a thread pool);
* ``hypercorn``: asyncio + h11, its own WSGI mode (a thread per request).
"""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"
THREADS = 64
# The package each front needs (a front whose package is missing is skipped).
PACKAGES = {"waitress": "waitress", "granian": "granian", "granian-mt": "granian",
            "cheroot": "cheroot", "stdlib": "http", "uvicorn": "a2wsgi",
            "hypercorn": "hypercorn"}


def answer_empty(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """A WSGI application that reads the body and answers ``{}`` (DynamoDB's JSON)."""
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0"),
                              ("Content-Length", "2")])
    return [b"{}"]


def available(front: str) -> bool:
    """Whether the package ``front`` needs is installed."""
    packages = [PACKAGES[front]] + (["uvicorn"] if front == "uvicorn" else [])
    return all(importlib.util.find_spec(name) is not None for name in packages)


def _stop_on_sigterm(stop: Callable[[], None]) -> None:
    signal.signal(signal.SIGTERM, lambda signum, frame: stop())


def serve_waitress(app: Any, port: int) -> None:
    """waitress with the endpoint's settings."""
    from waitress.server import create_server

    server = create_server(app, host=HOST, port=port, threads=THREADS,
                           connection_limit=1000, channel_timeout=960, ident="floor")
    _stop_on_sigterm(lambda: threading.Thread(target=server.close, daemon=True).start())
    with contextlib.suppress(OSError, ValueError):  # the socket map closed under the loop
        server.run()


def serve_granian(app: Any, port: int, runtime: str = "st") -> None:
    """granian's WSGI interface, its one worker a thread of this process."""
    from granian.constants import Interfaces, RuntimeModes
    from granian.server import MTServer

    class InProcess(MTServer):
        def _check_gil(self) -> None:  # a worker thread beside the GIL, as we want
            pass

    server = InProcess("floor:app", address=HOST, port=port, interface=Interfaces.WSGI,
                       workers=1, blocking_threads=THREADS, runtime_threads=1,
                       runtime_mode=RuntimeModes(runtime), log_enabled=False)
    server.serve(target_loader=lambda *args, **kwargs: app)  # stops itself on SIGTERM


def serve_cheroot(app: Any, port: int) -> None:
    """cheroot's WSGI server, 64 worker threads."""
    from cheroot.wsgi import Server

    server = Server((HOST, port), app, numthreads=THREADS, request_queue_size=128)
    _stop_on_sigterm(lambda: threading.Thread(target=server.stop, daemon=True).start())
    server.safe_start()


class _WsgiHandler(BaseHTTPRequestHandler):
    """The smallest HTTP/1.1 WSGI gateway on ``http.server`` (keep-alive)."""

    protocol_version = "HTTP/1.1"
    app: Any = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        environ = {"REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
                   "SERVER_NAME": HOST, "SERVER_PORT": str(self.server.server_address[1]),
                   "SERVER_PROTOCOL": self.request_version, "SCRIPT_NAME": "",
                   "REMOTE_ADDR": self.client_address[0], "wsgi.input": self.rfile,
                   "wsgi.errors": sys.stderr, "wsgi.url_scheme": "http",
                   "wsgi.version": (1, 0), "wsgi.multithread": True,
                   "wsgi.multiprocess": False, "wsgi.run_once": False}
        for name, value in self.headers.items():
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            environ[key] = value
        status_line: list[str] = []
        headers_out: list[tuple[str, str]] = []

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Any:
            status_line[:] = [status]
            headers_out[:] = headers
            return None

        body = b"".join(self.app(environ, start_response))
        code, _, reason = status_line[0].partition(" ")
        out = [f"HTTP/1.1 {code} {reason}\r\n".encode()]
        out.extend(f"{name}: {value}\r\n".encode("latin-1") for name, value in headers_out)
        out.append(b"\r\n")
        out.append(body)
        self.wfile.write(b"".join(out))


for _method in ("GET", "POST", "PUT", "DELETE", "HEAD"):  # http.server calls do_<METHOD>
    setattr(_WsgiHandler, f"do_{_method}", _WsgiHandler._serve)


def serve_stdlib(app: Any, port: int) -> None:
    """``http.server.ThreadingHTTPServer``, a thread per connection."""
    handler = type("Handler", (_WsgiHandler,), {"app": staticmethod(app)})
    server = ThreadingHTTPServer((HOST, port), handler)
    server.daemon_threads = True
    _stop_on_sigterm(lambda: threading.Thread(target=server.shutdown, daemon=True).start())
    server.serve_forever()


def serve_uvicorn(app: Any, port: int) -> None:
    """uvicorn (asyncio, h11) over ``a2wsgi.WSGIMiddleware``."""
    import uvicorn
    from a2wsgi import WSGIMiddleware

    config = uvicorn.Config(WSGIMiddleware(app, workers=THREADS), host=HOST, port=port,
                            log_level="warning", lifespan="off", http="h11",
                            loop="asyncio", interface="asgi3")
    uvicorn.Server(config).run()  # stops itself on SIGTERM


def serve_hypercorn(app: Any, port: int) -> None:
    """hypercorn (asyncio, h11) in its WSGI mode."""
    import asyncio

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{HOST}:{port}"]
    config.loglevel = "WARNING"
    stop = asyncio.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await serve(app, config, shutdown_trigger=stop.wait, mode="wsgi")

    asyncio.run(main())


SERVERS: dict[str, Callable[[Any, int], None]] = {
    "waitress": serve_waitress,
    "granian": serve_granian,
    "granian-mt": lambda app, port: serve_granian(app, port, runtime="mt"),
    "cheroot": serve_cheroot,
    "stdlib": serve_stdlib,
    "uvicorn": serve_uvicorn,
    "hypercorn": serve_hypercorn,
}


if __name__ == "__main__":
    SERVERS[sys.argv[1]](answer_empty, int(sys.argv[2]))
