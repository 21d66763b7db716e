"""A backend whose clients are botocore ``Stubber``-backed: helpers tested in milliseconds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.stub import Stubber

from helpers.clients import Pacing, new_session

#: No waiting between polls, and a wait that is not met at once times out at once.
INSTANT = Pacing(poll_s=0.0, patience_s=0.0, propagation_s=0.0, quiet_s=0.0)


class StubBackend:
    """Stands for :class:`helpers.clients.Backend`: one stubbed client per service.

    ``backend.stub("lambda")`` is the service's :class:`~botocore.stub.Stubber`
    (activated); ``backend.client("lambda")`` always returns the same client.
    """

    name = "local"
    region = "us-east-1"
    endpoint_url = "http://127.0.0.1:9"
    is_local = True

    def __init__(self, *services: str, pacing: Pacing = INSTANT,
                 answers_at_once: bool = False) -> None:
        self.pacing = pacing
        self.answers_at_once = answers_at_once
        session = new_session(aws_access_key_id="testing", aws_secret_access_key="testing",
                              region_name=self.region)
        self.clients = {s: session.client(s, endpoint_url=self.endpoint_url) for s in services}
        self.stubs = {s: Stubber(c) for s, c in self.clients.items()}
        for stub in self.stubs.values():
            stub.activate()

    def client(self, service: str, **_: Any) -> Any:
        return self.clients[service]

    def stub(self, service: str) -> Stubber:
        return self.stubs[service]

    def assert_all_used(self) -> None:
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()


@dataclass
class Result:
    """What a fake executor answers for one invocation: the fields a mapping reads."""

    payload: bytes
    function_error: str | None = None
    request_id: str = "req"
    executed_version: str = "$LATEST"
