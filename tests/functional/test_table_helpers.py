"""Table helpers that need the local endpoint's DynamoDB Streams behaviour."""

from __future__ import annotations

import pytest

from helpers.tables import create_logfile_table, enable_stream

pytestmark = pytest.mark.functional


def test_changing_the_view_type_replaces_the_stream_with_a_new_arn(backend, unique):
    # given
    table = f"logfile-new-view-{unique}"
    create_logfile_table(backend, table)
    old = enable_stream(backend, table, "KEYS_ONLY")
    # when
    new = enable_stream(backend, table, "NEW_IMAGE")
    # then
    assert new != old
    spec = backend.client("dynamodb").describe_table(TableName=table)["Table"]
    assert spec["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
