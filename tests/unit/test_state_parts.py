"""Incremental snapshots through their seams: dirty tracking, the part store, real moto parts."""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import random

import pytest
from moto.dynamodb.models import dynamodb_backends
from moto.iam.models import iam_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends

from localaws import backends
from localaws.errors import RequestError
from localaws.state import codec, dirty
from localaws.state.backends import capture
from localaws.state.dirty import DirtyParts, item_write_tables, request_keys
from localaws.state.gate import RequestGate
from localaws.state.snapshots import Snapshotter
from localaws.state.store import StateStore

REGION = "us-east-1"


pytestmark = pytest.mark.usefixtures("state_hooks")


def _account() -> str:
    """An account of its own for each test (moto's data is process-wide)."""
    return str(random.randrange(10**11, 10**12))


def _table(account: str, name: str, items: int = 0) -> None:
    backend = dynamodb_backends[account][REGION]
    backend.create_table(
        name, schema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        attr=[{"AttributeName": "pk", "AttributeType": "S"}], throughput=None,
        billing_mode="PAY_PER_REQUEST", global_indexes=None, indexes=None, tags=[],
        streams={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        sse_specification=None, deletion_protection_enabled=False, warm_throughput=None)
    for i in range(items):
        backend.put_item(name, {"pk": {"S": f"k{i}"}, "line": {"S": "x" * 50}})


def _put(d: DirtyParts, account: str, table: str, key: str) -> None:
    """A PutItem as the pipeline serves it: recorded, narrowed to the table it names."""
    with d.recording(tables={(account, REGION): {table}}):
        dynamodb_backends[account][REGION].put_item(table, {"pk": {"S": key}})


def _part(account: str, table: str | None = None) -> str:
    name = f"moto/moto.dynamodb.models:dynamodb_backends/{account}/{REGION}"
    return name if table is None else f"{name}/table/{table}"


def _snapshotter(tmp_path, d: DirtyParts, **kwargs) -> Snapshotter:
    return Snapshotter(StateStore(tmp_path), RequestGate(), {}, dirty=d, **kwargs)


# -- what a request changes -------------------------------------------------------------
@pytest.mark.parametrize(("target", "body", "tables"), [
    ("DynamoDB_20120810.PutItem", b'{"TableName": "orders", "Item": {}}', {"orders"}),
    ("DynamoDB_20120810.BatchWriteItem", b'{"RequestItems": {"a": [], "b": []}}', {"a", "b"}),
    ("DynamoDB_20120810.TransactWriteItems",
     b'{"TransactItems": [{"Put": {"TableName": "a"}}, {"Delete": {"TableName": "c"}}]}',
     {"a", "c"}),
])
def test_an_item_write_changes_only_the_tables_it_names(target, body, tables):
    # when
    keys, hints = request_keys("dynamodb", "111111111111", REGION, target, _parsed(body))

    # then
    assert keys == {("dynamodb", "111111111111", REGION)}
    assert hints == {("111111111111", REGION): tables}


@pytest.mark.parametrize("body", [b"not json", b'{"TableName": 3}', b"{}",
                                  b'{"TableName": "arn:aws:dynamodb:x:1:table/t"}'])
def test_an_item_write_whose_tables_are_unclear_changes_the_whole_backend(body):
    # when
    names = item_write_tables("PutItem", _parsed(body))
    keys, hints = request_keys("dynamodb", "1", REGION, "DynamoDB_20120810.PutItem",
                               _parsed(body))

    # then
    assert names is None and hints == {}
    assert keys == {("dynamodb", "1", REGION)}


def test_other_requests_change_their_service_and_global_ones_every_region():
    # when
    table_change = request_keys("dynamodb", "1", REGION, "DynamoDB_20120810.UpdateTable",
                                _parsed(b"{}"))
    iam = request_keys("iam", "1", REGION, None, _parsed(b"Action=CreateRole"))
    unknown = request_keys(None, "1", REGION, None, _parsed(b""))

    # then
    assert table_change == ({("dynamodb", "1", REGION)}, {})
    assert iam == ({("iam", "1", None)}, {})
    assert unknown is None


def test_a_recording_marks_every_backend_looked_up_on_its_thread():
    # given
    account = _account()
    d = DirtyParts()
    d.take()

    # when: an SNS publish that delivers to SQS, as moto does it
    with d.recording(("sns", account, REGION)):
        sqs_backends[account]["eu-west-1"]
    sqs_backends[account]["eu-north-1"]  # outside a recording: not a change

    # then
    assert d.take() == (False, {("sns", account, REGION), ("sqs", account, "eu-west-1")})


def test_a_table_hint_narrows_the_dynamodb_backend_to_those_tables():
    # given
    account = _account()
    d = DirtyParts()
    d.take()

    # when
    with d.recording(tables={(account, REGION): {"orders"}}):
        dynamodb_backends[account][REGION]
        dynamodb_backends[account]["eu-west-1"]  # another region: not narrowed

    # then
    assert d.take() == (False, {("dynamodb", account, REGION, "orders"),
                                ("dynamodb", account, "eu-west-1")})


def test_a_change_that_names_nothing_marks_everything_and_a_failed_snapshot_puts_marks_back():
    # given
    d = DirtyParts()
    d.take()

    # when
    with d.changes():
        pass
    taken = d.take()
    d.put_back(taken)

    # then
    assert taken[0] is True
    assert d.take()[0] is True and d.take() == (False, set())


# -- the part store -------------------------------------------------------------------------
def test_a_commit_rewrites_changed_rows_keeps_the_others_and_deletes_gone_ones(tmp_path):
    # given
    store = StateStore(tmp_path)
    store.write({"a": b"1", "b": b"2", "c": b"3"}, compress=False)
    before = store.versions()

    # when
    store.commit({"a": b"10"}, {"a", "b"}, compressed=False)

    # then
    after = store.versions()
    assert set(after) == {"a", "b"}
    assert after["b"] == before["b"] and after["a"][0] == before["a"][0] + 1
    store.close()
    assert StateStore(tmp_path).read() == {"a": b"10", "b": b"2"}


def test_a_commit_refuses_a_part_neither_changed_nor_stored(tmp_path):
    # given
    store = StateStore(tmp_path)
    store.write({"a": b"1"})

    # when / then
    with pytest.raises(ValueError, match="neither changed nor stored"):
        store.commit({}, {"a", "new"})


# -- real moto parts -------------------------------------------------------------------------
def test_a_change_to_one_table_leaves_the_other_tables_stored_part_untouched(tmp_path):
    # given: a big table and a small one, snapshotted once
    account = _account()
    _table(account, "logfile", items=200)
    _table(account, "orders")
    d = DirtyParts()
    snapshotter = _snapshotter(tmp_path, d, fork=False)
    snapshotter.snapshot_once()
    before = snapshotter.store.versions()

    # when: only orders changes
    _put(d, account, "orders", "o1")
    snapshotter.snapshot_once()

    # then: logfile's row is the same row, orders' is new
    after = snapshotter.store.versions()
    assert after[_part(account, "logfile")] == before[_part(account, "logfile")]
    assert after[_part(account, "orders")][0] > before[_part(account, "orders")][0]
    assert after[_part(account)] == before[_part(account)]
    assert snapshotter.stats.parts_written < snapshotter.stats.parts / 2


def test_a_stream_that_moved_without_a_mark_is_saved_again(tmp_path):
    # given
    account = _account()
    _table(account, "orders")
    d = DirtyParts()
    snapshotter = _snapshotter(tmp_path, d, fork=False)
    snapshotter.snapshot_once()
    before = snapshotter.store.versions()[_part(account, "orders")]

    # when: the stream changes with no mark (as a read's shard maintenance would)
    stream = dynamodb_backends[account][REGION].tables["orders"].stream_shard.stream
    stream.shards[-1].trimmed_through += 1
    snapshotter.snapshot_once()

    # then
    assert snapshotter.store.versions()[_part(account, "orders")][0] > before[0]


def _tables_of(skeleton: dict, account: str) -> dict[str, object]:
    return skeleton["moto.dynamodb.models:dynamodb_backends"][account][REGION].tables


def _content(table) -> tuple:
    stream = table.stream_shard.stream
    return (sorted(str(item.to_json()) for item in table.all_items()), stream.next_seq,
            [(s.shard_id, [r.seq for r in s.records]) for s in stream.shards])


@pytest.mark.parametrize("fork", [False, True])
def test_a_restore_after_many_incremental_commits_equals_the_live_state(tmp_path, fork):
    # given: three tables and a topic delivering to a queue, changed at random between
    # twenty snapshots (some forked, some in place)
    account = _account()
    names = ["a", "b", "c"]
    for name in names:
        _table(account, name, items=20)
    queue = sqs_backends[account][REGION].create_queue("q")
    topic = sns_backends[account][REGION].create_topic("t")
    sns_backends[account][REGION].subscribe(topic.arn, queue.queue_arn, "sqs")
    d = DirtyParts()
    snapshotter = _snapshotter(tmp_path, d, fork=fork, inline_bytes=2_000)
    rng = random.Random(7)

    # when
    for step in range(20):
        for _ in range(rng.randrange(3)):
            _put(d, account, rng.choice(names), f"s{step}-{rng.randrange(30)}")
        if step % 5 == 0:
            with d.changes(("sns", account, REGION)):
                sns_backends[account][REGION].publish(f"m{step}", arn=topic.arn)
        snapshotter.snapshot_once()
    loaded = codec.load_parts(StateStore(tmp_path).read())

    # then
    live = capture()
    saved_tables = _tables_of(loaded["moto"], account)
    for name in names:
        live_table = dynamodb_backends[account][REGION].tables[name]
        assert _content(saved_tables[name]) == _content(live_table)
    saved_queue = loaded["moto"]["moto.sqs.models:sqs_backends"][account][REGION].queues["q"]
    assert sorted(m.body for m in saved_queue._messages) == sorted(
        m.body for m in queue._messages)
    assert set(loaded) == set(live.roots) | {"moto"}


def _mutable_objects(value, references) -> dict[int, object]:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=codec.PROTOCOL)
    pickler.dispatch_table = references.dispatch_table(value)
    pickler.dump(value)
    immutable = (str, bytes, int, float, bool, tuple, frozenset, type, type(None))
    # A part's root is in the memo of each part that refers to it: a reference, not a copy.
    return {key: obj for key, (_, obj) in pickler.memo.copy().items()
            if not isinstance(obj, immutable) and not callable(obj)
            and key not in references.names}


