"""A request for a service the endpoint does not serve is refused in that service's shape."""

from __future__ import annotations

import botocore.parsers
import botocore.session
import pytest
from botocore.awsrequest import HeadersDict

from localaws.errors import RequestError
from localaws.protocols import render_error, unknown_service_message
from localaws.unserved import protocol_of
from tests.unit.wsgi import call, signed


@pytest.mark.parametrize(("service", "signing_name", "operation"), [
    ("s3", "s3", "CreateBucket"),                       # rest-xml
    ("cloudformation", "cloudformation", "CreateStack"),  # query
    ("ec2", "ec2", "DescribeInstances"),                # ec2
    ("kinesis", "kinesis", "ListStreams"),              # json
    ("apigateway", "apigateway", "GetRestApis"),        # rest-json
])
def test_the_refusal_of_an_unserved_service_is_read_by_its_sdk(service, signing_name,
                                                                operation):
    # given: a request signed for a service the endpoint does not serve
    request = call(headers=signed(signing_name))
    error = RequestError("unknown-service", unknown_service_message(request))
    # when
    status, headers, body = render_error(request, error)
    # then: the service's own parser reads our code and message (before: S3 showed
    # "An error occurred (400) ... Bad Request", CloudFormation "Unable to parse response")
    model = botocore.session.get_session().get_service_model(service)
    parser = botocore.parsers.create_parser(protocol_of(signing_name))
    parsed = parser.parse({"status_code": status, "headers": HeadersDict(headers.items()),
                           "body": body}, model.operation_model(operation).output_shape)
    assert status == 400
    assert parsed["Error"]["Code"] == "UnrecognizedServiceException"
    assert "does not serve the service" in parsed["Error"]["Message"]


@pytest.mark.parametrize("signing_name", [None, "no-such-service", "../../etc"])
def test_an_unknown_signing_name_gets_the_json_shape(signing_name):
    # when / then
    assert protocol_of(signing_name) == "json"
