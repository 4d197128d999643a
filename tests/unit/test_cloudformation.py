"""documents/cloudformation.py: values become pseudo parameters and references, shapes map."""

from __future__ import annotations

import pytest

from ecspipe.documents.cloudformation import (
    NoMapping,
    Parameter,
    Substituter,
    parts_of,
    references,
    to_yaml,
)
from ecspipe.names import Names

NAMES = Names(name="demo-app", region="eu-west-1", ecr_repository="demo-app",
              account_id="123456789012")


def _sub(declared: set[str], parameters: list[Parameter] | None = None) -> Substituter:
    return Substituter(NAMES, references(NAMES, None), parameters or [], declared)


def test_account_region_and_partition_become_pseudo_parameters():
    sub = _sub(set())
    assert sub("arn:aws:iam::123456789012:role/x") == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/x"}
    assert sub("eu-west-1") == {"Ref": "AWS::Region"}
    # Not an account id: a longer run of digits, and text without any of them.
    assert sub("1123456789012") == "1123456789012"
    assert sub("plain ${HOME}") == "plain ${HOME}"


def test_a_sub_keeps_the_shells_own_expansions_literal():
    sub = _sub(set())
    assert sub('x="${COMMIT:0:7}" eu-west-1') == {"Fn::Sub": 'x="${!COMMIT:0:7}" ${AWS::Region}'}


def test_only_resources_declared_earlier_are_referred_to():
    arn = NAMES.build_project_arn
    assert _sub(set())(arn) == {"Fn::Sub": "arn:${AWS::Partition}:codebuild:${AWS::Region}:"
                                           "${AWS::AccountId}:project/demo-app-build"}
    assert _sub({"BuildProject"})(arn) == {"Fn::GetAtt": ["BuildProject", "Arn"]}
    assert _sub({"BuildProject"})(NAMES.build_project) == {"Ref": "BuildProject"}
    # A name only as a whole string: inside another name it stays.
    assert _sub({"BuildProject"})("/x/demo-app-build-2") == "/x/demo-app-build-2"


def test_a_parameters_sentinel_becomes_the_parameter():
    sub = _sub(set(), [Parameter("Cluster", "SENTINELZ", "c", "d", ".*")])
    assert sub("SENTINELZ") == {"Ref": "Cluster"}
    assert sub("service/SENTINELZ/s") == {"Fn::Sub": "service/${Cluster}/s"}


def test_a_request_member_without_a_mapping_raises():
    with pytest.raises(NoMapping, match="CreateConnection: no CloudFormation mapping for HostArn"):
        parts_of("connection", [("create_connection", {"ConnectionName": "c",
                                                       "ProviderType": "GitHub",
                                                       "HostArn": "arn"})])
    with pytest.raises(NoMapping, match="delete_bucket"):
        parts_of("artifact bucket", [("create_bucket", {"Bucket": "b"}),
                                     ("delete_bucket", {})])


def test_yaml_writes_multiline_text_as_a_block_and_no_anchors():
    shared = {"a": 1}
    text = to_yaml({"x": shared, "y": shared, "z": "one\ntwo\n"})
    assert "&id" not in text and "*id" not in text
    assert "z: |\n  one\n  two\n" in text
