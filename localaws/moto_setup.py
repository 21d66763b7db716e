"""moto, prepared for the endpoint: its settings, two of its costs removed, its WSGI app.

:func:`prepare` runs once before moto's IAM module is imported and its apps are made:
the environment defaults the workshop relies on, moto's model-object registry turned
off (it kept every object ever made), its route list computed once, SNS's
``DeletePlatformApplication`` made idempotent, the IAM backends of
:mod:`localaws.iam_backend` and the server-mode tuning of :mod:`localaws.moto_tuning`.
"""

from __future__ import annotations

import os
from typing import Any


def prepare() -> None:
    """Set moto up for the endpoint (once, before its IAM module and apps exist)."""
    # Must happen before moto's IAM module is imported: the workshop attaches
    # AWS managed policies such as AWSLambdaDynamoDBExecutionRole.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    os.environ.setdefault("MOTO_ENABLE_ISO_REGIONS", "false")
    # AWS refuses a reservation that leaves less than 100 unreserved concurrency; moto
    # checks it against this quota: the executor's account limit, AWS's default quota
    # (new accounts may be given less; FIDELITY.md, "Concurrency").
    os.environ.setdefault("MOTO_LAMBDA_CONCURRENCY_QUOTA", "1000")
    from moto import backends
    from moto.core.common_models import BaseModel

    # moto keeps every model object it ever made (every item ever written, every
    # message, every iterator) in a class-level list for its dashboard, which the
    # endpoint does not serve: a long session would grow without bound.
    BaseModel.__new__ = staticmethod(_untracked_new)  # type: ignore[assignment]

    # moto lists its package directory on every request to route it; the list
    # never changes while the endpoint runs.
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    # moto raises KeyError (a 500) deleting a platform application that does not
    # exist; SNS's deletes are idempotent (DeleteEndpoint is documented so).
    from moto.sns.models import SNSBackend

    SNSBackend.delete_platform_application = _delete_platform_application  # type: ignore
    from localaws import iam_backend, moto_tuning, sdk_data

    # One botocore session for moto's region lists and service models and ours.
    sdk_data.install_into_moto()
    iam_backend.install()
    moto_tuning.install()


def _delete_platform_application(self: Any, platform_arn: str) -> None:
    self.applications.pop(platform_arn, None)
    for endpoint in self.list_endpoints_by_platform_application(platform_arn):
        self.platform_endpoints.pop(endpoint.arn)


def _untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    return object.__new__(cls)


def application() -> Any:
    """moto's WSGI app, with exceptions propagated to the pipeline (not HTML 500s).

    DynamoDB requests reach moto's handler without its Flask shell
    (:mod:`localaws.moto_direct`).
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from localaws.moto_direct import DirectDynamoDB

    def create_app(service: Any) -> Any:
        app = create_backend_app(service)
        app.config["PROPAGATE_EXCEPTIONS"] = True
        return app

    return DirectDynamoDB(DomainDispatcherApplication(create_app))
