"""What is left in an account after the workshop's cleanup: every resource of every kind
the workshop creates, listed whole (all pages), that carries the workshop's tag **or**
has one of the workshop's names (or starts with its prefix).

This is stricter than :func:`helpers.cleanup.inventory`, which wants the tag *and* a
name before it deletes anything: here either is enough to count as left over. Run it
after ``99_cleanup`` (``make rehearsal`` does)::

    python -m tools.leftover_check --port 4599 [--region us-east-1 ...] [--prefix P]

It exits 1 and lists what is left, or prints that nothing is.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from helpers.cleanup import known_names, prefix_of
from helpers.clients import Backend, get_backend
from helpers.naming import WORKSHOP_TAG_KEY, WORKSHOP_TAG_VALUE, Names

Row = tuple[str, str, str, str]  # kind, name, region, why


def _tagged(tags: Any) -> bool:
    if isinstance(tags, dict):
        return tags.get(WORKSHOP_TAG_KEY) == WORKSHOP_TAG_VALUE
    return any(t.get("Key") == WORKSHOP_TAG_KEY and t.get("Value") == WORKSHOP_TAG_VALUE
               for t in tags or [])


def _tags(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except ClientError:
        return []


class Checker:
    """Lists one account's resources and keeps the workshop's.

    Parameters
    ----------
    backend : Backend
        The account (and its first region).
    names : Names
        The workshop's names.
    """

    def __init__(self, backend: Backend, names: Names) -> None:
        self.backend = backend
        self.known = known_names(names)
        self.prefix = prefix_of(names)
        self.all_names = set().union(*self.known.values())

    def _named(self, name: str) -> bool:
        return name in self.all_names or bool(self.prefix and name.startswith(self.prefix))

    def _row(self, kind: str, name: str, region: str, tags: Any) -> Row | None:
        why = [w for w, hit in (("tag", _tagged(tags)), ("name", self._named(name))) if hit]
        return (kind, name, region, "+".join(why)) if why else None

    def rows(self, regions: Sequence[str]) -> list[Row]:
        """Everything of the workshop still there, in ``regions`` and in IAM."""
        found = [r for region in regions for r in self._regional(
            dataclasses.replace(self.backend, region=region), region) if r]
        found += [r for r in self._iam() if r]
        return found

    def _regional(self, b: Backend, region: str) -> Iterator[Row | None]:
        lam, ddb, logs = b.client("lambda"), b.client("dynamodb"), b.client("logs")
        functions = [f for p in lam.get_paginator("list_functions").paginate()
                     for f in p["Functions"]]
        for fn in functions:
            yield self._row("function", fn["FunctionName"], region, _tags(
                lambda a=fn["FunctionArn"]: lam.list_tags(Resource=a)["Tags"]))
        for page in lam.get_paginator("list_event_source_mappings").paginate():
            for m in page["EventSourceMappings"]:
                function, source = m["FunctionArn"].split(":")[6], m.get("EventSourceArn", "")
                table = source.split(":table/", 1)[1].split("/")[0] if ":table/" in source else ""
                if self._named(function) or (table and self._named(table)):
                    yield ("event source mapping", f"{function} <- {source}", region, "name")
        for page in logs.get_paginator("describe_log_groups").paginate():
            for group in page["logGroups"]:
                name = group["logGroupName"]
                function = name.removeprefix("/aws/lambda/")
                if name in self.known["log group"] or (function != name
                                                       and self._named(function)):
                    yield ("log group", name, region, "name")
        for page in ddb.get_paginator("list_tables").paginate():
            for table in page["TableNames"]:
                arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
                yield self._row("table", table, region, _tags(
                    lambda a=arn: ddb.list_tags_of_resource(ResourceArn=a)["Tags"]))
        yield from self._messaging(b, region)
        yield from self._cloudwatch(b, region)

    def _messaging(self, b: Backend, region: str) -> Iterator[Row | None]:
        sqs, sns = b.client("sqs"), b.client("sns")
        for page in sqs.get_paginator("list_queues").paginate():
            for url in page.get("QueueUrls", []):
                yield self._row("queue", url.rsplit("/", 1)[-1], region, _tags(
                    lambda u=url: sqs.list_queue_tags(QueueUrl=u).get("Tags", {})))
        topics = [t["TopicArn"] for p in sns.get_paginator("list_topics").paginate()
                  for t in p["Topics"]]
        for arn in topics:
            yield self._row("topic", arn.rsplit(":", 1)[-1], region, _tags(
                lambda a=arn: sns.list_tags_for_resource(ResourceArn=a)["Tags"]))
        for page in sns.get_paginator("list_subscriptions").paginate():
            for sub in page["Subscriptions"]:
                topic = sub["TopicArn"].rsplit(":", 1)[-1]
                if self._named(topic) or self._named(sub["Endpoint"].rsplit(":", 1)[-1]):
                    yield ("subscription", f"{topic} -> {sub['Endpoint']}", region, "name")

    def _cloudwatch(self, b: Backend, region: str) -> Iterator[Row | None]:
        cw = b.client("cloudwatch")
        for page in cw.get_paginator("describe_alarms").paginate():
            for alarm in [*page["MetricAlarms"], *page.get("CompositeAlarms", [])]:
                yield self._row("alarm", alarm["AlarmName"], region, _tags(
                    lambda a=alarm["AlarmArn"]: cw.list_tags_for_resource(ResourceARN=a)[
                        "Tags"]))
        for page in cw.get_paginator("list_dashboards").paginate():
            for entry in page["DashboardEntries"]:
                yield self._row("dashboard", entry["DashboardName"], region, [])

    def _iam(self) -> Iterable[Row | None]:
        iam = self.backend.client("iam")
        for page in iam.get_paginator("list_roles").paginate():
            for role in page["Roles"]:
                name = role["RoleName"]
                row = self._row("role", name, "global", _tags(
                    lambda n=name: iam.list_role_tags(RoleName=n)["Tags"]))
                yield row
                if row is None:
                    continue
                for p in iam.get_paginator("list_role_policies").paginate(RoleName=name):
                    for policy in p["PolicyNames"]:
                        yield ("policy", f"{name}/{policy}", "global", "role")
        for page in iam.get_paginator("list_policies").paginate(Scope="Local"):
            for policy in page["Policies"]:
                yield self._row("policy", policy["PolicyName"], "global", _tags(
                    lambda a=policy["Arn"]: iam.list_policy_tags(PolicyArn=a)["Tags"]))


def main(argv: Sequence[str] | None = None) -> int:
    """List what is left; exit status 1 when something is."""
    parser = argparse.ArgumentParser(prog="python -m tools.leftover_check",
                                     description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", default="local", help="local (default), aws or endpoint")
    parser.add_argument("--region", action="append", default=None,
                        help="a region to look in (repeatable; default: the backend's)")
    parser.add_argument("--prefix", default="", help="the workshop's name prefix, if any")
    args = parser.parse_args(argv)
    backend = get_backend(args.backend)
    rows = Checker(backend, Names.with_prefix(args.prefix)).rows(args.region or [backend.region])
    if not rows:
        print(f"leftover check: nothing of the workshop is left "
              f"({', '.join(args.region or [backend.region])} and IAM)")
        return 0
    print(f"leftover check: {len(rows)} resource(s) of the workshop left:")
    for kind, name, region, why in rows:
        print(f"  {kind:<22} {name:<60} {region:<12} (by {why})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
