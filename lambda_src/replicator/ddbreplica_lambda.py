# ddbreplica_lambda: the replicator of Exercise 8 (LADV, "DynamoDB Streams and AWS Lambda").
#
# Every change made to the logfile table reaches this function through the table's
# stream, and the function makes the same change on the replica table:
#
#   INSERT, MODIFY  ->  PutItem    the item as it is now (the record's NewImage)
#   REMOVE          ->  DeleteItem the item's key        (the record's Keys)
#
# Those two calls are all the lab's IAM policy allows on tables.
# Handler: ddbreplica_lambda.lambda_handler. Runtime: python3.12 or later.
# Environment: REPLICA_TABLE, the table written to (default logfile_replica).
# Stream view type: NEW_IMAGE (or NEW_AND_OLD_IMAGES).

import base64
import functools
import logging
import os

import boto3
from boto3.dynamodb.types import TypeDeserializer

logger = logging.getLogger()
logger.setLevel(logging.INFO)


@functools.cache
def replica_table():
    """The replica table, created on first use and kept for the next invocations."""
    name = os.environ.get("REPLICA_TABLE", "logfile_replica")
    return boto3.resource("dynamodb").Table(name)


def lambda_handler(event, context):
    table = replica_table()
    puts = deletes = 0
    for record in event["Records"]:
        change = record["dynamodb"]
        if record["eventName"] in ("INSERT", "MODIFY"):
            table.put_item(Item=from_dynamodb_json(new_image(record)))
            puts += 1
        elif record["eventName"] == "REMOVE":
            table.delete_item(Key=from_dynamodb_json(change["Keys"]))
            deletes += 1
        else:
            raise ValueError(f"Unknown eventName {record['eventName']!r}")

    # Any error above (a throttled write, a missing permission) is raised, so the
    # invocation fails and Lambda delivers the batch again. The LADV original catches
    # every exception and only prints it: Lambda then counts the batch as done and the
    # changes never reach the replica. It also ignores REMOVE records.
    logger.info(
        f"Replicated {puts + deletes} records into {table.name}: "
        f"{puts} puts, {deletes} deletes"
    )
    return {"replicated": puts + deletes, "puts": puts, "deletes": deletes}


def new_image(record):
    change = record["dynamodb"]
    if "NewImage" not in change:
        raise ValueError(
            f"{record['eventName']} record {change.get('SequenceNumber')} has no NewImage: "
            "enable the stream with StreamViewType NEW_IMAGE or NEW_AND_OLD_IMAGES"
        )
    return change["NewImage"]


class StreamDeserializer(TypeDeserializer):
    """boto3's DynamoDB JSON reader, for images found in a Lambda event.

    Lambda sends the event as JSON, so binary values (B, BS) arrive as base64 text,
    where boto3 expects bytes. Numbers become Decimal, exact to DynamoDB's 38 digits
    (the LADV original turned them into int, which fails on 1.5).
    """

    def _deserialize_b(self, value):
        return super()._deserialize_b(base64.b64decode(value))


_deserializer = StreamDeserializer()


def from_dynamodb_json(image):
    """{"PK": {"S": "request#1"}, "bytessent": {"N": "2969"}} -> {"PK": "request#1", ...}."""
    return {name: _deserializer.deserialize(value) for name, value in image.items()}
