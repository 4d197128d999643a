"""The engine's building blocks: read-only planning, normalised diffs, tags, names."""

from __future__ import annotations

import pytest

from ecspipe.config import parse_config
from ecspipe.names import Names
from ecspipe.resources.base import (
    PlanningWrite,
    ReadOnlyClient,
    canonical_policy,
    diff,
    keyed,
    project_onto,
    sync_tags,
)


class FakeClient:
    def get_role(self, **kwargs):
        return {"Role": kwargs}

    def create_role(self, **kwargs):  # pragma: no cover - must never be reached
        raise AssertionError("reached")


def test_a_read_only_client_reads_but_refuses_to_write():
    client = ReadOnlyClient(FakeClient())
    assert client.get_role(RoleName="x") == {"Role": {"RoleName": "x"}}
    with pytest.raises(PlanningWrite, match="create_role"):
        client.create_role(RoleName="x")


def test_policies_that_differ_only_in_spelling_compare_equal():
    ours = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:b", "arn:a"]}]}
    theirs = ('{"Statement": [{"Resource": ["arn:a", "arn:b"], "Action": "s3:GetObject",'
              ' "Effect": "Allow"}], "Version": "2012-10-17"}')
    assert canonical_policy(ours) == canonical_policy(theirs)
    changed = {**ours, "Statement": [{**ours["Statement"][0], "Action": "s3:PutObject"}]}
    assert canonical_policy(changed) != canonical_policy(theirs)


def test_diffs_name_the_changed_field_with_lists_keyed_by_name():
    before = keyed({"stages": [{"name": "Source", "configuration": {"BranchName": "main"}}]})
    after = keyed({"stages": [{"name": "Source", "configuration": {"BranchName": "dev"}}]})
    [change] = diff(before, after)
    assert (change.path, change.before, change.after) == (
        "stages.Source.configuration.BranchName", "main", "dev")


def test_fields_aws_adds_are_ignored_by_projection():
    current = {"environment": {"type": "LINUX_CONTAINER", "certificate": "x"}, "arn": "a"}
    desired = {"environment": {"type": "LINUX_CONTAINER"}}
    assert diff(project_onto(current, desired), desired) == []


def test_sync_tags_removes_then_sets_only_what_differs():
    calls = []
    sync_tags({"a": "1", "b": "2", "old": "x"}, {"a": "1", "b": "3", "new": "y"},
              untag=lambda keys: calls.append(("untag", keys)),
              tag=lambda tags: calls.append(("tag", tags)))
    assert calls == [("untag", ["old"]), ("tag", {"b": "3", "new": "y"})]
    calls.clear()
    sync_tags({"a": "1"}, {"a": "1"}, untag=calls.append, tag=calls.append)
    assert calls == []


def _config(name: str, region: str):
    from config_cases import VALID_BASE

    return parse_config(VALID_BASE.replace("name: demo-app", f"name: {name}", 1)
                        .replace("region: us-east-1", f"region: {region}", 1))


@pytest.mark.parametrize("region", ["us-east-1", "ap-southeast-7", "us-gov-west-1",
                                    "cn-northwest-1"])
def test_every_name_fits_its_aws_limit_even_for_the_longest_name(region):
    names = Names.from_config(_config("a" * 23 + "b", region), "123456789012")
    assert len(names.artifact_bucket) <= 63
    assert names.artifact_bucket == f"{'a' * 23}b-artifacts-123456789012-{region}"
    assert len(names.connection) <= 32
    assert len(names.codebuild_role) <= 64 and len(names.pipeline_role) <= 64
    assert len(names.build_project) <= 150 and len(names.pipeline) <= 100


def test_ownership_needs_both_tags_with_this_pipelines_name():
    names = Names.from_config(_config("demo-app", "us-east-1"), "123456789012")
    assert names.owns({"ecspipe:pipeline": "demo-app", "managed-by": "ecspipe"})
    assert not names.owns({"ecspipe:pipeline": "other", "managed-by": "ecspipe"})
    assert not names.owns({"managed-by": "ecspipe"})
    assert not names.owns(None)


def test_arns_follow_the_partition_of_the_region():
    names = Names.from_config(_config("demo-app", "cn-north-1"), "123456789012")
    assert names.pipeline_role_arn == (
        "arn:aws-cn:iam::123456789012:role/ecspipe/demo-app-cn-north-1-codepipeline")
    assert names.ecr_repository_uri.endswith(".amazonaws.com.cn/demo-app")


def test_an_ecr_build_image_is_pulled_with_the_service_role_and_allowed_to():
    from ecspipe.config import Target
    from ecspipe.documents.policies import codebuild_policy
    from ecspipe.documents.project import project_request
    from ecspipe.facts import EnvironmentFacts, ServiceFacts

    base = _config("demo-app", "us-east-1")
    image = "210987654321.dkr.ecr.us-east-1.amazonaws.com/tools/builder:3"
    config = base.model_copy(update={"build": base.build.model_copy(update={"image": image})})
    names = Names.from_config(config, "123456789012")
    facts = (EnvironmentFacts(Target(None, base.service), ServiceFacts(  # type: ignore[arg-type]
        "c", "arn:c", "s", "arn:s", "arn:td", "fam", ("web",), "web")),)
    assert project_request(config, names, facts)["environment"][
        "imagePullCredentialsType"] == "SERVICE_ROLE"
    pull = [st for st in codebuild_policy(config, names)["Statement"]
            if st.get("Sid") == "BuildImagePull"]
    assert pull and pull[0]["Resource"] == (
        "arn:aws:ecr:us-east-1:210987654321:repository/tools/builder")
    # A curated image keeps CodeBuild's own credentials and needs no extra grant.
    assert project_request(base, names, facts)["environment"][
        "imagePullCredentialsType"] == "CODEBUILD"
    assert not [st for st in codebuild_policy(base, names)["Statement"]
                if st.get("Sid") == "BuildImagePull"]


