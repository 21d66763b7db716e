"""UpdateEventSourceMapping against a mapping the engine changes meanwhile (MappingService)."""

from __future__ import annotations

import dataclasses

import pytest

from localaws.errors import ServiceError
from localaws.esm.service import MappingService
from tests.unit.test_esm_config import ACCOUNT, REGION, UUID, create, request


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> MappingService:
    """A service holding one Disabled mapping, no engine running, roles not checked."""
    made = MappingService(executor=None)
    cfg = dataclasses.replace(create(request()), state="Disabled", enabled=False)
    made._configs[UUID], made._where[UUID] = cfg, (ACCOUNT, REGION)
    monkeypatch.setattr(made, "_check_role", lambda account, region, cfg: None)
    return made


def test_an_update_is_applied_to_what_the_engine_noted_meanwhile(service, monkeypatch):
    # given: the engine notes a processing result while the update is being checked
    noted = []

    def check_role(account, region, cfg):
        if not noted:
            noted.append(service.set_result(UUID, "OK"))

    monkeypatch.setattr(service, "_check_role", check_role)
    # when
    answer = service.update(ACCOUNT, REGION, UUID, {"Enabled": True})
    # then: the update is saved, over the engine's note
    saved = service._configs[UUID]
    assert noted and saved.enabled and answer["State"] == saved.state
    assert saved.last_processing_result == "OK"


def test_an_update_meeting_another_update_is_in_use(service, monkeypatch):
    # given: another update lands while this one is being checked
    def check_role(account, region, cfg):
        if cfg.batch_size == 50:
            service.update(ACCOUNT, REGION, UUID, {"BatchSize": 20})

    monkeypatch.setattr(service, "_check_role", check_role)
    # when
    with pytest.raises(ServiceError) as refused:
        service.update(ACCOUNT, REGION, UUID, {"BatchSize": 50})
    # then
    assert refused.value.code == "ResourceInUseException"
    assert service._configs[UUID].batch_size == 20
