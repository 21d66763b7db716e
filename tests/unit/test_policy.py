"""The policy evaluator against the IAM User Guide's evaluation rules and examples.

Cases come from "Policy evaluation logic" (explicit deny, allow, implicit deny),
"IAM JSON policy elements: NotAction / NotResource / Resource" (their examples:
allow everything except IAM, deny everything except IAM, the HR bucket payroll
example, wildcards in ARNs) and "Action" (case-insensitive action names).
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from localaws.policy import (
    ALLOWED,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    PolicyDocumentError,
    action_matches,
    compile_policy,
    evaluate,
    evaluate_all,
    granted_actions,
)

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/Books"
OTHER = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders"


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


CASES = [
    # (name, policies, action, resource, expected)
    ("no policy: implicit deny", [], "dynamodb:PutItem", TABLE, IMPLICIT_DENY),
    ("an allow", [doc(allow("dynamodb:PutItem", TABLE))], "dynamodb:PutItem", TABLE, ALLOWED),
    ("other action: implicit deny", [doc(allow("dynamodb:PutItem", TABLE))],
     "dynamodb:DeleteItem", TABLE, IMPLICIT_DENY),
    ("other resource: implicit deny", [doc(allow("dynamodb:PutItem", TABLE))],
     "dynamodb:PutItem", OTHER, IMPLICIT_DENY),
    ("explicit deny beats an allow in the same policy",
     [doc(allow("dynamodb:*"), deny("dynamodb:PutItem", TABLE))],
     "dynamodb:PutItem", TABLE, EXPLICIT_DENY),
    ("explicit deny beats an allow in another policy",
     [doc(allow("dynamodb:PutItem", TABLE)), doc(deny("dynamodb:*", "*"))],
     "dynamodb:PutItem", TABLE, EXPLICIT_DENY),
    ("a deny elsewhere does not touch this request",
     [doc(allow("dynamodb:PutItem", TABLE), deny("dynamodb:PutItem", OTHER))],
     "dynamodb:PutItem", TABLE, ALLOWED),
    ("NotAction allow: everything except IAM (IAM actions not allowed)",
     [doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})],
     "iam:CreateUser", "*", IMPLICIT_DENY),
    ("NotAction allow: everything except IAM (others allowed)",
     [doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})],
     "s3:GetObject", "arn:aws:s3:::bucket/key", ALLOWED),
    ("NotAction deny: deny everything except IAM",
     [doc(allow("*"), {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"})],
     "sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:q", EXPLICIT_DENY),
    ("NotAction deny leaves the excepted actions allowed",
     [doc(allow("*"), {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"})],
     "iam:ListUsers", "*", ALLOWED),
    ("NotResource: outside the payroll folder is allowed",
     [doc({"Effect": "Allow", "Action": "s3:*",
           "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"]})],
     "s3:GetObject", "arn:aws:s3:::HRBucket/Staff/list.txt", ALLOWED),
    ("NotResource: the payroll folder is not",
     [doc({"Effect": "Allow", "Action": "s3:*",
           "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"]})],
     "s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/2024.csv", IMPLICIT_DENY),
    ("action wildcard in the middle", [doc(allow("iam:*AccessKey*"))],
     "iam:ListAccessKeys", "*", ALLOWED),
    ("action wildcard does not over-match", [doc(allow("iam:*AccessKey*"))],
     "iam:ListUsers", "*", IMPLICIT_DENY),
    ("action names are case-insensitive", [doc(allow("DynamoDB:putitem", TABLE))],
     "dynamodb:PutItem", TABLE, ALLOWED),
    ("resources are case-sensitive",
     [doc(allow("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:123456789012:table/books"))],
     "dynamodb:PutItem", TABLE, IMPLICIT_DENY),
    ("* in an ARN spans colons and slashes",
     [doc(allow("logs:PutLogEvents", "arn:aws:logs:*"))], "logs:PutLogEvents",
     "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:log-stream:2024/01/01/[$LATEST]a",
     ALLOWED),
    ("? matches exactly one character",
     [doc(allow("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:123456789012:table/Book?"))],
     "dynamodb:PutItem", TABLE, ALLOWED),
    ("? does not match two characters",
     [doc(allow("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:123456789012:table/Boo?"))],
     "dynamodb:PutItem", TABLE, IMPLICIT_DENY),
    ("a region wildcard", [doc(allow("dynamodb:PutItem", "arn:aws:dynamodb:*:*:table/Books"))],
     "dynamodb:PutItem", TABLE, ALLOWED),
    ("a table wildcard does not reach its index",
     [doc(allow("dynamodb:Query", TABLE))], "dynamodb:Query", f"{TABLE}/index/ByAuthor",
     IMPLICIT_DENY),
    ("a single statement object and a string action",
     [{"Version": "2012-10-17", "Statement": allow("dynamodb:PutItem", TABLE)}],
     "dynamodb:PutItem", TABLE, ALLOWED),
    ("an allow with a condition never grants (not evaluated)",
     [doc(allow("dynamodb:PutItem", TABLE,
                Condition={"Bool": {"aws:SecureTransport": "true"}}))],
     "dynamodb:PutItem", TABLE, IMPLICIT_DENY),
    ("a deny with a condition always applies (not evaluated)",
     [doc(allow("dynamodb:PutItem", TABLE),
          deny("dynamodb:PutItem", TABLE, Condition={"Bool": {"aws:SecureTransport": "false"}}))],
     "dynamodb:PutItem", TABLE, EXPLICIT_DENY),
    ("a statement without a resource element matches nothing",
     [doc({"Effect": "Allow", "Action": "dynamodb:PutItem"})], "dynamodb:PutItem", TABLE,
     IMPLICIT_DENY),
    ("the managed stream policy allows GetRecords on any stream",
     [doc(allow(["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                 "dynamodb:ListStreams", "logs:CreateLogGroup", "logs:CreateLogStream",
                 "logs:PutLogEvents"]))],
     "dynamodb:GetRecords", f"{TABLE}/stream/2024-01-01T00:00:00.000", ALLOWED),
]


@pytest.mark.parametrize(("policies", "action", "resource", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_evaluation_follows_the_iam_rules(policies, action, resource, expected):
    # when
    decision = evaluate(policies, action, resource)
    # then
    assert decision == expected


def test_documents_as_json_text_and_url_encoded_text_evaluate_alike():
    # given
    document = doc(allow("dynamodb:PutItem", TABLE))
    text = json.dumps(document)
    # when
    decisions = {evaluate([form], "dynamodb:PutItem", TABLE)
                 for form in (document, text, quote(text))}
    # then
    assert decisions == {ALLOWED}


def test_a_changed_document_is_compiled_again():
    # given
    before = json.dumps(doc(allow("dynamodb:PutItem", TABLE)))
    after = json.dumps(doc(allow("dynamodb:PutItem", OTHER)))
    assert compile_policy(before) is compile_policy(before)  # cached by text
    # when
    decision = evaluate([after], "dynamodb:PutItem", TABLE)
    # then
    assert decision == IMPLICIT_DENY


@pytest.mark.parametrize("document", ["not json", json.dumps({"Version": "2012-10-17"}),
                                      json.dumps(doc({"Effect": "Maybe", "Action": "*",
                                                      "Resource": "*"}))])
def test_a_malformed_document_is_refused(document):
    with pytest.raises(PolicyDocumentError):
        compile_policy(document)


def test_the_first_denied_request_of_several_is_reported():
    # given: two tables written in one batch, only one of them granted
    policies = [doc(allow("dynamodb:BatchWriteItem", TABLE))]
    # when
    denied = evaluate_all(policies, [("dynamodb:BatchWriteItem", TABLE),
                                     ("dynamodb:BatchWriteItem", OTHER)])
    # then
    assert denied == (("dynamodb:BatchWriteItem", OTHER), IMPLICIT_DENY)
    assert evaluate_all(policies, [("dynamodb:BatchWriteItem", TABLE)]) is None


def test_explicit_and_implicit_denials_are_worded_as_aws_words_them():
    assert IMPLICIT_DENY.reason.format(action="dynamodb:PutItem") == \
        "because no identity-based policy allows the dynamodb:PutItem action"
    assert EXPLICIT_DENY.reason == "with an explicit deny in an identity-based policy"


def test_granted_actions_lists_the_allow_statements_actions():
    document = doc(allow(["a:One", "a:Two"]), deny("a:Three"), allow("b:*"))
    assert granted_actions(document) == ["a:One", "a:Two", "b:*"]
    assert action_matches("b:*", "B:Anything") and not action_matches("a:One", "a:OneMore")


def test_the_helpers_diagnosis_uses_the_same_evaluator():
    # given: a NotAction grant, which the helpers' old evaluator ignored
    from helpers.iam import allows

    documents = [doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})]
    # then
    assert allows(documents, "dynamodb:GetRecords", f"{TABLE}/stream/x")
    assert not allows(documents, "iam:PassRole", "*")