def test_no_part_shares_an_object_with_another(tmp_path):
    # given: tables with streams, a queue subscribed to a topic
    account = _account()
    _table(account, "a", items=5)
    _table(account, "b", items=5)
    queue = sqs_backends[account][REGION].create_queue("q")
    topic = sns_backends[account][REGION].create_topic("t")
    sns_backends[account][REGION].subscribe(topic.arn, queue.queue_arn, "sqs")
    sns_backends[account][REGION].publish("m", arn=topic.arn)
    parts = capture()
    references = codec.References(parts.roots)

    # when: each of this account's parts is pickled alone
    seen: dict[int, str] = {}
    kept = []  # the objects stay alive, so that no id is reused
    shared = []
    for name, root in parts.roots.items():
        if f"/{account}/" not in name:
            continue
        for key, obj in _mutable_objects(root, references).items():
            if key in seen and seen[key] != name:
                shared.append((seen[key], name, type(obj).__name__))
            seen[key] = name
            kept.append(obj)

    # then: each object is saved in one part only (else a restore would split it in two)
    assert shared == []


class _Call:
    """What the pipeline's hook reads of a request."""

    def __init__(self, target: str, body: bytes = b"{}", path: str = "/",
                 service: str | None = "dynamodb") -> None:
        self.environ = {"HTTP_X_AMZ_TARGET": target, "PATH_INFO": path}
        self.path, self.service, self.body = path, service, body
        self.access_key_id, self.region = None, REGION

    def header(self, name: str) -> str | None:
        return self.environ["HTTP_X_AMZ_TARGET"] if name == "x-amz-target" else None

    def json_body(self) -> dict:
        return json.loads(self.body)


