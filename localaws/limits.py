"""Request body limits, checked on ``Content-Length`` before the body is read.

AWS refuses an oversized request at its front door; so does the endpoint, from
the headers alone, so that nothing ever buffers or parses a body larger than
AWS would accept. The limits of the *contents* (a 400 KB item, a 256 KB SNS
message, a 1 MiB SQS message) are checked by the services on the decoded
values, with AWS's messages; the ceilings here leave room for the encoding
around them (JSON escapes, base64, form encoding).
"""

from __future__ import annotations

from dataclasses import dataclass

from localaws.errors import RequestError, ServiceError
from localaws.protocols import SIGNING_NAMES, Call, lambda_operation

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limit:
    """The largest body an operation accepts, and AWS's error beyond it."""

    max_bytes: int
    code: str | None = None
    message: str | None = None
    status: int = 413

    def error(self, length: int) -> ServiceError:
        """The error for a body of ``length`` bytes."""
        if self.code and self.message:
            return ServiceError(self.code, self.message, status=self.status)
        return RequestError("too-large", f"The request body ({length} bytes) exceeds the "
                                         f"{self.max_bytes} bytes this operation accepts")


# Lambda: AWS's own limits and messages (payload 6 MB; a zip uploaded directly 50 MB,
# i.e. 69,905,067 bytes of base64 in the JSON body).
_LAMBDA_CODE = 69_905_067
LIMITS: dict[tuple[str, str | None], Limit] = {
    ("lambda", "Invoke"): Limit(6 * MIB, "RequestEntityTooLargeException",
                                f"Request must be smaller than {6 * MIB} bytes for the "
                                "InvokeFunction operation"),
    ("lambda", "CreateFunction"): Limit(_LAMBDA_CODE, "RequestEntityTooLargeException",
                                        f"Request must be smaller than {_LAMBDA_CODE} bytes "
                                        "for the CreateFunction operation"),
    ("lambda", "UpdateFunctionCode"): Limit(_LAMBDA_CODE, "RequestEntityTooLargeException",
                                            f"Request must be smaller than {_LAMBDA_CODE} "
                                            "bytes for the UpdateFunctionCode operation"),
    # DynamoDB: 16 MB is the largest request (BatchWriteItem); an item is 400 KB.
    ("dynamodb", None): Limit(16 * MIB, "ValidationException",
                              "Request size exceeded the 16 MB limit of DynamoDB", 400),
    ("dynamodbstreams", None): Limit(1 * MIB),
    # SQS messages are up to 1 MiB, SNS messages 256 KB, log batches 1 MiB: room
    # for JSON escapes and attributes around them.
    ("sqs", None): Limit(8 * MIB),
    ("sns", None): Limit(4 * MIB),
    ("logs", None): Limit(8 * MIB),
    ("lambda", None): Limit(6 * MIB),
}
DEFAULT = Limit(2 * MIB)  # IAM, STS, CloudWatch and requests that name no service


def limit_for(call: Call) -> Limit:
    """The body limit of ``call``, from its headers and path only (the body is unread)."""
    service = None
    if call.credential is not None:
        service = SIGNING_NAMES.get(call.credential.signing_name)
        target = call.header("x-amz-target") or ""
        if service == "dynamodb" and target.startswith("DynamoDBStreams_"):
            service = "dynamodbstreams"
    operation = None
    if service in (None, "lambda"):
        operation = lambda_operation(call.method, call.path)
        if operation is not None:
            service = "lambda"
    return LIMITS.get((service, operation)) or LIMITS.get((service, None)) or DEFAULT


def check_size(call: Call) -> None:
    """Refuse a body larger than the operation accepts (before it is read).

    Raises
    ------
    ServiceError
        413, in the protocol's shape.
    """
    length = call.content_length
    limit = limit_for(call)
    if length > limit.max_bytes:
        raise limit.error(length)
