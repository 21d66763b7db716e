"""GetRecords answered without moto's serializer: the refusals a malformed request gets."""

from __future__ import annotations

import json

import pytest

from localaws.streams.wire import serve_get_records


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"ShardIterator"'])
def test_a_body_that_is_not_a_json_object_is_a_serialization_error(body):
    # when
    status, headers, answer = serve_get_records(body, "123456789012", "us-east-1")
    # then
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "SerializationException"
    assert json.loads(answer)["__type"] == "SerializationException"


@pytest.mark.parametrize("body", [b"", b"{}", b'{"ShardIterator": ""}',
                                  b'{"ShardIterator": 7}'])
def test_a_request_without_a_shard_iterator_is_refused_as_aws_refuses_it(body):
    # when
    status, headers, answer = serve_get_records(body, "123456789012", "us-east-1")
    # then
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "ValidationException"
    assert "'shardIterator' failed to satisfy constraint: Member must not be null" in \
        json.loads(answer)["message"]
