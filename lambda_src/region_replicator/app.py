# region_replicator: keeps the same table in two regions in sync through their streams.
#
# Each region has the table, a stream on it and this function. The function reads its
# own region's stream and makes every change again on the other region's table
# (TARGET_TABLE in TARGET_REGION). The application stamps every item it writes with
#   origin      the region it wrote the item in
#   updated_at  when, in milliseconds since the epoch (the writer's clock)
# RULE says how a change is applied (the notebook moves from one rule to the next):
#   copy-everything   put every new image, delete every removed key: it loops
#   skip-replicated   the same, but skip an image whose origin is not this region
#   last-writer-wins  skip-replicated, and write only if the change is newer than what
#                     the target holds: (updated_at, origin) compared as a pair
# Handler: app.lambda_handler. Stream view type: NEW_AND_OLD_IMAGES.
# Environment: TARGET_TABLE, TARGET_REGION, RULE, MAX_HOPS (copy-everything's seatbelt).

import base64
import functools
import logging
import os
import time

import boto3
from boto3.dynamodb.types import TypeDeserializer

logger = logging.getLogger()
logger.setLevel(logging.INFO)

RULES = ("copy-everything", "skip-replicated", "last-writer-wins")
# The change is newer than the target's item: later, or as late and from a region whose
# name sorts after the target item's origin (the tie-breaker: both regions decide alike).
NEWER = ("attribute_not_exists(updated_at) OR updated_at < :ts"
         " OR (updated_at = :ts AND origin < :origin)")
NOT_NEWER = "updated_at < :ts OR (updated_at = :ts AND origin <= :origin)"


@functools.cache
def target_table():
    """The other region's table, created on first use and kept for the next invocations."""
    region = os.environ["TARGET_REGION"]
    return boto3.resource("dynamodb", region_name=region).Table(os.environ["TARGET_TABLE"])


def lambda_handler(event, context, table=None):
    table = table or target_table()
    rule = os.environ.get("RULE", "copy-everything")
    if rule not in RULES:
        raise ValueError(f"RULE={rule!r} is unknown: use one of {', '.join(RULES)}")
    outcomes = [apply(record, table, rule) for record in event["Records"]]
    counts = {name: outcomes.count(name) for name in ("applied", "skipped", "older", "stopped")}
    logger.info(f"Batch of {len(outcomes)} records: " + ", ".join(
        f"{n} {name}" for name, n in counts.items()))
    return counts


def apply(record, table, rule):
    change, here = record["dynamodb"], os.environ["AWS_REGION"]
    item = from_dynamodb_json(change.get("NewImage") or change["OldImage"])
    key = from_dynamodb_json(change["Keys"])
    label = "#".join(str(v) for v in key.values())
    remove = record["eventName"] == "REMOVE"
    if rule != "copy-everything" and not remove and item.get("origin") != here:
        outcome = "skipped"  # the other region's replicator wrote it: it is there already
    elif rule == "copy-everything" and not remove and item.get("hops", 0) >= max_hops():
        outcome = "stopped"  # the seatbelt: without it this item would travel forever
    else:
        if rule == "copy-everything" and not remove:
            item["hops"] = item.get("hops", 0) + 1  # a stamp of its own: the copy differs
        outcome = write(table, key, item, remove, conditional=rule == "last-writer-wins")
    lag = time.time_ns() // 1_000_000 - int(item.get("updated_at", 0))
    logger.info(f"{outcome} {record['eventName']} {label} from {item.get('origin')} "
                f"to {table.meta.client.meta.region_name}: {lag} ms after the write")
    return outcome


def max_hops():
    return int(os.environ.get("MAX_HOPS", "20"))


def write(table, key, item, remove, *, conditional):
    condition = {}
    if conditional:  # an older change must never overwrite a newer one
        condition = {"ConditionExpression": NOT_NEWER if remove else NEWER,
                     "ExpressionAttributeValues": {":ts": item["updated_at"],
                                                   ":origin": item["origin"]}}
    try:
        if remove:
            table.delete_item(Key=key, **condition)
        else:
            table.put_item(Item=item, **condition)
    except table.meta.client.exceptions.ConditionalCheckFailedException:
        return "older"  # the target holds a newer change (or, for a delete, nothing)
    return "applied"


class StreamDeserializer(TypeDeserializer):
    """boto3's DynamoDB JSON reader for Lambda events: binary values arrive as base64 text."""

    def _deserialize_b(self, value):
        return super()._deserialize_b(base64.b64decode(value))


_deserializer = StreamDeserializer()


def from_dynamodb_json(image):
    """{"PK": {"S": "USER#ana"}, "updated_at": {"N": "1"}} -> {"PK": "USER#ana", ...}."""
    return {name: _deserializer.deserialize(value) for name, value in image.items()}
