"""GetRecords over the wire without botocore's response parsing.

The engine calls GetRecords many times a second. botocore's model-driven parser
turns every attribute of every record into Python objects, only for the engine to
turn them back into JSON for the function; this client sends the same signed
request and keeps the JSON as it arrives (times are already epoch seconds and
binaries already base64, as Lambda delivers them).
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

TARGET = "DynamoDBStreams_20120810.GetRecords"


class StreamsWire:
    """A keep-alive JSON client for ``GetRecords``.

    Parameters
    ----------
    endpoint_url : str
        ``http://host:port`` of the endpoint.
    region : str
        Signing region.
    credentials : botocore.credentials.Credentials, optional
        Defaults to the local dummy credentials.
    """

    def __init__(self, endpoint_url: str, region: str,
                 credentials: Credentials | None = None) -> None:
        parts = urlsplit(endpoint_url)
        self._url = endpoint_url.rstrip("/") + "/"
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._signer = SigV4Auth(credentials or Credentials("testing", "testing"),
                                 "dynamodb", region)
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(self._host, self._port,
                                                                 timeout=60)
        return conn

    def get_records(self, shard_iterator: str, limit: int) -> dict[str, Any]:
        """One GetRecords call.

        Raises
        ------
        botocore.exceptions.ClientError
            With the service's error code, like a botocore client would.
        """
        body = json.dumps({"ShardIterator": shard_iterator, "Limit": limit}).encode()
        request = AWSRequest("POST", self._url, data=body, headers={
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": TARGET})
        self._signer.add_auth(request)
        headers = dict(request.headers.items())
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("POST", "/", body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        try:
            data = json.loads(payload or b"{}")
        except ValueError:
            data = {"message": payload[:500].decode(errors="replace")}
        if response.status != 200:
            code = (response.getheader("x-amzn-ErrorType") or data.get("__type", "")
                    ).rsplit("#", 1)[-1].split(":")[0]
            raise ClientError({"Error": {"Code": code, "Message": data.get("message", "")},
                               "ResponseMetadata": {"HTTPStatusCode": response.status}},
                              "GetRecords")
        return data
