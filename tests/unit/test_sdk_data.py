"""One botocore session for the endpoint: the same answers as botocore's own, kept once."""

from __future__ import annotations

import botocore.session
import pytest

from localaws import sdk_data


@pytest.mark.parametrize("service", ["dynamodb", "dynamodbstreams", "lambda", "sts", "iam",
                                     "logs", "cloudwatch", "sns", "sqs", "s3", "ec2"])
def test_service_regions_are_botocores_region_lists_partition_by_partition(service):
    # given botocore's own session
    session = botocore.session.get_session()
    # when the regions of a service are listed by both
    expected = [region for partition in session.get_available_partitions()
                for region in session.get_available_regions(service, partition)]
    # then they are the same, in the same order
    assert list(sdk_data.service_regions(service)) == expected


def test_a_service_botocore_lacks_has_no_regions_and_no_metadata():
    # given a name botocore has no model for
    # when its regions and metadata are asked for
    # then there are none (as botocore's get_available_regions answers)
    assert sdk_data.service_regions("no-such-service") == ()
    assert sdk_data.service_metadata("no-such-service") is None


def test_service_model_is_one_object_built_on_the_loaders_data():
    # given the lambda model asked for twice
    first, second = sdk_data.service_model("lambda"), sdk_data.service_model("lambda")
    # when the data behind it is read through the shared loader
    data = sdk_data.service_data("lambda")
    # then it is the same model, on the very dictionary the loader keeps
    assert first is second
    assert first._service_description is data


def test_moto_reads_its_models_and_regions_from_the_shared_session():
    # given moto's hooks pointed at the shared session
    from moto.core import utils
    from moto.core.base_backend import AccountSpecificBackend

    sdk_data.install_into_moto()
    # when moto loads a service model and lists a service's regions
    moto_data = utils._load_service_model("sqs", "service-2")
    regions = AccountSpecificBackend._generate_regions(None, "sqs")  # type: ignore[arg-type]
    # then its model is the shared loader's dictionary and its regions botocore's
    assert moto_data is sdk_data.service_data("sqs")
    assert regions == list(sdk_data.service_regions("sqs"))
    assert "us-east-1" in regions


def test_metadata_of_a_kept_model_is_read_from_it():
    # given the DynamoDB model kept
    model = sdk_data.service_model("dynamodb")
    # when its metadata is asked for
    metadata = sdk_data.service_metadata("dynamodb")
    # then it is the model's
    assert metadata == dict(model.metadata)
    assert metadata["endpointPrefix"] == "dynamodb"