# ---- waves and requests at once ----------------------------------------------------------


class Step:
    def __init__(self, kind: str, *needs: str) -> None:
        self.kind, self.needs = kind, needs


def test_waves_follow_the_real_dependencies_and_keep_the_list_order():
    from ecspipe.plan import waves

    steps = [Step("a"), Step("b", "a"), Step("c"), Step("d", "b", "c"), Step("e")]
    assert [[s.kind for s in wave] for wave in waves(steps)] == [["a", "c", "e"], ["b"], ["d"]]


def test_a_dependency_on_no_resource_or_a_cycle_is_refused():
    from ecspipe.plan import waves

    with pytest.raises(ValueError, match="needs"):
        waves([Step("a", "typo")])
    with pytest.raises(ValueError, match="cycle"):
        waves([Step("a", "b"), Step("b", "a")])


def test_up_makes_both_roles_in_the_first_wave_then_the_project_then_the_pipeline():
    """Both roles start propagating in IAM while everything else is made; the project
    (which CodeBuild checks against its role) and the pipeline (everything) follow."""
    from ecspipe.plan import resource_groups

    assert [[r.kind for r in group] for group in resource_groups()] == [
        ["connection", "ECR repository", "artifact bucket", "log group", "CodeBuild role",
         "CodePipeline role"],
        ["CodeBuild project"],
        ["pipeline"],
    ]


def test_the_notification_resources_join_the_waves_by_what_they_need():
    """With notify: the key is made in the first wave (nothing needs to exist for it),
    the topic (encrypted with the key) beside the project, the rule after the pipeline."""
    from types import SimpleNamespace

    from ecspipe.plan import resource_groups

    ctx = SimpleNamespace(config=SimpleNamespace(notify=object()))
    assert [[r.kind for r in group] for group in resource_groups(ctx)] == [  # type: ignore[arg-type]
        ["connection", "ECR repository", "artifact bucket", "log group", "CodeBuild role",
         "CodePipeline role", "KMS key"],
        ["CodeBuild project", "SNS topic"],
        ["pipeline"],
        ["notification rule"],
    ]


def _ctx(serial: bool):
    from ecspipe.resources.base import Context

    return Context(config=None, names=None, environments=(), aws=None, outputs=None,  # type: ignore[arg-type]
                   retry=None, serial=serial)  # type: ignore[arg-type]


def test_at_once_sends_independent_requests_together_and_in_order_when_serial():
    import threading

    from ecspipe.resources.base import at_once

    both = threading.Barrier(2, timeout=5)  # passes only if the two run at the same time

    def meet(value: str):
        return lambda: (both.wait(), value)[1]

    assert at_once(_ctx(serial=False), meet("a"), None, meet("b")) == ["a", "b"]
    order: list[str] = []
    assert at_once(_ctx(serial=True), lambda: order.append("x"), None,
                   lambda: order.append("y")) == [None, None]
    assert order == ["x", "y"]


def test_at_once_raises_the_first_failure_after_every_request_ended():
    from ecspipe.resources.base import at_once

    ended: list[str] = []

    def fail() -> None:
        raise RuntimeError("first")

    def slow() -> None:
        ended.append("slow")

    with pytest.raises(RuntimeError, match="first"):
        at_once(_ctx(serial=False), fail, slow)
    assert ended == ["slow"]


def test_shared_reads_send_each_read_and_each_paged_read_once():
    """Planning run ahead of preflight and the real plan ask the same reads: a plain read
    and a paged one (every page) are each sent once, and each asker gets its own copy."""
    from ecspipe.resources.base import SharedReads

    sent: list[str] = []

    class Pages:
        def paginate(self, **kwargs):
            sent.append(f"page {kwargs['Topic']}")
            yield {"Items": [1]}
            sent.append(f"page 2 {kwargs['Topic']}")
            yield {"Items": [2]}

    class Client:
        def list_things(self, **kwargs):
            sent.append(f"list {kwargs['Name']}")
            return {"Things": [kwargs["Name"]]}

        def get_paginator(self, operation):
            assert operation == "list_items"
            return Pages()

    class FakeAws:
        def client(self, service):
            return Client()

    reads = SharedReads(FakeAws())  # type: ignore[arg-type]
    first = reads("svc").list_things(Name="a")
    first["Things"].append("changed by its asker")
    assert reads("svc").list_things(Name="a") == {"Things": ["a"]}
    assert reads("svc").list_things(Name="b") == {"Things": ["b"]}
    pages = [list(reads("svc").get_paginator("list_items").paginate(Topic="t"))
             for _ in range(2)]
    assert pages[0] == pages[1] == [{"Items": [1]}, {"Items": [2]}]
    assert sent == ["list a", "list b", "page t", "page 2 t"]
    assert reads.sent == 3