def test_a_request_counts_look_ups_only_once_past_its_checks():
    # given
    account = _account()
    d = DirtyParts()
    d.take()
    call = _Call("DynamoDB_20120810.PutItem", b'{"TableName": "orders"}')

    # when: a check reads IAM, then the request is served
    with d.recording(look_ups=False):
        sqs_backends[account][REGION]  # read by a check: not a change
        d.note_call(call)
        dynamodb_backends["123456789012"][REGION]

    # then
    assert d.take() == (False, {("dynamodb", "123456789012", REGION, "orders")})


@pytest.mark.parametrize("call", [
    _Call("DynamoDB_20120810.GetItem"),
    _Call("", path="/2015-03-31/functions/f/invocations", service="lambda"),
])
def test_reads_and_our_own_providers_mark_nothing(call):
    # given
    d = DirtyParts()
    d.take()

    # when
    with d.recording(look_ups=False):
        d.note_call(call)

    # then
    assert d.take() == (False, set())


def test_a_request_that_cannot_be_attributed_marks_everything():
    # given
    d = DirtyParts()
    d.take()

    # when
    with d.recording(look_ups=False):
        d.note_call(_Call("Odd.Thing", service=None))

    # then
    assert d.take()[0] is True


def test_a_change_through_the_backends_module_marks_what_moto_writes_elsewhere():
    # given: a role to assume (STS keeps the session, IAM the temporary key)
    account = _account()
    role = iam_backends[account]["aws"].create_role(
        "r", json.dumps({"Version": "2012-10-17", "Statement": []}), "/", None, "", [],
        None, None)
    d = DirtyParts()
    backends.use_gate(contextlib.nullcontext, lambda: None, d.changes)
    d.take()

    # when
    backends.assume_role(account, REGION, role.arn, "session", 900)

    # then
    everything, keys = d.take()
    assert not everything
    assert {("sts", account, None), ("iam", account, "aws")} <= keys


