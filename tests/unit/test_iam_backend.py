"""The IAM speed-ups answer exactly as moto does."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam import models

from localaws import iam_backend

STREAM_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole"


@pytest.fixture(autouse=True)
def _installed():
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
