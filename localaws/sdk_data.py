"""botocore's data (service models, regions), loaded once for the whole endpoint.

``botocore.session.get_session()`` makes a new session each call, each with its own
loader and its own cache; moto makes one more session for its region lists and a
fresh loader for every service model it reads. Every one of them parsed the same
JSON again and kept it: after the workshop's first calls the endpoint held each
served service's model three times over and botocore's endpoint data (1.2 MB of
JSON, about 7 MB as Python objects) twice, some 35 MB in all.

Here there is one session, and everything in the endpoint that reads botocore's
data goes through it (:func:`install_into_moto` points moto's two ways at it too):

* :func:`service_model`: a served service's model, kept (requests are checked
  against it);
* :func:`service_metadata`: a service's ``metadata`` only (its protocol, its endpoint
  prefix), read with a loader that is dropped afterwards, so that naming a service
  we do not serve (EC2's model alone is tens of MB) costs nothing to keep;
* :func:`service_regions`: the regions of every partition a service is offered in,
  as botocore's ``get_available_regions`` lists them, from the endpoint data read
  once and then dropped (only the lists are kept).
"""

from __future__ import annotations

import threading
from functools import cache, lru_cache
from typing import Any

_regions_lock = threading.Lock()


@cache
def session() -> Any:
    """The endpoint's one botocore session (its loader caches what it reads)."""
    import botocore.session

    return botocore.session.get_session()


_models: dict[str, Any] = {}


def service_model(service: str) -> Any:
    """botocore's ``ServiceModel`` of ``service`` (the pinned SDK's view of its API).

    Parameters
    ----------
    service : str
        botocore's service name (``"dynamodb"``, ``"lambda"``, ...).

    Returns
    -------
    botocore.model.ServiceModel
        The same object on every call (it is kept).
    """
    model = _models.get(service)
    if model is None:
        model = _models.setdefault(service, session().get_service_model(service))
    return model


def service_data(service: str, type_name: str = "service-2") -> Any:
    """A model file of ``service`` (parsed JSON) from the shared loader's cache.

    ``service-2`` is the very dictionary :func:`service_model` is built on.
    """
    if type_name == "service-2":
        return session().get_service_data(service)
    return session().get_component("data_loader").load_service_model(service, type_name)


@lru_cache(maxsize=256)  # names can come from requests (unserved services): bounded
def service_metadata(service: str) -> dict[str, Any] | None:
    """The ``metadata`` of ``service``'s model; ``None`` for a service botocore lacks.

    A model already kept (:func:`service_model`) is read in place; otherwise the
    file is read with a loader of its own, which is dropped with the rest of it.
    """
    from botocore.exceptions import UnknownServiceError
    from botocore.loaders import Loader

    if service in _models:
        return dict(_models[service].metadata)
    try:
        return dict(Loader().load_service_model(service, "service-2")["metadata"])
    except UnknownServiceError:
        return None


@cache
def _endpoint_regions() -> tuple[tuple[str, ...], dict[str, dict[str, tuple[str, ...]]]]:
    """Partitions (in botocore's order) and, per endpoint prefix, each partition's regions."""
    from botocore.loaders import Loader
    from botocore.regions import EndpointResolver

    resolver = EndpointResolver(Loader().load_data("endpoints"))
    partitions = tuple(resolver.get_available_partitions())
    prefixes = {name for partition in resolver._endpoint_data["partitions"]
                for name in partition["services"]}
    table: dict[str, dict[str, tuple[str, ...]]] = {}
    for prefix in prefixes:
        by_partition = {partition: tuple(resolver.get_available_endpoints(prefix, partition))
                        for partition in partitions}
        table[prefix] = {p: regions for p, regions in by_partition.items() if regions}
    return partitions, table


@cache
def service_regions(service: str) -> tuple[str, ...]:
    """Every partition's regions ``service`` is offered in, in botocore's order.

    The list moto makes a service's regional backends for, and the one
    ``Session.get_available_regions`` gives partition by partition; empty for a
    service botocore does not know.
    """
    metadata = service_metadata(service)
    if metadata is None:
        return ()
    prefix = metadata.get("endpointPrefix", service)
    with _regions_lock:
        partitions, table = _endpoint_regions()
    regions = table.get(prefix, {})
    return tuple(region for partition in partitions for region in regions.get(partition, ()))


def install_into_moto() -> None:
    """Make moto read its region lists and service models from the shared session.

    moto's ``AccountSpecificBackend`` asked a session of its own for every region of
    each service it makes backends for (so it held the endpoint data and every
    service's model again), and ``moto.core.utils`` read each model with a new
    loader (one more copy of each served service's model).
    """
    from moto.core import utils
    from moto.core.base_backend import AccountSpecificBackend

    def generate_regions(self: Any, service_name: str) -> list[str]:
        return list(service_regions(service_name))

    AccountSpecificBackend._generate_regions = generate_regions  # type: ignore[method-assign]
    utils._load_service_model = service_data  # type: ignore[attr-defined]
