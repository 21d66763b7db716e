"""End-to-end latency: when each item was written, and when a function handled it.

:class:`WriteRecorder` notes when each write was sent; :func:`latency` pairs it
with the stream processor's log line for the record, :func:`replication_lag`
with the replicator's batches.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from helpers.clients import Backend
from helpers.clock import now
from helpers.invocation_log import wait_until_drained
from helpers.progress import tqdm

#: ``BatchWriteItem`` calls made for one batch before its unprocessed items are an error.
BATCH_ATTEMPTS = 8


class UnprocessedItemsError(RuntimeError):
    """DynamoDB left items of a batch unprocessed after every retry (throughput, throttling)."""


class WriteRecorder:
    """Writes items to a table and notes when each write was sent.

    The time is taken on this machine just before each request leaves, so the
    latency computed from it includes the write itself. (The stream record
    exists before the answer reaches the client: a function can log it before
    the writer hears back.)

    Parameters
    ----------
    backend : Backend
        Where the table lives.
    table : str
        Table name.
    key_names : sequence of str
        The table's key attributes, used to name items as the functions log
        them (``PK#SK``, or ``PK`` alone).
    """

    def __init__(self, backend: Backend, table: str, key_names: Sequence[str] = ("PK", "SK")):
        self.backend = backend
        self.table = table
        self.key_names = tuple(key_names)
        self._rows: list[dict[str, Any]] = []
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()
        self._client = backend.client("dynamodb")

    def _label(self, item: Mapping[str, Any]) -> str:
        return "#".join(str(item[k]) for k in self.key_names if k in item)

    def _dump(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._serializer.serialize(v) for k, v in item.items()}

    def _note(self, item: Mapping[str, Any], event: str, sent: datetime) -> None:
        self._rows.append({"item": self._label(item), "event": event, "written_at": sent})

    def put(self, item: Mapping[str, Any]) -> str:
        """``PutItem``; returns ``INSERT`` or ``MODIFY`` (what the stream records)."""
        request = self._dump(item)
        sent = now()
        old = self._client.put_item(TableName=self.table, Item=request, ReturnValues="ALL_OLD").get(
            "Attributes"
        )
        event = "MODIFY" if old else "INSERT"
        self._note(item, event, sent)
        return event

    def update(self, key: Mapping[str, Any], **changes: Any) -> None:
        """``UpdateItem`` setting ``changes`` on an existing item (a MODIFY record)."""
        names = {f"#a{i}": k for i, k in enumerate(changes)}
        values = {f":v{i}": self._serializer.serialize(v) for i, v in enumerate(changes.values())}
        sent = now()
        self._client.update_item(
            TableName=self.table,
            Key=self._dump(key),
            UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(changes))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        self._note(key, "MODIFY", sent)

    def delete(self, key: Mapping[str, Any]) -> bool:
        """``DeleteItem``; True when the item existed (only then is there a REMOVE record)."""
        sent = now()
        old = self._client.delete_item(
            TableName=self.table, Key=self._dump(key), ReturnValues="ALL_OLD"
        ).get("Attributes")
        if old:
            self._note(key, "REMOVE", sent)
        return bool(old)

    def _write_batch(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One ``BatchWriteItem`` of up to 25 requests, resending what DynamoDB left unprocessed.

        Returns the requests still unprocessed after :data:`BATCH_ATTEMPTS` calls
        (with a doubling back-off, as the DynamoDB guide advises).
        """
        pending = requests
        for attempt in range(BATCH_ATTEMPTS):
            answer = self._client.batch_write_item(RequestItems={self.table: pending})
            pending = (answer.get("UnprocessedItems") or {}).get(self.table, [])
            if not pending:
                return []
            time.sleep(min(2.0, 0.05 * 2**attempt))
        return pending

    def put_many(self, items: Sequence[Mapping[str, Any]], *, progress: bool = True) -> None:
        """Write new items with ``BatchWriteItem``, 25 per call, noting when each call was sent.

        Raises
        ------
        UnprocessedItemsError
            DynamoDB left some items unwritten after every retry; only the
            written ones are noted.
        """
        with tqdm(total=len(items), desc=self.table, unit="item", disable=not progress) as bar:
            for start in range(0, len(items), 25):
                chunk = items[start : start + 25]
                requests = [{"PutRequest": {"Item": self._dump(i)}} for i in chunk]
                sent = now()
                left = self._write_batch(requests)
                unwritten = [r["PutRequest"]["Item"] for r in left]
                for item, request in zip(chunk, requests, strict=True):
                    if request["PutRequest"]["Item"] not in unwritten:
                        self._note(item, "INSERT", sent)
                bar.update(len(chunk))
                if left:
                    raise UnprocessedItemsError(
                        f"{len(left)} of {len(chunk)} items were not written to {self.table} "
                        f"after {BATCH_ATTEMPTS} tries (UnprocessedItems): write them again"
                    )

    def delete_many(self, keys: Sequence[Mapping[str, Any]], *, progress: bool = True) -> None:
        """Delete items with ``BatchWriteItem``, 25 per call (missing items are fine).

        Raises
        ------
        UnprocessedItemsError
            DynamoDB left some deletes undone after every retry.
        """
        with tqdm(
            total=len(keys), desc=f"{self.table} (delete)", unit="item", disable=not progress
        ) as bar:
            for start in range(0, len(keys), 25):
                chunk = keys[start : start + 25]
                left = self._write_batch([{"DeleteRequest": {"Key": self._dump(k)}} for k in chunk])
                bar.update(len(chunk))
                if left:
                    raise UnprocessedItemsError(
                        f"{len(left)} of {len(chunk)} deletes were not made in {self.table} "
                        f"after {BATCH_ATTEMPTS} tries (UnprocessedItems): delete them again"
                    )

    def delete_many_existing(self, keys: Sequence[Mapping[str, Any]]) -> int:
        """Delete the items of ``keys`` (DynamoDB JSON) that exist; return how many did.

        Only an item that existed gives a REMOVE record, so the count is what the
        function will see (a notebook's "start over").
        """
        plain = [{k: self._deserializer.deserialize(v) for k, v in key.items()
                  if k in self.key_names} for key in keys]
        return sum(self.delete(key) for key in plain)

    def observe(self, method: str, params: Mapping[str, Any], response: Any,
                sent: datetime) -> None:
        """Note a write made elsewhere (a taught client's listener, see :mod:`helpers.calls`).

        Parameters
        ----------
        method : str
            ``put_item``, ``update_item``, ``delete_item`` or ``batch_write_item``
            (other calls are ignored).
        params : Mapping
            The call's parameters (DynamoDB JSON).
        response : Any
            Its response (``Attributes`` tells a MODIFY put, an existing deleted item).
        sent : datetime
            When the request left.
        """
        def plain(image: Mapping[str, Any]) -> dict[str, Any]:
            return {k: self._deserializer.deserialize(v) for k, v in image.items()}

        if method == "put_item" and params.get("TableName") == self.table:
            self._note(plain(params["Item"]),
                       "MODIFY" if (response or {}).get("Attributes") else "INSERT", sent)
        elif method == "update_item" and params.get("TableName") == self.table:
            self._note(plain(params["Key"]), "MODIFY", sent)
        elif method == "delete_item" and params.get("TableName") == self.table:
            if params.get("ReturnValues") != "ALL_OLD" or (response or {}).get("Attributes"):
                self._note(plain(params["Key"]), "REMOVE", sent)
        elif method == "batch_write_item":
            for request in params["RequestItems"].get(self.table, []):
                if "PutRequest" in request:
                    self._note(plain(request["PutRequest"]["Item"]), "INSERT", sent)
                else:
                    self._note(plain(request["DeleteRequest"]["Key"]), "REMOVE", sent)

    def frame(self) -> pd.DataFrame:
        """Every write so far: ``item``, ``event``, ``written_at`` (UTC)."""
        frame = pd.DataFrame(self._rows, columns=["item", "event", "written_at"])
        frame["written_at"] = pd.to_datetime(frame["written_at"], utc=True)
        return frame

    @property
    def started(self) -> datetime | None:
        """Time of the first write (None before any)."""
        return self._rows[0]["written_at"] if self._rows else None


def run_id() -> str:
    """A short id for this run (UTC time), to give a run's test items keys of their own."""
    return now().strftime("%H%M%S%f")[:9]


def latency(writes: pd.DataFrame, processed: pd.DataFrame) -> pd.DataFrame:
    """Pair each write with the first time the function handled its record.

    A record is known by its item's key and its event (``INSERT``, ``MODIFY``,
    ``REMOVE``): the stream processor's log line names nothing else. Each write
    is paired with the first processing of the same item and event logged at or
    after the write (to the millisecond the log keeps) that no earlier write of
    it took. A processing logged before the write, or after an earlier write of
    the same record had its first one, is a retried delivery (a failed batch is
    delivered again whole) and is left out: the latency is that of the first
    delivery. A write not processed yet has no row.

    One case stays ambiguous, since the log line carries no sequence number:
    when one item gets the same event twice and the first record's retry is
    logged after the second write, the second write takes that retry.

    Parameters
    ----------
    writes : pandas.DataFrame
        :meth:`WriteRecorder.frame`: ``item``, ``event``, ``written_at``.
    processed : pandas.DataFrame
        :func:`helpers.invocation_log.processed_times`: ``item``, ``event``,
        ``processed_at``.

    Returns
    -------
    pandas.DataFrame
        ``item``, ``event``, ``written_at``, ``processed_at`` and ``latency_s``
        (seconds from the write to the function's log line), in write order.
    """
    firsts: dict[tuple[str, str], list[pd.Timestamp]] = {}
    for key, group in processed.groupby(["item", "event"], sort=False):
        firsts[key] = sorted(group["processed_at"])
    taken: dict[tuple[str, str], int] = {}
    rows = []
    ordered = writes.assign(seq=range(len(writes))).sort_values(
        ["written_at", "seq"], kind="stable")
    for write in ordered.itertuples(index=False):
        key = (write.item, write.event)
        times, start = firsts.get(key, []), taken.get(key, 0)
        # the log keeps milliseconds: a record processed within the write's millisecond counts
        earliest = pd.Timestamp(write.written_at).floor("ms")
        while start < len(times) and times[start] < earliest:
            start += 1  # a retry of an earlier record of this item (or logged before the write)
        if start == len(times):
            continue
        rows.append({"item": write.item, "event": write.event, "written_at": write.written_at,
                     "processed_at": times[start], "seq": write.seq})
        taken[key] = start + 1
    merged = pd.DataFrame(rows, columns=["item", "event", "written_at", "processed_at", "seq"])
    merged = merged.sort_values("seq").drop(columns="seq").reset_index(drop=True)
    merged["latency_s"] = (pd.to_datetime(merged["processed_at"], utc=True)
                           - pd.to_datetime(merged["written_at"], utc=True)).dt.total_seconds()
    return merged


def replication_lag(writes: pd.DataFrame, batches: pd.DataFrame) -> pd.DataFrame:
    """Replication lag per item, from the write times and the replicator's invocations.

    The replicator logs one line per batch (``Replicated N records ...``), not
    one per item. Records reach it in stream order, which for one shard is the
    order of the writes; so the k-th record written was replicated by the
    invocation that brought the running total of replicated records past k,
    at that invocation's end.

    Parameters
    ----------
    writes : pandas.DataFrame
        :meth:`WriteRecorder.frame`, in write order.
    batches : pandas.DataFrame
        :func:`invocations` of the replicator since the first write.

    Returns
    -------
    pandas.DataFrame
        ``item``, ``written_at``, ``replicated_at``, ``lag_s``; items beyond the
        replicated total are left out.
    """
    done = batches[batches["error"].isna() & batches["end"].notna()].sort_values("end")
    ends = []
    for when, count in zip(done["end"], done["records"], strict=True):
        ends.extend([when] * int(count))
    n = min(len(ends), len(writes))
    frame = writes.iloc[:n][["item", "written_at"]].copy()
    frame["replicated_at"] = pd.to_datetime(ends[:n], utc=True)
    frame["lag_s"] = (frame["replicated_at"] - frame["written_at"]).dt.total_seconds()
    return frame.reset_index(drop=True)


def reset_replication(
    backend: Backend,
    source: str,
    replica: str,
    keys: list[dict[str, Any]],
    function: str,
    *,
    timeout: float | None = None,
) -> int:
    """Start a replication exercise over: delete ``keys`` from the source, then empty the replica.

    The deletes go through the stream (the replicator deletes them from the
    replica too); once the function is idle, whatever is left in the replica is
    deleted directly. Used when a notebook runs a second time.

    Returns
    -------
    int
        Items that were in the replica before.
    """
    client = backend.client("dynamodb")
    schema = client.describe_table(TableName=replica)["Table"]["KeySchema"]
    key_names = [k["AttributeName"] for k in schema]
    plain = TypeDeserializer().deserialize
    pages = client.get_paginator("scan").paginate(
        TableName=replica, ProjectionExpression=", ".join(f"#k{i}" for i in range(len(key_names))),
        ExpressionAttributeNames={f"#k{i}": k for i, k in enumerate(key_names)})
    existing = [{k: plain(v) for k, v in item.items()} for page in pages for item in page["Items"]]
    since = time.time()
    WriteRecorder(backend, source, key_names).delete_many(keys, progress=False)
    wait_until_drained(backend, function, since=since, timeout=timeout)
    WriteRecorder(backend, replica, key_names).delete_many(existing, progress=False)
    return len(existing)
