"""DynamoDB in the AWS profile: tables CREATING, streams ENABLING, GSIs backfilling.

* ``CreateTable`` answers ``CREATING``; until the table is ``ACTIVE`` its item calls
  answer ``ResourceNotFoundException`` "Requested resource not found" (verified on
  DynamoDB, ExtendDB/extenddb#204) and its stream is ``ENABLING``.
* ``UpdateTable`` turning a stream on leaves the table ``UPDATING`` and the stream
  ``ENABLING`` for a while; a new GSI is ``CREATING`` with ``Backfilling`` true, and a
  ``Query`` on it answers ``ValidationException`` "Cannot read from backfilling global
  secondary index" (aws-cloudformation/cloudformation-coverage-roadmap#1075).
* Another ``UpdateTable`` meanwhile answers ``ResourceInUseException`` (botocore).
"""

from __future__ import annotations

from typing import Any

from localaws.errors import ServiceError
from localaws.profile.timeline import Timeline
from localaws.profile.wire import ok, params_of, rewrite_json
from localaws.protocols import Call, Response

SINGLE_TABLE_OPS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan")
BATCH_OPS = ("BatchGetItem", "BatchWriteItem")
TRANSACT_OPS = ("TransactGetItems", "TransactWriteItems")


def _name(value: Any) -> str:
    text = str(value or "")
    return text.split(":table/", 1)[1].split("/", 1)[0] if ":table/" in text else text


def _tables_of(operation: str, params: dict[str, Any]) -> list[str]:
    if operation in SINGLE_TABLE_OPS:
        return [_name(params.get("TableName"))]
    if operation in BATCH_OPS:
        return [_name(t) for t in (params.get("RequestItems") or {})]
    names = []
    for item in params.get("TransactItems") or []:
        for action in (item or {}).values():
            if isinstance(action, dict) and action.get("TableName"):
                names.append(_name(action["TableName"]))
    return names


class TableRules:
    """The DynamoDB and DynamoDB Streams rules of the profile.

    Parameters
    ----------
    timeline : Timeline
        Windows ``table_creating``, ``stream_enabling`` and ``gsi_backfill``.
    """

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline

    def creating(self, region: str, table: str) -> bool:
        """True while ``table`` is CREATING."""
        return self.timeline.pending("table_creating", (region, table))

    def enabling(self, region: str, table: str) -> bool:
        """True while the table's stream is ENABLING (also while the table is CREATING)."""
        return self.creating(region, table) or \
            self.timeline.pending("stream_enabling", (region, table))

    def backfilling(self, region: str, table: str, index: str) -> bool:
        """True while a new GSI is backfilling."""
        return self.timeline.pending("gsi_backfill", (region, table, index))

    def _updating(self, region: str, table: str, indexes: list[str]) -> bool:
        return self.timeline.pending("stream_enabling", (region, table)) or any(
            self.backfilling(region, table, i) for i in indexes)

    # -- before the service --------------------------------------------------------------
    def check(self, call: Call) -> None:
        """Refuse what DynamoDB refuses while a table or an index is not ready.

        Raises
        ------
        ServiceError
            ``ResourceNotFoundException``, ``ValidationException`` or
            ``ResourceInUseException``, in DynamoDB's words.
        """
        operation, region = call.operation, call.region
        params = params_of(call)
        if operation in (*SINGLE_TABLE_OPS, *BATCH_OPS, *TRANSACT_OPS) and any(
                self.creating(region, t) for t in _tables_of(operation, params)):
            raise ServiceError("ResourceNotFoundException", "Requested resource not found")
        if operation == "Query" and params.get("IndexName") and self.backfilling(
                region, _name(params.get("TableName")), params["IndexName"]):
            raise ServiceError("ValidationException",
                               "Cannot read from backfilling global secondary index")
        if operation == "UpdateTable":
            table = _name(params.get("TableName"))
            if self.creating(region, table) or self.timeline.pending(
                    "stream_enabling", (region, table)) or self._any_backfill(region, table):
                raise ServiceError(
                    "ResourceInUseException",
                    f"Attempt to change a resource which is still in use: "
                    f"Table is being updated: {table}")

    def _any_backfill(self, region: str, table: str) -> bool:
        return any(key[:2] == (region, table) for key in self.timeline.open_keys("gsi_backfill"))

    # -- after the service ---------------------------------------------------------------
    def respond(self, call: Call, response: Response) -> Response:
        """Open the windows a change starts; show the intermediate states."""
        if not ok(response):
            return response
        operation, region = call.operation, call.region
        if call.service == "dynamodbstreams":
            if operation == "DescribeStream":
                return self._describe_stream(region, response)
            return response
        params = params_of(call)
        table = _name(params.get("TableName"))
        if operation == "CreateTable":
            self.timeline.start("table_creating", (region, table))
            return rewrite_json(response, lambda d: self._show(
                region, d.get("TableDescription") or {}))
        if operation == "UpdateTable":
            spec = params.get("StreamSpecification") or {}
            if spec.get("StreamEnabled"):
                self.timeline.start("stream_enabling", (region, table))
            for update in params.get("GlobalSecondaryIndexUpdates") or []:
                index = ((update or {}).get("Create") or {}).get("IndexName")
                if index:
                    self.timeline.start("gsi_backfill", (region, table, index))
            return rewrite_json(response, lambda d: self._show(
                region, d.get("TableDescription") or {}))
        if operation == "DescribeTable":
            return rewrite_json(response, lambda d: self._show(region, d.get("Table") or {}))
        if operation == "DeleteTable":
            for kind in ("table_creating", "stream_enabling"):
                self.timeline.forget(kind, (region, table))
        return response

    def _show(self, region: str, description: dict[str, Any]) -> None:
        table = description.get("TableName", "")
        indexes = description.get("GlobalSecondaryIndexes") or []
        if self.creating(region, table):
            description["TableStatus"] = "CREATING"
            for index in indexes:
                index["IndexStatus"] = "CREATING"
            return
        names = [i.get("IndexName", "") for i in indexes]
        if description.get("TableStatus") == "ACTIVE" and self._updating(region, table, names):
            description["TableStatus"] = "UPDATING"
        for index in indexes:
            if self.backfilling(region, table, index.get("IndexName", "")):
                index["IndexStatus"] = "CREATING"
                index["Backfilling"] = True

    def _describe_stream(self, region: str, response: Response) -> Response:
        def change(document: dict[str, Any]) -> None:
            description = document.get("StreamDescription") or {}
            table = description.get("TableName") or _name(description.get("StreamArn"))
            if description.get("StreamStatus") == "ENABLED" and self.enabling(region, table):
                description["StreamStatus"] = "ENABLING"
        return rewrite_json(response, change)
