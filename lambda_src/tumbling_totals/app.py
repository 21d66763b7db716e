"""Revenue of new orders per tumbling window, for the e-commerce table's stream.

The event source mapping has ``TumblingWindowInSeconds`` set: Lambda hands the
function the window's ``state`` with every batch, and keeps whatever the function
returns as ``state`` for the next batch of the same window. When the window is
over, Lambda calls once more with ``isFinalInvokeForWindow`` true and no records:
the totals are final, and this function logs them.
"""

import json
from decimal import Decimal


def is_new_order(record):
    """True for the INSERT of an order's ``DETAILS`` item (``PK = ORDER#...``)."""
    if record["eventName"] != "INSERT":
        return False
    image = record["dynamodb"]["NewImage"]
    return image["PK"]["S"].startswith("ORDER#") and image["SK"]["S"] == "DETAILS"


def add_order(state, image):
    """The state with one more order of ``total`` (kept as a string: exact cents)."""
    revenue = Decimal(state.get("revenue", "0")) + Decimal(image["total"]["N"])
    return {"orders": state.get("orders", 0) + 1, "revenue": str(revenue)}


def lambda_handler(event, context):
    state = event.get("state") or {}
    if event["isFinalInvokeForWindow"]:
        print("WINDOW CLOSED " + json.dumps({"window": event["window"], "state": state,
                                              "early": event["isWindowTerminatedEarly"]}))
        return {"state": state}
    for record in event["Records"]:
        if is_new_order(record):
            state = add_order(state, record["dynamodb"]["NewImage"])
    print("WINDOW BATCH " + json.dumps({"window": event["window"], "records":
                                        len(event["Records"]), "state": state}))
    return {"state": state}