def test_an_item_write_names_its_tables_from_the_parsed_body_or_marks_the_whole_backend():
    # given: a body the pipeline parses, and one it refuses as malformed
    body = b'{"RequestItems": {"orders": [], "logfile": []}}'
    target = "DynamoDB_20120810.BatchWriteItem"

    def malformed():
        raise RequestError("malformed", "The request body is not valid JSON")

    # when
    named = request_keys("dynamodb", "1", REGION, target, _parsed(body))
    unclear = request_keys("dynamodb", "1", REGION, target, malformed)
    # then
    assert named == ({("dynamodb", "1", REGION)}, {("1", REGION): {"orders", "logfile"}})
    assert unclear == ({("dynamodb", "1", REGION)}, {})


def _parsed(body: bytes):
    """The body as ``Call.json_body`` gives it (here: not parsed until asked for)."""
    return lambda: json.loads(body or b"{}")


# -- bookkeeping, marked lazily ----------------------------------------------------------
def test_bookkeeping_is_marked_lazily_and_its_look_ups_are_not_recorded():
    # given
    account = _account()
    d = DirtyParts()
    d.take(lazy=True)  # lazy marks are process-wide: other tests' ones go

    # when: a request's look-up of IAM for a key's last-used time, as moto does it
    with d.recording(("sqs", account, REGION)), dirty.bookkeeping(("iam", account, None)):
        iam_backends[account]["aws"]

    # then: the request's own change now, the bookkeeping only when asked for
    assert d.take() == (False, {("sqs", account, REGION)})
    assert d.take(lazy=True) == (False, {("iam", account, None)})
    assert d.take(lazy=True) == (False, set())


def test_bookkeeping_waits_for_a_snapshot_that_saves_it_and_a_clean_stop_saves_it(tmp_path):
    # given: an IAM user with a key, saved
    account = _account()
    d = DirtyParts()
    with d.changes(("iam", account, None)):
        iam_backends[account]["aws"].create_user(REGION, "learner", path="/")
        key = iam_backends[account]["aws"].create_access_key("learner")
    snapshotter = _snapshotter(tmp_path, d, fork=False)
    snapshotter.snapshot_once()
    part = f"moto/moto.iam.models:iam_backends/{account}/aws"
    saved = snapshotter.store.versions()[part]

    # when: the key is used (its last-used time changes), then a snapshot
    with dirty.bookkeeping(("iam", account, None)):
        key.last_used = "used"
    with d.changes(("sqs", account, REGION)):
        pass
    snapshotter.snapshot_once()
    kept = snapshotter.store.versions()[part]
    snapshotter.snapshot_once(final=True)

    # then: IAM is not saved again for it until the final snapshot
    assert kept == saved
    assert snapshotter.store.versions()[part][0] > saved[0]
