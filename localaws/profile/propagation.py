"""IAM eventual consistency: a role's permissions as the other services see them.

On AWS a change to a role reaches Lambda, DynamoDB and the rest after some time
(aws-timing.md §1): meanwhile a function's calls, and the permission check of an
event source mapping, are evaluated against the role's *previous* policies, and a
role just created "cannot be assumed by Lambda". :class:`Propagation` records,
for each change, the documents as they were before it and when the change takes
effect; :meth:`Propagation.view` returns the documents in effect now.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

from localaws.profile.timeline import Timeline


class Propagation:
    """Role changes not yet in effect, on the profile's timeline.

    Parameters
    ----------
    timeline : Timeline
        Supplies the ``iam`` delay and the clock.
    """

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self._lock = threading.Lock()
        # (account, role name) -> [(effective at, documents before the change)], oldest first
        self._changes: dict[Hashable, list[tuple[float, list[Any]]]] = {}

    def created(self, account_id: str, role_name: str) -> None:
        """A role was created: until it propagates it has no permissions, and Lambda
        cannot assume it."""
        self.timeline.start("iam", ("role", account_id, role_name))
        self.changed(account_id, role_name, [])

    def changed(self, account_id: str, role_name: str, before: list[Any]) -> None:
        """The role's policies changed; ``before`` is what they were."""
        effective = self.timeline.clock() + self.timeline.delay("iam")
        with self._lock:
            changes = self._changes.setdefault((account_id, role_name), [])
            effective = max([effective, *(t for t, _ in changes)])  # changes land in order
            changes.append((effective, list(before)))

    def fresh(self, account_id: str, role_name: str) -> bool:
        """True while a newly created role cannot yet be assumed."""
        return self.timeline.pending("iam", ("role", account_id, role_name))

    def view(self, account_id: str, role_name: str, current: list[Any]) -> list[Any]:
        """The documents in effect now: those before the oldest change not yet in effect."""
        now = self.timeline.clock()
        with self._lock:
            changes = self._changes.get((account_id, role_name))
            if not changes:
                return current
            while changes and changes[0][0] <= now:
                changes.pop(0)
            if not changes:
                del self._changes[(account_id, role_name)]
                return current
            return changes[0][1]

    def deleted(self, account_id: str, role_name: str) -> None:
        """The role is gone: nothing of it lingers for a role created with its name."""
        with self._lock:
            self._changes.pop((account_id, role_name), None)
        self.timeline.forget("iam", ("role", account_id, role_name))
