"""Delete everything the workshop created, then check that nothing is left.

What counts as the workshop's:

* resources that can carry tags (tables, functions, roles, customer managed
  policies, queues, topics, alarms) when they carry the workshop tag
  (:data:`helpers.naming.WORKSHOP_TAG`) **and** either have one of the workshop's
  names or, with a name prefix, start with that prefix;
* resources without tags (event source mappings, log groups, dashboards, topic
  subscriptions, a role's inline policies) by their exact names: the mappings and
  log groups of the workshop's functions, the workshop's dashboard, the
  subscriptions of its topics, the inline policies of its roles.

Nothing else is touched: a table called ``logfile`` made by hand, without the
tag, survives. Every list is read page by page. The regional resources are looked
for in each region of ``regions`` (the backend's own by default); IAM is global.
Deleting is idempotent; :func:`cleanup` can run any number of times.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from helpers import iam
from helpers import regions as two_regions
from helpers.clients import Backend, error_code
from helpers.dashboards import dashboard_name
from helpers.functions import delete_function
from helpers.logs import log_group
from helpers.mappings import delete_mapping, find_mappings
from helpers.metric_alarms import alarm_names, inbox_queue_name
from helpers.naming import LOGFILE_TABLE, WORKSHOP_TAG_KEY, WORKSHOP_TAG_VALUE, Names
from helpers.waits import run_waiter

KINDS = (
    "event source mapping",
    "function",
    "log group",
    "alarm",
    "dashboard",
    "subscription",
    "topic",
    "queue",
    "policy",
    "role",
    "table",
)
GLOBAL = "global"  # the "region" of IAM resources


def prefix_of(names: Names) -> str:
    """The name prefix a :class:`~helpers.naming.Names` was made with."""
    return names.logfile_table.removesuffix(LOGFILE_TABLE)


def known_names(names: Names) -> dict[str, set[str]]:
    """The names the workshop gives its resources, by kind."""
    functions = {names.stream_processor_function, names.replica_function,
                 names.tumbling_function}
    known = {
        "function": functions,
        "log group": {log_group(f) for f in functions},
        "alarm": {a for f in functions for a in alarm_names(f)},
        "dashboard": {dashboard_name(names)},
        "topic": {names.alerts_topic},
        "queue": {names.failure_queue, inbox_queue_name(names)},
        "role": {names.stream_processor_role, names.replica_role, names.tumbling_role},
        "policy": set(),  # the workshop makes inline policies only (found by role)
        "table": {names.ecommerce_table, names.logfile_table, names.replica_table,
                  names.tumbling_table},
    }
    for kind, extra in two_regions.known_names(names).items():  # notebook 08's, in either region
        known[kind] = known[kind] | extra
    return known


@dataclass
class Inventory:
    """Resources found, as ``(kind, name, identifier, region)`` rows."""

    rows: list[dict[str, str]] = field(default_factory=list)
    region: str = ""

    def add(self, kind: str, name: str, ident: str | None = None,
            region: str | None = None) -> None:
        """Note one resource (in the region being inventoried unless ``region``)."""
        self.rows.append({"kind": kind, "name": name, "id": ident or name,
                          "region": region or self.region})

    def frame(self) -> pd.DataFrame:
        """The resources as a table, in deletion order."""
        frame = pd.DataFrame(self.rows, columns=["kind", "name", "id", "region"])
        frame["order"] = frame["kind"].map(KINDS.index)
        return frame.sort_values(["order", "region", "name"]).drop(
            columns="order").reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.rows)


def _tagged(tags: dict[str, str] | Iterable[dict[str, str]]) -> bool:
    if isinstance(tags, dict):
        return tags.get(WORKSHOP_TAG_KEY) == WORKSHOP_TAG_VALUE
    return any(
        t.get("Key") == WORKSHOP_TAG_KEY and t.get("Value") == WORKSHOP_TAG_VALUE for t in tags
    )


def _ours(name: str, kind: str, known: dict[str, set[str]], prefix: str) -> bool:
    return name in known.get(kind, set()) or bool(prefix and name.startswith(prefix))


def _safe(call: Callable[[], Any], default: Any) -> Any:
    try:
        return call()
    except ClientError:
        return default


def _in_region(backend: Backend, region: str) -> Backend:
    return backend if region in (backend.region, GLOBAL) else dataclasses.replace(
        backend, region=region)


def inventory(backend: Backend, names: Names | None = None,
              regions: Sequence[str] | None = None) -> Inventory:
    """Find every resource of the workshop (see the module's rules).

    Parameters
    ----------
    backend : Backend
        Where to look.
    names : Names, optional
        The workshop's names (default names when omitted).
    regions : sequence of str, optional
        The regions to look in (the backend's region by default).

    Returns
    -------
    Inventory
    """
    names = names or Names()
    known, prefix = known_names(names), prefix_of(names)
    found = Inventory()
    for region in regions or [backend.region]:
        found.region = region
        _regional(_in_region(backend, region), known, prefix, found)
    found.region = GLOBAL
    _roles_and_policies(backend, known, prefix, found)
    return found


def _regional(backend: Backend, known: dict[str, set[str]], prefix: str,
              found: Inventory) -> None:
    lam = backend.client("lambda")
    functions = set()
    for page in lam.get_paginator("list_functions").paginate():
        for fn in page["Functions"]:
            name = fn["FunctionName"]
            if not _ours(name, "function", known, prefix):
                continue
            if _tagged(_safe(lambda a=fn["FunctionArn"]: lam.list_tags(Resource=a)["Tags"], {})):
                functions.add(name)
                found.add("function", name)
    for function in sorted(functions | known["function"]):
        for mapping in find_mappings(backend, function=function):
            found.add(
                "event source mapping",
                f"{function} <- {mapping['EventSourceArn']}",
                mapping["UUID"],
            )

    logs = backend.client("logs")
    for group in sorted(known["log group"] | {log_group(f) for f in functions}):
        pages = _safe(lambda g=group: logs.describe_log_groups(logGroupNamePrefix=g), {})
        if any(g["logGroupName"] == group for g in pages.get("logGroups", [])):
            found.add("log group", group)

    cloudwatch = backend.client("cloudwatch")
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
        for alarm in page["MetricAlarms"]:
            name = alarm["AlarmName"]
            if not _ours(name, "alarm", known, prefix):
                continue
            tags = _safe(
                lambda a=alarm["AlarmArn"]: cloudwatch.list_tags_for_resource(ResourceARN=a)[
                    "Tags"
                ],
                [],
            )
            if name in known["alarm"] or _tagged(tags):
                found.add("alarm", name)
    for page in cloudwatch.get_paginator("list_dashboards").paginate():
        for entry in page["DashboardEntries"]:
            if entry["DashboardName"] in known["dashboard"]:
                found.add("dashboard", entry["DashboardName"])

    sns = backend.client("sns")
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page["Topics"]:
            arn = topic["TopicArn"]
            name = arn.rsplit(":", 1)[-1]
            if not _ours(name, "topic", known, prefix):
                continue
            if not _tagged(
                _safe(lambda a=arn: sns.list_tags_for_resource(ResourceArn=a)["Tags"], [])
            ):
                continue
            found.add("topic", name, arn)
            for sub_page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn):
                for sub in sub_page["Subscriptions"]:
                    if sub["SubscriptionArn"].startswith("arn:"):
                        found.add(
                            "subscription", f"{name} -> {sub['Endpoint']}", sub["SubscriptionArn"]
                        )

    sqs = backend.client("sqs")
    urls = [u for page in sqs.get_paginator("list_queues").paginate(QueueNamePrefix=prefix)
            for u in page.get("QueueUrls", [])] if prefix else []
    for name in known["queue"]:
        url = _safe(lambda n=name: sqs.get_queue_url(QueueName=n)["QueueUrl"], None)
        if url:
            urls.append(url)
    for url in sorted(set(urls)):
        name = url.rsplit("/", 1)[-1]
        if _tagged(_safe(lambda u=url: sqs.list_queue_tags(QueueUrl=u).get("Tags", {}), {})):
            found.add("queue", name, url)

    ddb = backend.client("dynamodb")
    for page in ddb.get_paginator("list_tables").paginate():
        for table in page["TableNames"]:
            if not _ours(table, "table", known, prefix):
                continue
            arn = iam.table_arn(backend, table)
            tags = _safe(lambda a=arn: ddb.list_tags_of_resource(ResourceArn=a)["Tags"], [])
            if _tagged(tags):
                found.add("table", table)


def _roles_and_policies(backend: Backend, known: dict[str, set[str]], prefix: str,
                        found: Inventory) -> None:
    iam_client = backend.client("iam")
    role_names = set(known["role"])
    if prefix:
        for page in iam_client.get_paginator("list_roles").paginate():
            role_names |= {r["RoleName"] for r in page["Roles"] if r["RoleName"].startswith(prefix)}
    for role in sorted(role_names):
        tags = _safe(lambda r=role: iam_client.list_role_tags(RoleName=r)["Tags"], None)
        if tags is None or not _tagged(tags):
            continue
        found.add("role", role)
        for page in _safe(lambda r=role: list(iam_client.get_paginator(
                "list_role_policies").paginate(RoleName=r)), []):
            for policy in page["PolicyNames"]:
                found.add("policy", f"{role}/{policy}", f"inline:{role}:{policy}")
    for page in iam_client.get_paginator("list_policies").paginate(Scope="Local"):
        for policy in page["Policies"]:
            name, arn = policy["PolicyName"], policy["Arn"]
            if _ours(name, "policy", known, prefix) and _tagged(_safe(
                    lambda a=arn: iam_client.list_policy_tags(PolicyArn=a)["Tags"], [])):
                found.add("policy", name, arn)


def _delete_managed_policy(backend: Backend, arn: str) -> None:
    client = backend.client("iam")
    for page in client.get_paginator("list_entities_for_policy").paginate(PolicyArn=arn):
        for role in page.get("PolicyRoles", []):
            client.detach_role_policy(RoleName=role["RoleName"], PolicyArn=arn)
        for user in page.get("PolicyUsers", []):
            client.detach_user_policy(UserName=user["UserName"], PolicyArn=arn)
        for group in page.get("PolicyGroups", []):
            client.detach_group_policy(GroupName=group["GroupName"], PolicyArn=arn)
    for version in client.list_policy_versions(PolicyArn=arn)["Versions"]:
        if not version["IsDefaultVersion"]:
            client.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
    client.delete_policy(PolicyArn=arn)


def _delete(backend: Backend, kind: str, ident: str) -> None:
    if kind == "event source mapping":
        delete_mapping(backend, ident)
    elif kind == "function":
        delete_function(backend, ident)
    elif kind == "log group":
        backend.client("logs").delete_log_group(logGroupName=ident)
    elif kind == "alarm":
        backend.client("cloudwatch").delete_alarms(AlarmNames=[ident])
    elif kind == "dashboard":
        backend.client("cloudwatch").delete_dashboards(DashboardNames=[ident])
    elif kind == "subscription":
        backend.client("sns").unsubscribe(SubscriptionArn=ident)
    elif kind == "topic":
        backend.client("sns").delete_topic(TopicArn=ident)
    elif kind == "queue":
        backend.client("sqs").delete_queue(QueueUrl=ident)
    elif kind == "policy" and ident.startswith("inline:"):
        _, role, policy = ident.split(":", 2)
        backend.client("iam").delete_role_policy(RoleName=role, PolicyName=policy)
    elif kind == "policy":
        _delete_managed_policy(backend, ident)
    elif kind == "role":
        iam.delete_role(backend, ident)
    elif kind == "table":
        client = backend.client("dynamodb")
        client.delete_table(TableName=ident)
        run_waiter(backend, client, "table_not_exists", what=f"table {ident} deleted",
                   timeout=backend.pacing.patience_s, TableName=ident)


_GONE = {
    "ResourceNotFoundException",
    "NoSuchEntity",
    "NotFound",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
}


def cleanup(backend: Backend, names: Names | None = None,
            regions: Sequence[str] | None = None) -> pd.DataFrame:
    """Delete every resource of the workshop, in dependency order.

    Parameters
    ----------
    backend : Backend
        Where to delete.
    names : Names, optional
        The workshop's names (default names when omitted).
    regions : sequence of str, optional
        The regions to clean (the backend's region by default).

    Returns
    -------
    pandas.DataFrame
        What was deleted: ``kind``, ``name``, ``region``, ``result`` (``deleted``
        or ``already gone``).
    """
    rows = []
    for row in inventory(backend, names, regions).frame().to_dict("records"):
        try:
            _delete(_in_region(backend, row["region"]), row["kind"], row["id"])
            result = "deleted"
        except ClientError as exc:
            if error_code(exc) not in _GONE:
                raise
            result = "already gone"
        rows.append({"kind": row["kind"], "name": row["name"], "region": row["region"],
                     "result": result})
    return pd.DataFrame(rows, columns=["kind", "name", "region", "result"])


def leftovers(
    backend: Backend, names: Names | None = None, *, timeout: float = 0.0,
    regions: Sequence[str] | None = None,
) -> pd.DataFrame:
    """What is still there; waits up to ``timeout`` seconds for deletions to settle.

    On AWS a deleted queue can be listed for up to 60 s, so pass ``timeout=90`` there.

    Returns
    -------
    pandas.DataFrame
        ``kind``, ``name``, ``id``, ``region``; empty when everything is gone.
    """
    deadline = time.monotonic() + timeout
    while True:
        frame = inventory(backend, names, regions).frame()
        if frame.empty or time.monotonic() > deadline:
            return frame
        time.sleep(5)


class CleanupError(RuntimeError):
    """Something of the workshop is still there after :func:`cleanup`."""


def verify(backend: Backend, names: Names | None = None,
           regions: Sequence[str] | None = None) -> str:
    """Check that nothing of the workshop is left (waiting while deletions propagate).

    Returns
    -------
    str
        A one-line confirmation.

    Raises
    ------
    CleanupError
        Lists what is left.
    """
    # deleted queues can stay listed for up to 60 s on AWS: a propagation delay
    left = leftovers(backend, names, timeout=backend.pacing.propagation_s, regions=regions)
    if not left.empty:
        listed = "; ".join(f"{k} {n}" for k, n in zip(left["kind"], left["name"], strict=True))
        raise CleanupError(f"{len(left)} resource(s) left: {listed}: run cleanup() again")
    where = ", ".join(regions or [backend.region])
    where = f"the local endpoint ({where})" if backend.is_local else where
    return f"Nothing of the workshop is left in {where}."
