"""The one place that builds boto3 clients and resources.

Every client used by the helpers, the notebooks and the tests comes from here, so
that the backend (local endpoint, real AWS, or another AWS-compatible endpoint),
the region, the credentials and the botocore quirks are decided once.

Backends
--------
``local`` (default)
    The embedded endpoint on ``http://127.0.0.1:<port>`` (port 4566 unless
    ``WORKSHOP_LOCAL_PORT`` says otherwise) with dummy credentials. The endpoint
    is started in the background if nothing listens.
``aws``
    The default credential chain and region. Refuses the local dummy credentials.
``endpoint``
    Any AWS-compatible URL, from ``endpoint_url=`` or ``AWS_ENDPOINT_URL``.

The backend is chosen by argument, else ``WORKSHOP_BACKEND``, else ``endpoint``
when ``AWS_ENDPOINT_URL`` is set, else ``local``.

Every helper runs the same code on every backend: it waits for conditions and
retries AWS's propagation errors wherever AWS may raise them. Only the pacing
(:class:`Pacing`: poll intervals, timeouts, the metric period served) comes from
the backend.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3
import botocore.config
import botocore.exceptions
import botocore.session

T = TypeVar("T")

BACKENDS = ("local", "aws", "endpoint")
DEFAULT_REGION = "us-east-1"
DEFAULT_LOCAL_PORT = 4566
LOCAL_ACCESS_KEY = "testing"
LOCAL_SECRET_KEY = "testing"
LOCAL_ACCOUNT_ID = "123456789012"
_DUMMY_KEYS = {"testing", "test", "foobar_key", "fake", "dummy"}
_CLIENTS_LOCK = threading.Lock()
_LOADER: Any = None  # botocore's data loader, shared by every session new_session makes

ENV_BACKEND = "WORKSHOP_BACKEND"
ENV_LOCAL_PORT = "WORKSHOP_LOCAL_PORT"
ENV_ENDPOINT_URL = "AWS_ENDPOINT_URL"


class BackendConfigError(ValueError):
    """The backend settings make no sense (the caller's fault): says what to change."""


@dataclass(frozen=True)
class Pacing:
    """How fast to poll and how long to wait on a backend (the only thing that differs).

    Attributes
    ----------
    poll_s : float
        Seconds between two polls of a state (table, function, mapping, alarm).
    patience_s : float
        Default timeout of a wait on asynchronous work: deliveries, logs,
        metrics, alarms, messages.
    propagation_s : float
        How long to retry a call refused while IAM changes or a resource's
        creation propagate (``cannot be assumed by Lambda``, ``Pending``, ...).
    quiet_s : float
        Seconds without a new invocation after which a function counts as idle.
    metric_period_s : int
        The finest period the backend serves for ``AWS/Lambda`` metrics (60 on AWS).
    sdk_attempts : int
        botocore's ``retries["max_attempts"]`` in standard mode: retries after the
        first attempt (of throttling and transient errors).
    profile : str
        The local endpoint's timing profile name (``default``, ``aws``), else the backend's.
    """

    poll_s: float = 0.1
    patience_s: float = 120.0
    propagation_s: float = 10.0
    quiet_s: float = 1.0
    metric_period_s: int = 1
    sdk_attempts: int = 1
    profile: str = "default"

    @classmethod
    def for_aws(cls) -> Pacing:
        """AWS: per-minute metrics, minutes of patience (see aws-timing notes in FIDELITY.md)."""
        return cls(poll_s=2.0, patience_s=600.0, propagation_s=180.0, quiet_s=5.0,
                   metric_period_s=60, sdk_attempts=3, profile="aws")

    @classmethod
    def for_profile(cls, profile: dict[str, Any] | None) -> Pacing:
        """The pacing of a local endpoint from its health document's ``profile``.

        Parameters
        ----------
        profile : dict or None
            ``{"name", "time_scale", "metric_period_s"}``; ``None`` (an endpoint
            that does not say) means ``{"name": "default", "metric_period_s": 1}``.

        Returns
        -------
        Pacing
        """
        profile = profile or {}
        name = str(profile.get("name") or "default")
        period = int(profile.get("metric_period_s") or 1)
        scale = float(profile.get("time_scale") or 1.0)
        if name == "default":
            return cls(metric_period_s=period)
        # A profile with AWS's delays: wait as long as AWS needs, times its scale
        # (never less than the default profile's patience).
        aws = cls.for_aws()
        return cls(poll_s=max(0.1, min(aws.poll_s, aws.poll_s * scale)),
                   patience_s=max(cls.patience_s, aws.patience_s * scale),
                   propagation_s=max(cls.propagation_s, aws.propagation_s * scale),
                   quiet_s=max(cls.quiet_s, aws.quiet_s * scale),
                   metric_period_s=period, sdk_attempts=1, profile=name)


@dataclass(frozen=True)
class Backend:
    """Where the AWS calls go.

    Parameters
    ----------
    name : str
        ``"local"``, ``"aws"`` or ``"endpoint"``.
    region : str
        AWS region name.
    endpoint_url : str or None
        Endpoint for every service, ``None`` on real AWS.
    pacing : Pacing
        Poll intervals and timeouts on this backend.
    """

    name: str
    region: str
    endpoint_url: str | None = None
    _session: Any = field(default=None, compare=False, repr=False)
    pacing: Pacing = field(default_factory=Pacing, compare=False)
    _clients: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def is_local(self) -> bool:
        """True when calls go to the embedded local endpoint."""
        return self.name == "local"

    @property
    def answers_at_once(self) -> bool:
        """True on the local endpoint in its default timing profile.

        There a change is visible to the next call, a short SQS poll returns every
        visible message, and the engine can tell when a mapping has delivered all
        it can read (``GET /_workshop/mappings/idle``); the waits use that instead
        of AWS's margins (long polls, quiet periods).
        """
        return self.is_local and self.pacing.profile == "default"

    @property
    def session(self) -> boto3.session.Session:
        """The boto3 session for this backend."""
        return self._session

    def client(self, service: str, **kwargs: Any) -> Any:
        """The boto3 client for ``service`` on this backend.

        Made once per backend and service, then shared (boto3's clients are
        thread-safe; making one costs 5-10 ms of CPU, mostly copying the session's
        event handlers and an SSL context). With ``kwargs``, a new client each time.

        Parameters
        ----------
        service : str
            boto3 service name, e.g. ``"dynamodb"``.
        **kwargs
            Extra arguments for :meth:`boto3.session.Session.client`.

        Returns
        -------
        botocore.client.BaseClient
        """
        if kwargs:
            return self._session.client(service, **self._client_args(kwargs))
        made = self._clients.get(service)
        if made is None:
            with _CLIENTS_LOCK:  # a boto3 session is not thread-safe
                made = self._clients.get(service)
                if made is None:
                    made = self._session.client(service, **self._client_args({}))
                    self._clients[service] = made
        return made

    def resource(self, service: str, **kwargs: Any) -> Any:
        """Build a boto3 resource for ``service`` on this backend."""
        return self._session.resource(service, **self._client_args(kwargs))

    def _client_args(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        args = dict(kwargs)
        extra = args.pop("config", None)
        # botocore >= 1.44 routes ARN-bearing DynamoDB Streams calls to an
        # account-specific host, which local endpoints do not serve.
        config = botocore.config.Config(
            account_id_endpoint_mode="disabled",
            retries={"mode": "standard", "max_attempts": self.pacing.sdk_attempts},
            connect_timeout=10,
            read_timeout=930,
            max_pool_connections=32,
        )
        if extra is not None:
            config = config.merge(extra)
        args["config"] = config
        args.setdefault("region_name", self.region)
        if self.endpoint_url:
            args.setdefault("endpoint_url", self.endpoint_url)
        return args

    def account_id(self) -> str:
        """Return the account id the credentials belong to (``sts:GetCallerIdentity``)."""
        return self.client("sts").get_caller_identity()["Account"]

    def describe(self) -> dict[str, str]:
        """A small summary to show before anything is created."""
        return {
            "backend": self.name,
            "region": self.region,
            "endpoint": self.endpoint_url or "AWS (default endpoints)",
            "account": self.account_id(),
        }


def local_port() -> int:
    """The local endpoint's port: ``WORKSHOP_LOCAL_PORT`` or 4566."""
    raw = os.environ.get(ENV_LOCAL_PORT, str(DEFAULT_LOCAL_PORT))
    try:
        return int(raw)
    except ValueError:
        raise BackendConfigError(
            f"{ENV_LOCAL_PORT}={raw!r} is not a port number: set it to e.g. 4566"
        ) from None


def local_endpoint_url(port: int | None = None) -> str:
    """URL of the embedded local endpoint."""
    return f"http://127.0.0.1:{port or local_port()}"


def new_session(**kwargs: Any) -> boto3.session.Session:
    """A boto3 session that reads botocore's data through this process's one loader.

    A new boto3 session reads and parses again the JSON of each service model it
    makes a client for (5-60 ms of CPU each), and the endpoint data for its region
    lists. A kernel or a test process makes many sessions (one per backend); with one
    loader, each file is parsed once per process. Credentials, region, configuration
    and event handlers stay each session's own.

    Parameters
    ----------
    **kwargs
        Arguments of :class:`boto3.session.Session` (not ``botocore_session``).

    Returns
    -------
    boto3.session.Session
    """
    global _LOADER
    core = botocore.session.get_session()
    with _CLIENTS_LOCK:  # boto3 sessions are not thread-safe, nor the loader's search paths
        if _LOADER is None:
            _LOADER = core.get_component("data_loader")
        else:
            core.register_component("data_loader", _LOADER)
        session = boto3.session.Session(botocore_session=core, **kwargs)
        paths = _LOADER.search_paths  # boto3 adds its data folder for every new session
        paths[:] = list(dict.fromkeys(paths))
    return session


@functools.cache
def _dynamodb_regions() -> frozenset[str]:
    return frozenset(new_session().get_available_regions("dynamodb"))


def _check_region(region: str) -> str:
    regions = _dynamodb_regions()
    if region not in regions:
        raise BackendConfigError(
            f"region {region!r} is not an AWS region with DynamoDB: use e.g. 'us-east-1'"
        )
    return region


def get_backend(
    backend: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    *,
    start_local: bool = True,
) -> Backend:
    """Resolve the backend and return a :class:`Backend`.

    Parameters
    ----------
    backend : {"local", "aws", "endpoint"}, optional
        Defaults to ``WORKSHOP_BACKEND``, else ``"endpoint"`` when
        ``AWS_ENDPOINT_URL`` is set, else ``"local"``.
    region : str, optional
        Defaults to ``us-east-1`` for local/endpoint and to the configured
        region (``AWS_REGION`` / profile) for ``aws``.
    endpoint_url : str, optional
        Only for ``"endpoint"``; defaults to ``AWS_ENDPOINT_URL``.
    start_local : bool
        Start the local endpoint if nothing listens (``local`` only).

    Returns
    -------
    Backend

    Raises
    ------
    BackendConfigError
        Unknown backend, bad region, missing endpoint URL, or dummy credentials on AWS.
    """
    env_url = os.environ.get(ENV_ENDPOINT_URL)
    name = backend or os.environ.get(ENV_BACKEND)
    if not name:
        name = "endpoint" if env_url and env_url.rstrip("/") != local_endpoint_url() else "local"
    if name not in BACKENDS:
        raise BackendConfigError(
            f"backend={name!r} is unknown: use one of {', '.join(map(repr, BACKENDS))}"
        )
    if name == "local":
        return _local_backend(_check_region(region or DEFAULT_REGION), start_local, local_port())
    if name == "endpoint":
        url = endpoint_url or env_url
        if not url:
            raise BackendConfigError(
                "backend='endpoint' needs an endpoint_url (or AWS_ENDPOINT_URL), "
                "e.g. 'http://localhost:4566'"
            )
        session = new_session(
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", LOCAL_ACCESS_KEY),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", LOCAL_SECRET_KEY),
            region_name=_check_region(region or DEFAULT_REGION),
        )
        # An unknown AWS-compatible endpoint: per-minute metrics, as AWS serves them.
        return Backend("endpoint", session.region_name, url, session,
                       Pacing(metric_period_s=60, profile="endpoint"))
    return _aws_backend(region)


def _aws_backend(region: str | None) -> Backend:
    # A real account must never see the endpoint override meant for local runs.
    session = new_session(region_name=region) if region else new_session()
    if not session.region_name:
        raise BackendConfigError(
            "backend='aws' needs a region: pass region='eu-west-1' or set AWS_REGION"
        )
    _check_region(session.region_name)
    creds = session.get_credentials()
    if creds is None:
        raise BackendConfigError(
            "backend='aws' found no AWS credentials: run 'aws configure' or set AWS_PROFILE"
        )
    if creds.access_key in _DUMMY_KEYS:
        raise BackendConfigError(
            "backend='aws' refuses the local dummy credentials "
            f"(access key {creds.access_key!r}): unset AWS_ACCESS_KEY_ID or use backend='local'"
        )
    return Backend("aws", session.region_name, None, session, Pacing.for_aws())


def _local_backend(region: str, start_local: bool, port: int) -> Backend:
    # Not cached: each call checks that the endpoint answers (one health request)
    # and starts it again if it was stopped (``make down``) since the last call.
    url = local_endpoint_url(port)
    pacing = Pacing()
    if start_local:
        from localaws import lifecycle

        status = lifecycle.ensure_running(port)
        pacing = Pacing.for_profile(status.get("profile"))
    session = new_session(
        aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_SECRET_KEY,
        region_name=region,
    )
    return Backend("local", region, url, session, pacing)


def client(service: str, backend: str | None = None, region: str | None = None,
           **kwargs: Any) -> Any:
    """Shortcut: ``get_backend(backend, region).client(service, **kwargs)``."""
    return get_backend(backend, region).client(service, **kwargs)


def resource(service: str, backend: str | None = None, region: str | None = None,
             **kwargs: Any) -> Any:
    """Shortcut: ``get_backend(backend, region).resource(service, **kwargs)``."""
    return get_backend(backend, region).resource(service, **kwargs)


def unless_missing(call: Callable[[], T]) -> T | None:
    """``call()``, or ``None`` when the service answers ``ResourceNotFoundException``.

    Parameters
    ----------
    call : callable
        No arguments, e.g. ``lambda: client.get_event_source_mapping(UUID=uuid)``.

    Returns
    -------
    Any or None
    """
    try:
        return call()
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise


def existed(call: Callable[[], object], *, missing: str = "ResourceNotFoundException") -> bool:
    """Run ``call`` (a delete, say): False when the service answers ``missing``, else True.

    Parameters
    ----------
    call : callable
        No arguments, e.g. ``lambda: client.delete_function(FunctionName=name)``.
    missing : str
        The error code that means there was nothing to act on (IAM says
        ``NoSuchEntity``).

    Returns
    -------
    bool
        True when ``call`` ran, False when the resource did not exist.

    Raises
    ------
    botocore.exceptions.ClientError
        Any other refusal.
    """
    try:
        call()
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == missing:
            return False
        raise
    return True


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` for anything else)."""
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code", "")
