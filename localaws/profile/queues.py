"""SQS in the AWS profile: empty short polls, and a deleted queue's name kept 60 s.

* "If the number of messages in the queue is extremely small, you might not receive
  any messages in a particular ReceiveMessage response" (botocore sqs): a short poll
  (``WaitTimeSeconds`` 0) of a queue with fewer than
  :data:`~localaws.profile.settings.SHORT_POLL_SMALL_QUEUE` messages comes back
  empty with a seeded probability.
* "You must wait 60 seconds after deleting a queue before you can create another
  with the same name." (``QueueDeletedRecently``, hashicorp/terraform#15139).
"""

from __future__ import annotations

import json
from typing import Any

from localaws.errors import ServiceError
from localaws.profile.settings import SHORT_POLL_EMPTY_CHANCE, SHORT_POLL_SMALL_QUEUE
from localaws.profile.timeline import Timeline
from localaws.profile.wire import ok, params_of
from localaws.protocols import Call, Response, render_error

DELETED_RECENTLY = ("You must wait 60 seconds after deleting a queue before you can create "
                    "another with the same name.")


def _queue_name(url: Any) -> str:
    return str(url or "").rstrip("/").rsplit("/", 1)[-1]


class QueueRules:
    """The SQS rules of the profile.

    Parameters
    ----------
    timeline : Timeline
        The ``queue_deleted`` window and the seeded coin.
    queue_size : callable
        ``(region, queue name) -> (visible messages, ReceiveMessageWaitTimeSeconds)``,
        or ``None`` when there is no such queue.
    """

    def __init__(self, timeline: Timeline, queue_size: Any) -> None:
        self.timeline = timeline
        self.queue_size = queue_size

    def check(self, call: Call) -> Response | None:
        """Answer ``QueueDeletedRecently`` or an empty short poll where AWS may."""
        params = params_of(call)
        if call.operation == "CreateQueue" and self.timeline.pending(
                "queue_deleted", (call.region, params.get("QueueName"))):
            status, headers, body = render_error(
                call, ServiceError("QueueDeletedRecently", DELETED_RECENTLY))
            if call.protocol == "json":  # botocore reads the query-compatible code
                headers["x-amzn-query-error"] = \
                    "AWS.SimpleQueueService.QueueDeletedRecently;Sender"
            return status, headers, body
        if call.operation == "ReceiveMessage" and call.protocol == "json":
            size = self.queue_size(call.region, _queue_name(params.get("QueueUrl")))
            if size is None:
                return None
            messages, queue_wait = size
            wait = params.get("WaitTimeSeconds", queue_wait)
            if not wait and messages < SHORT_POLL_SMALL_QUEUE \
                    and self.timeline.chance(SHORT_POLL_EMPTY_CHANCE):
                return 200, {"Content-Type": "application/x-amz-json-1.0",
                             "x-amzn-RequestId": call.request_id}, json.dumps({}).encode()
        return None

    def respond(self, call: Call, response: Response) -> Response:
        """A deleted queue's name is kept for ``queue_deleted`` seconds."""
        if call.operation == "DeleteQueue" and ok(response):
            name = _queue_name(params_of(call).get("QueueUrl"))
            self.timeline.start("queue_deleted", (call.region, name))
        return response
