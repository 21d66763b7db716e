"""``python -m benchmarks.stream_memory``: endpoint memory and put rate over a long stream.

Writes ``--items`` (default 100,000) 1-KB items to a table with a
NEW_AND_OLD_IMAGES stream on a private endpoint whose records are kept
``--retention`` seconds (default 60), cycling over ``--keys`` item keys (default
10,000) so that the table stays the same size and only the stream could grow.
After every 10,000 writes it prints the put rate of those writes and the
endpoint's resident set size; the figures go to
``benchmarks/results/stream_memory.json``. It prints figures and never fails on
them; it is not part of ``make test`` or ``make bench``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks.harness import endpoint, memory_mb, timed_writers

RESULTS = Path(__file__).with_name("results") / "stream_memory.json"
STEP = 10_000


def run(items: int = 100_000, retention: float = 60.0, keys: int = 10_000,
        writers: int = 2, lifetime: float = 30.0) -> dict[str, Any]:
    """Write ``items`` items; returns per-10,000 put rates and RSS.

    Parameters
    ----------
    items, keys : int
        Writes in all, and distinct item keys they cycle over.
    retention, lifetime : float
        The endpoint's stream retention and shard lifetime, seconds.
    writers : int
        Concurrent boto3 writers.
    """
    env = {"WORKSHOP_LOCAL_STREAM_RETENTION": str(retention),
           "WORKSHOP_LOCAL_SHARD_LIFETIME": str(lifetime)}
    steps: list[dict[str, Any]] = []
    payload = "x" * 960
    with endpoint(env) as (backend, status):
        ddb = backend.client("dynamodb")
        ddb.create_table(
            TableName="stream-memory", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        start_rss = memory_mb(status["pid"])
        for first in range(0, items, STEP):
            count = min(STEP, items - first)

            def write(offset: int, first: int = first, count: int = count) -> None:
                client = backend.client("dynamodb")
                for i in range(first + offset, first + count, writers):
                    client.put_item(TableName="stream-memory", Item={
                        "pk": {"S": f"item#{i % keys}"}, "n": {"N": str(i)},
                        "payload": {"S": payload}})

            seconds = timed_writers(write, writers)
            step = {"written": first + count, "puts_per_s": round(count / seconds, 1),
                    "rss_mb": memory_mb(status["pid"])}
            steps.append(step)
            print(f"{step['written']:>7} items  {step['puts_per_s']:>7.1f} puts/s  "
                  f"RSS {step['rss_mb']:>6.1f} MB", flush=True)
        shards = backend.client("dynamodbstreams").describe_stream(
            StreamArn=ddb.describe_table(TableName="stream-memory")["Table"]["LatestStreamArn"]
        )["StreamDescription"]["Shards"]
    result = {"items": items, "keys": keys, "retention_s": retention, "shard_lifetime_s": lifetime,
              "writers": writers, "rss_before_mb": start_rss, "steps": steps,
              "first_10k": steps[0], "last_10k": steps[-1], "shards_at_end": len(shards)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stream_memory",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--retention", type=float, default=60.0)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--shard-lifetime", type=float, default=30.0)
    args = parser.parse_args(argv)
    result = run(args.items, args.retention, args.keys, args.writers, args.shard_lifetime)
    first, last = result["first_10k"], result["last_10k"]
    print(f"first 10k: {first['puts_per_s']} puts/s, RSS {first['rss_mb']} MB; "
          f"last 10k: {last['puts_per_s']} puts/s, RSS {last['rss_mb']} MB; "
          f"{result['shards_at_end']} shards at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
