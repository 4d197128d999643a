"""Self-tests of the sandbox's CodeBuild fixes (mock mode).

moto 5.2.5 has no UpdateProject, wants a `location` for CodePipeline sources and
artifacts, and drops `lastModified`; ecspipe.sandbox.codebuild fixes that. These
also pin down which project fields moto keeps as sent, since ecspipe compares
them on read-back.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/service-role/demo-app-codebuild"
ENVIRONMENT = {
    "type": "LINUX_CONTAINER",
    "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
    "computeType": "BUILD_GENERAL1_SMALL",
    "privilegedMode": True,
    "environmentVariables": [
        {"name": "APP_ENV", "value": "production", "type": "PLAINTEXT"},
        {"name": "DB_PASSWORD", "value": "/demo-app/db-password", "type": "PARAMETER_STORE"},
    ],
}
BUILDSPEC = "version: 0.2\nphases:\n  build:\n    commands:\n      - docker build .\n"
LOGS = {"cloudWatchLogs": {"status": "ENABLED", "groupName": "/aws/codebuild/demo-app"}}
TAGS = [{"key": "team", "value": "platform"}, {"key": "ecspipe:name", "value": "demo-app"}]


@pytest.fixture
def codebuild(sandbox, aws):
    return aws("codebuild")


def _create(codebuild, name="demo-app-build", **overrides):
    kwargs = {
        "name": name,
        "source": {"type": "CODEPIPELINE", "buildspec": BUILDSPEC},
        "artifacts": {"type": "CODEPIPELINE"},
        "environment": ENVIRONMENT,
        "serviceRole": ROLE,
        "timeoutInMinutes": 30,
        "logsConfig": LOGS,
        "tags": TAGS,
        **overrides,
    }
    return codebuild.create_project(**kwargs)["project"]


def _get(codebuild, name="demo-app-build"):
    return codebuild.batch_get_projects(names=[name])["projects"][0]


def _error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_create_project_accepts_a_codepipeline_source_and_artifacts_without_location(codebuild):
    project = _create(codebuild)

    assert project["source"]["type"] == "CODEPIPELINE"
    assert "location" not in project["source"]
    assert project["artifacts"] == {"type": "CODEPIPELINE"}


def test_create_project_accepts_no_source_without_location(codebuild):
    project = _create(
        codebuild,
        source={"type": "NO_SOURCE", "buildspec": BUILDSPEC},
        artifacts={"type": "NO_ARTIFACTS"},
    )

    assert project["source"] == {"type": "NO_SOURCE", "buildspec": BUILDSPEC}


def test_create_project_still_requires_a_location_for_a_github_source(codebuild):
    with pytest.raises(ClientError) as excinfo:
        _create(codebuild, source={"type": "GITHUB"})

    assert _error_code(excinfo) == "InvalidInputException"
    assert codebuild.list_projects()["projects"] == []


def test_create_project_still_requires_a_location_for_s3_artifacts(codebuild):
    with pytest.raises(ClientError) as excinfo:
        _create(codebuild, artifacts={"type": "S3"})

    assert _error_code(excinfo) == "InvalidInputException"


def test_create_project_accepts_a_name_starting_with_a_digit_as_aws_does(codebuild):
    project = _create(codebuild, name="1app-build")

    assert project["name"] == "1app-build"


def test_create_project_still_refuses_an_existing_name(codebuild):
    _create(codebuild)

    with pytest.raises(ClientError) as excinfo:
        _create(codebuild)

    assert _error_code(excinfo) == "ResourceAlreadyExistsException"


def test_batch_get_projects_returns_the_fields_ecspipe_reads_as_they_were_sent(codebuild):
    _create(codebuild)

    project = _get(codebuild)

    assert project["tags"] == TAGS
    assert project["environment"] == ENVIRONMENT
    assert project["source"]["buildspec"] == BUILDSPEC
    assert project["logsConfig"] == LOGS
    assert project["timeoutInMinutes"] == 30
    assert project["serviceRole"] == ROLE
    assert project["arn"] == "arn:aws:codebuild:us-east-1:123456789012:project/demo-app-build"


def test_batch_get_projects_returns_created_and_last_modified_from_the_sandbox_clock(
    codebuild, clock
):
    _create(codebuild)

    project = _get(codebuild)

    expected = datetime.datetime.fromtimestamp(clock.now(), tz=datetime.UTC)
    assert project["created"] == expected
    assert project["lastModified"] == expected


def test_create_project_defaults_the_timeouts_like_aws(codebuild):
    codebuild.create_project(
        name="defaults",
        source={"type": "CODEPIPELINE"},
        artifacts={"type": "CODEPIPELINE"},
        environment=ENVIRONMENT,
        serviceRole=ROLE,
    )

    project = _get(codebuild, "defaults")

    assert (project["timeoutInMinutes"], project["queuedTimeoutInMinutes"]) == (60, 480)


def test_create_project_keeps_the_encryption_key_it_was_given(codebuild):
    key = "arn:aws:kms:us-east-1:123456789012:alias/demo-app"
    _create(codebuild, encryptionKey=key)

    assert _get(codebuild)["encryptionKey"] == key


def test_batch_get_projects_lists_unknown_names_as_not_found(codebuild):
    _create(codebuild)

    answer = codebuild.batch_get_projects(names=["demo-app-build", "missing-build"])

    assert [p["name"] for p in answer["projects"]] == ["demo-app-build"]
    assert answer["projectsNotFound"] == ["missing-build"]


def test_batch_get_projects_leaves_projects_not_found_out_when_all_were_found(codebuild):
    # The model gives projectsNotFound min 1: AWS leaves an empty list out.
    _create(codebuild)

    answer = codebuild.batch_get_projects(names=["demo-app-build"])

    assert "projectsNotFound" not in answer


def test_list_builds_for_project_is_newest_first_unless_ascending_and_pages_by_100(codebuild):
    _create(codebuild)
    builds = [codebuild.start_build(projectName="demo-app-build")["build"]["id"]
              for _ in range(101)]

    first = codebuild.list_builds_for_project(projectName="demo-app-build")
    second = codebuild.list_builds_for_project(
        projectName="demo-app-build", nextToken=first["nextToken"]
    )
    ascending = codebuild.list_builds_for_project(
        projectName="demo-app-build", sortOrder="ASCENDING"
    )

    assert first["ids"] == builds[::-1][:100]
    assert second["ids"] == [builds[0]] and "nextToken" not in second
    assert ascending["ids"] == builds[:100]


def test_list_builds_for_project_of_a_project_without_builds_has_no_ids(codebuild):
    _create(codebuild)

    answer = codebuild.list_builds_for_project(projectName="demo-app-build")

    assert "ids" not in answer and "nextToken" not in answer  # ids has min 1


def test_batch_get_builds_lists_unknown_ids_as_not_found(codebuild):
    _create(codebuild)
    build = codebuild.start_build(projectName="demo-app-build")["build"]["id"]
    missing = "demo-app-build:00000000-0000-0000-0000-000000000000"

    answer = codebuild.batch_get_builds(ids=[build, missing])
    only_found = codebuild.batch_get_builds(ids=[build])

    assert [b["id"] for b in answer["builds"]] == [build]
    assert answer["buildsNotFound"] == [missing]
    assert "buildsNotFound" not in only_found


def test_update_project_changes_only_the_fields_given(codebuild):
    _create(codebuild)

    updated = codebuild.update_project(name="demo-app-build", timeoutInMinutes=45)["project"]

    assert updated["timeoutInMinutes"] == 45
    assert updated["environment"] == ENVIRONMENT
    assert updated["source"]["buildspec"] == BUILDSPEC
    assert updated["tags"] == TAGS
    assert _get(codebuild)["timeoutInMinutes"] == 45


def test_update_project_replaces_a_given_structure_whole(codebuild):
    _create(codebuild)
    arm = {
        "type": "ARM_CONTAINER",
        "image": "aws/codebuild/amazonlinux-aarch64-standard:3.0",
        "computeType": "BUILD_GENERAL1_SMALL",
    }

    codebuild.update_project(
        name="demo-app-build",
        environment=arm,
        source={"type": "CODEPIPELINE", "buildspec": "version: 0.2\n"},
        tags=[{"key": "team", "value": "web"}],
        logsConfig={"cloudWatchLogs": {"status": "DISABLED"}},
    )
    project = _get(codebuild)

    assert project["environment"] == arm
    assert project["source"] == {"type": "CODEPIPELINE", "buildspec": "version: 0.2\n"}
    assert project["tags"] == [{"key": "team", "value": "web"}]
    assert project["logsConfig"] == {"cloudWatchLogs": {"status": "DISABLED"}}


def test_update_project_changes_the_service_role_used_by_later_builds(codebuild):
    _create(codebuild)
    other = "arn:aws:iam::123456789012:role/other-codebuild"

    codebuild.update_project(name="demo-app-build", serviceRole=other)
    build = codebuild.start_build(projectName="demo-app-build")["build"]

    assert _get(codebuild)["serviceRole"] == other
    assert build["serviceRole"] == other


def test_update_project_moves_last_modified_and_keeps_created(codebuild, clock):
    _create(codebuild)
    created = _get(codebuild)["created"]
    clock.advance(60)

    updated = codebuild.update_project(name="demo-app-build", description="new")["project"]

    assert updated["created"] == created
    assert updated["lastModified"] == created + datetime.timedelta(seconds=60)
    assert updated["description"] == "new"


def test_update_project_of_an_unknown_project_raises_resource_not_found(codebuild):
    with pytest.raises(ClientError) as excinfo:
        codebuild.update_project(name="missing-build", timeoutInMinutes=45)

    assert _error_code(excinfo) == "ResourceNotFoundException"


def test_update_project_with_an_invalid_field_changes_nothing(codebuild):
    _create(codebuild)

    with pytest.raises(ClientError) as excinfo:
        codebuild.update_project(
            name="demo-app-build", timeoutInMinutes=45, source={"type": "GITHUB"}
        )

    assert _error_code(excinfo) == "InvalidInputException"
    assert _get(codebuild)["timeoutInMinutes"] == 30


def test_update_project_refuses_a_service_role_of_another_account(codebuild):
    _create(codebuild)

    with pytest.raises(ClientError) as excinfo:
        codebuild.update_project(
            name="demo-app-build", serviceRole="arn:aws:iam::999999999999:role/x"
        )

    assert _error_code(excinfo) == "InvalidInputException"
    assert _get(codebuild)["serviceRole"] == ROLE


# --- what a build writes: the image definitions files of its buildspec ---------------


def test_the_build_writes_exactly_the_image_definitions_files_of_ecspipes_buildspec():
    import json

    from ecspipe.config import load_config
    from ecspipe.documents.buildspec import render_buildspec
    from ecspipe.sandbox.builds import written_definitions

    config = load_config(Path(__file__).resolve().parents[2] / "config.example.yaml")
    definitions = [("imagedefinitions-staging.json", "app"),
                   ("imagedefinitions-production.json", "we'b\"x")]
    spec = render_buildspec(config, "123456789012.dkr.ecr.us-east-1.amazonaws.com/demo-app",
                            definitions)
    found = written_definitions(spec)
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/demo-app:20261201_120000-abc1234"
    assert {file: json.loads(head + uri + tail) for file, (head, tail) in found.items()} == {
        file: [{"name": container, "imageUri": uri}] for file, container in definitions}


@pytest.mark.parametrize("buildspec", [
    None,
    "version: 0.2\nphases:\n  build:\n    commands:\n      - printf '[{\"name\":\"%s\"}]' x > "
    "imagedefinitions.json\n",
    "version: 0.2\nphases: [not, a, mapping]\n",
    "::: not yaml :::\n  - [",
])
def test_another_buildspec_falls_back_to_imagedefinitions_json_of_container_name(buildspec):
    from ecspipe.sandbox.builds import written_definitions

    assert written_definitions(buildspec) == {}
