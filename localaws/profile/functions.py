"""Lambda functions and IAM roles in the AWS profile.

* ``CreateFunction`` answers ``State: Pending`` (``StateReasonCode`` Creating); until
  the function is ``Active``, ``Invoke`` and the calls that change it answer
  ``ResourceConflictException`` "The operation cannot be performed at this time. The
  function is currently in the following state: Pending" (faastjs/faast.js#758).
* An update answers ``LastUpdateStatus: InProgress``; a second update meanwhile
  answers ``ResourceConflictException`` "The operation cannot be performed at this
  time. An update is in progress for resource: <function ARN>"
  (lumigo-io/SAR-measure-cold-start#16).
* A role created moments ago "cannot be assumed by Lambda": ``CreateFunction`` answers
  ``InvalidParameterValueException`` "The role defined for the function cannot be
  assumed by Lambda." (nficano/python-lambda#28).
* A change to a role's policies reaches the other services later: until then they see
  the role's previous policies (:class:`~localaws.profile.propagation.Propagation`).
"""

from __future__ import annotations

from typing import Any

from localaws.errors import ServiceError
from localaws.profile.propagation import Propagation
from localaws.profile.timeline import Timeline
from localaws.profile.wire import ok, params_of, rewrite_json
from localaws.protocols import Call, Response

UPDATES = ("UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion")
# Calls that operate on a function and so fail while it is Pending.
OPERATE = ("Invoke", "InvokeAsync", "InvokeWithResponseStream", *UPDATES,
           "PutFunctionConcurrency", "CreateAlias")
ROLE_CHANGES = ("PutRolePolicy", "DeleteRolePolicy", "AttachRolePolicy", "DetachRolePolicy")
BUSY = "The operation cannot be performed at this time."


def function_name(value: Any) -> str:
    """A function's name from its name, partial ARN or ARN."""
    text = str(value or "")
    if text.startswith("arn:"):
        parts = text.split(":")
        return parts[6] if len(parts) > 6 else ""
    parts = text.split(":")
    if len(parts) >= 3 and parts[1] == "function":
        return parts[2]
    return parts[0]


def role_name(arn: Any) -> str:
    """A role's name from its ARN (``arn:aws:iam::ACCOUNT:role/path/NAME``)."""
    return str(arn or "").rsplit("/", 1)[-1]


class FunctionRules:
    """The Lambda and IAM rules of the profile.

    Parameters
    ----------
    timeline : Timeline
        Windows ``function_pending`` and ``function_update``.
    propagation : Propagation
        IAM changes not yet in effect.
    account_id : callable
        Returns the account the endpoint serves.
    role_documents : callable
        ``(account_id, role_arn) -> documents`` as IAM stores them now.
    """

    def __init__(self, timeline: Timeline, propagation: Propagation, account_id: Any,
                 role_documents: Any) -> None:
        self.timeline = timeline
        self.propagation = propagation
        self.account_id = account_id
        self.role_documents = role_documents

    def pending(self, region: str, name: str) -> bool:
        """True while the function is Pending."""
        return self.timeline.pending("function_pending", (region, name))

    def updating(self, region: str, name: str) -> bool:
        """True while the function's last update is InProgress."""
        return self.timeline.pending("function_update", (region, name))

    # -- before the service --------------------------------------------------------------
    def check(self, call: Call) -> None:
        """Refuse what Lambda refuses while a function or a role is not ready.

        Raises
        ------
        ServiceError
            ``ResourceConflictException`` or ``InvalidParameterValueException``.
        """
        if call.service == "iam":
            self._before_role_change(call)
            return
        operation, region = call.operation, call.region
        params = params_of(call)
        name = function_name(params.get("FunctionName"))
        if operation in ("CreateFunction", "UpdateFunctionConfiguration") and params.get("Role") \
                and self.propagation.fresh(self.account_id(), role_name(params["Role"])):
            raise ServiceError("InvalidParameterValueException",
                               "The role defined for the function cannot be assumed by Lambda.")
        if operation in OPERATE and self.pending(region, name):
            raise ServiceError("ResourceConflictException",
                               f"{BUSY} The function is currently in the following state: "
                               "Pending", status=409)
        if operation in UPDATES and self.updating(region, name):
            arn = f"arn:aws:lambda:{region}:{self.account_id()}:function:{name}"
            raise ServiceError("ResourceConflictException",
                               f"{BUSY} An update is in progress for resource: {arn}",
                               status=409)

    def _before_role_change(self, call: Call) -> None:
        if call.operation in ROLE_CHANGES:
            name = params_of(call).get("RoleName", "")
            arn = f"arn:aws:iam::{self.account_id()}:role/{name}"
            call.environ["workshop.profile.role_before"] = self.role_documents(
                self.account_id(), arn)

    # -- after the service ---------------------------------------------------------------
    def respond(self, call: Call, response: Response) -> Response:
        """Open the windows a change starts; show the intermediate states."""
        if not ok(response):
            return response
        if call.service == "iam":
            self._after_role_change(call)
            return response
        operation, region = call.operation, call.region
        params = params_of(call)
        if operation == "CreateFunction":
            name = function_name(params.get("FunctionName"))
            self.timeline.start("function_pending", (region, name))
            return rewrite_json(response, lambda d: self._show(region, d))
        if operation in ("UpdateFunctionCode", "UpdateFunctionConfiguration"):
            self.timeline.start("function_update", (region, function_name(
                params.get("FunctionName"))))
            return rewrite_json(response, lambda d: self._show(region, d))
        if operation == "GetFunctionConfiguration":
            return rewrite_json(response, lambda d: self._show(region, d))
        if operation == "GetFunction":
            return rewrite_json(response, lambda d: self._show(
                region, d.get("Configuration") or {}))
        if operation == "DeleteFunction":
            name = function_name(params.get("FunctionName"))
            self.timeline.forget("function_pending", (region, name))
            self.timeline.forget("function_update", (region, name))
        return response

    def _show(self, region: str, configuration: dict[str, Any]) -> None:
        name = configuration.get("FunctionName", "")
        if self.pending(region, name):
            configuration.update(State="Pending", StateReason="The function is being created.",
                                 StateReasonCode="Creating")
        elif self.updating(region, name):
            configuration["LastUpdateStatus"] = "InProgress"
            for key in ("LastUpdateStatusReason", "LastUpdateStatusReasonCode"):
                configuration.pop(key, None)

    def _after_role_change(self, call: Call) -> None:
        name = params_of(call).get("RoleName", "")
        if call.operation == "CreateRole":
            self.propagation.created(self.account_id(), name)
        elif call.operation == "DeleteRole":
            self.propagation.deleted(self.account_id(), name)
        elif call.operation in ROLE_CHANGES:
            before = call.environ.get("workshop.profile.role_before", [])
            self.propagation.changed(self.account_id(), name, before)
