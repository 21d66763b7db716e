"""``GetRecords`` answered directly in the JSON protocol, bypassing moto's serializer.

Records are kept as their wire JSON already, so the answer only joins bytes;
moto's model-driven serializer would cost more than the rest of the call, and
GetRecords is the engine's hottest call.
"""

from __future__ import annotations

import json

from moto.core.exceptions import JsonRESTError

from localaws import backends
from localaws.streams.backend import DynamoStreamsError, read_records

_HEADERS = {"Content-Type": "application/x-amz-json-1.0"}


def serve_get_records(body: bytes, account_id: str, region: str
                      ) -> tuple[int, dict[str, str], bytes]:
    """Answer one GetRecords request: ``(status, headers, body)``."""
    headers = dict(_HEADERS)
    try:
        params = json.loads(body or b"{}")
        if not isinstance(params, dict):
            raise ValueError("not an object")
        iterator = params.get("ShardIterator")
        if not isinstance(iterator, str) or not iterator:
            raise DynamoStreamsError("ValidationException",
                                     "1 validation error detected: Value null at "
                                     "'shardIterator' failed to satisfy constraint: Member "
                                     "must not be null")
        bodies, next_iterator = read_records(backends.streams(account_id, region),
                                             iterator, params.get("Limit", 1000))
    except JsonRESTError as err:
        headers["x-amzn-ErrorType"] = err.error_type.rsplit("#", 1)[-1]
        return err.code, headers, str(err.get_body()).encode()
    except ValueError:
        headers["x-amzn-ErrorType"] = "SerializationException"
        return 400, headers, b'{"__type":"SerializationException","message":"Invalid JSON"}'
    out = b'{"Records":[' + b",".join(bodies) + b"]"
    if next_iterator is not None:
        out += b',"NextShardIterator":' + json.dumps(next_iterator).encode()
    return 200, headers, out + b"}"
