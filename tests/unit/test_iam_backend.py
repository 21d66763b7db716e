"""The IAM speed-ups answer exactly as moto does."""

from __future__ import annotations

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam import models

from localaws import iam_backend

STREAM_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole"


@pytest.fixture(autouse=True)
def _installed(monkeypatch):
    # Only for these tests: moto reads the setting at each backend's creation, and
    # every other unit test would pay ~1,400 policies per moto reset.
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    iam_backend.install()
    yield
    models.iam_backends.reset()


def test_each_backend_gets_its_own_managed_policy_objects():
    # given two accounts' IAM backends, built from the same template
    first = models.iam_backends["111111111111"]["global"]
    second = models.iam_backends["222222222222"]["global"]
    # when a role of the first account attaches an AWS managed policy
    first.create_role("r", "{}", "/", None, "", [], None)
    first.attach_role_policy(STREAM_POLICY, "r")
    # then only the first account's copy counts the attachment
    assert first.managed_policies[STREAM_POLICY].attachment_count == 1
    assert second.managed_policies[STREAM_POLICY].attachment_count == 0
    assert len(first.managed_policies) == len(second.managed_policies) > 1000


def test_managed_policies_are_fresh_after_a_reset():
    # given an attachment in the default account
    backend = models.iam_backends[DEFAULT_ACCOUNT_ID]["global"]
    backend.create_role("r", "{}", "/", None, "", [], None)
    backend.attach_role_policy(STREAM_POLICY, "r")
    # when moto is reset
    models.iam_backends.reset()
    # then the new backend starts with no attachments
    again = models.iam_backends[DEFAULT_ACCOUNT_ID]["global"]
    assert again.managed_policies[STREAM_POLICY].attachment_count == 0


def test_account_lookup_finds_keys_without_creating_partitions():
    # given an access key created in one account's aws partition
    backend = models.iam_backends["333333333333"]["global"]
    backend.create_user("us-east-1", "u")
    key = backend.create_access_key("u").access_key_id
    # when the account of that key and of an unknown key is looked up
    found = models.get_account_id_from(key)
    unknown = models.get_account_id_from("AKIAUNKNOWN")
    # then the answers are moto's, and no other partition's backend was created
    assert found == "333333333333"
    assert unknown == DEFAULT_ACCOUNT_ID
    assert set(dict.keys(models.iam_backends["333333333333"])) == {"aws"}


def test_marking_a_key_as_used_creates_no_iam_backend():
    # given no IAM backend in an account yet
    assert dict.get(models.iam_backends, "444444444444") is None
    # when a request of another service marks its (unknown) access key as used
    models.mark_account_as_visited("444444444444", "AKIAUNKNOWN", "dynamodb", "us-east-1")
    # then no IAM backend (and no managed-policy load) was made for it
    account = dict.get(models.iam_backends, "444444444444")
    assert account is None or dict.get(account, "aws") is None


def test_a_known_key_is_still_marked_as_used():
    # given an access key of a user
    backend = models.iam_backends["555555555555"]["global"]
    backend.create_user("us-east-1", "u")
    key = backend.create_access_key("u").access_key_id
    # when a DynamoDB request marks it as used
    models.mark_account_as_visited("555555555555", key, "dynamodb", "eu-west-1")
    # then its last use is recorded as moto records it
    last_used = backend.access_keys[key].last_used
    assert (last_used.service, last_used.region) == ("dynamodb", "eu-west-1")


def test_a_reset_drops_iam_backends_and_the_next_one_has_the_managed_policies():
    # given a role in the default account
    backend = models.iam_backends[DEFAULT_ACCOUNT_ID]["global"]
    backend.create_role("r", "{}", "/", None, "", [], None)
    # when moto is reset
    models.iam_backends.reset()
    # then no backend is left, and the one made next has no role but every managed policy
    assert dict.get(models.iam_backends, DEFAULT_ACCOUNT_ID) is None
    again = models.iam_backends[DEFAULT_ACCOUNT_ID]["global"]
    assert again.roles == {}
    assert STREAM_POLICY in again.managed_policies


def test_without_the_setting_a_backend_has_no_managed_policies(monkeypatch):
    # given the endpoint's template made with the setting on
    assert STREAM_POLICY in models.iam_backends["666666666666"]["global"].managed_policies
    # when a backend is made with the setting off, as plain moto's default
    monkeypatch.delenv("MOTO_IAM_LOAD_MANAGED_POLICIES")
    backend = models.iam_backends["777777777777"]["global"]
    # then it has none, as moto would answer
    assert backend.managed_policies == {}


def test_no_module_keeps_the_managed_policy_json_once_installed():
    # given the speed-ups installed (the fixture)
    import sys

    policies_module = sys.modules["moto.iam.aws_managed_policies"]
    # when the modules' own namespaces are looked at
    held = [name for name, module in (("models", models), ("policies", policies_module))
            if "aws_managed_policies_data" in vars(module)]
    # then neither holds the 4.7 MB string, and asking for it still reads moto's JSON
    assert held == []
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    assert STREAM_POLICY.rsplit("/", 1)[1] in aws_managed_policies_data


def test_an_account_made_after_install_gets_every_managed_policy():
    # given the speed-ups installed and the JSON no longer held by moto's modules
    # when a backend of a new account is made (its template is parsed from the JSON)
    backend = models.iam_backends["444444444444"]["global"]
    # then it has moto's managed policies, and the module still does not keep the JSON
    assert STREAM_POLICY in backend.managed_policies
    assert len(backend.managed_policies) > 1000
    assert "aws_managed_policies_data" not in vars(models)
