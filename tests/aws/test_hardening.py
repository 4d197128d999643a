"""What the review of AWS's documentation found, against the sandbox: S3's NoSuchBucket right
after CreateBucket, the webhook of a pipeline saved while its connection was PENDING, and
values of the CodeBuild project as it is that must never be shown."""

from __future__ import annotations

import boto3
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
BUCKET = f"demo-app-artifacts-{ACCOUNT}-us-east-1"
WEBHOOK = {"key": "ecspipe:webhook", "value": "pending"}


def _no_such_bucket(operations: dict[str, int]):
    """A before-parameter-build hook: the first N calls of each operation see NoSuchBucket."""

    def hook(model, **_kwargs):
        if operations.get(model.name, 0) > 0:
            operations[model.name] -= 1
            raise ClientError({"Error": {"Code": "NoSuchBucket",
                                         "Message": "The specified bucket does not exist"}},
                              model.name)

    return [("before-parameter-build.s3.*", hook)]


def test_bucket_configuration_right_after_create_bucket_retries_no_such_bucket(
        seeded, ecspipe, write_config, sleeps):
    pending = {"PutPublicAccessBlock": 3, "PutBucketVersioning": 1, "PutBucketPolicy": 2}
    result = ecspipe("up", "-c", write_config(), obj={"client_hooks": _no_such_bucket(pending)})
    assert result.code == 0, result
    assert pending == {"PutPublicAccessBlock": 0, "PutBucketVersioning": 0, "PutBucketPolicy": 0}
    assert len(sleeps) == 6  # one backoff per NoSuchBucket, on the injected clock
    s3 = boto3.client("s3")
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]


def test_no_such_bucket_after_create_is_retried_for_about_two_minutes_then_fails(
        seeded, ecspipe, write_config, sleeps):
    forever = {"PutPublicAccessBlock": 10**6}
    result = ecspipe("up", "-c", write_config(), obj={"client_hooks": _no_such_bucket(forever)})
    assert result.code == 1, result
    assert "NoSuchBucket" in result.err or "does not exist" in result.err
    assert "Traceback" not in result.err
    assert 60 <= sum(sleeps) <= 120


def test_no_such_bucket_is_not_retried_when_the_bucket_was_not_created_in_this_run(
        seeded, ecspipe, write_config, sleeps):
    config = write_config()
    assert ecspipe("up", "-c", config).code == 0
    boto3.client("s3").delete_bucket_policy(Bucket=BUCKET)  # drift: the next up updates it
    sleeps.clear()
    result = ecspipe("up", "-c", config,
                     obj={"client_hooks": _no_such_bucket({"PutBucketPolicy": 1})})
    assert result.code == 1, result
    assert sleeps == []


# ---- the webhook of a pipeline saved while its connection was PENDING -------------------

def _pipeline_tags() -> list[dict[str, str]]:
    return boto3.client("codepipeline").list_tags_for_resource(
        resourceArn=f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:demo-app")["tags"]


def test_a_pipeline_saved_while_the_connection_is_pending_is_saved_once_more_when_available(
        seeded, sandbox, ecspipe, write_config, calls):
    from ecspipe.sandbox.connections import complete_handshake

    sandbox.handshake_delay = None  # stays PENDING until a person completes the handshake
    config = write_config()
    assert ecspipe("up", "-c", config).code == 0
    assert WEBHOOK in _pipeline_tags()
    calls.clear()
    still = ecspipe("plan", "-c", config)
    assert still.code == 0 and "Plan: no changes" in still.out, still  # still PENDING: nothing
    assert calls.writes == []

    (conn,) = boto3.client("codeconnections").list_connections()["Connections"]
    complete_handshake(conn["ConnectionArn"])
    plan = ecspipe("plan", "-c", config, "-o", "json")
    (change,) = [c for c in plan.json()["changes"] if c["resource"] == "pipeline"]
    assert change["action"] == "update"
    assert any("saved once more" in note and "webhook" in note for note in change["notes"])
    assert change["changes"] == [{"field": "tags.ecspipe:webhook", "before": "pending",
                                  "after": None}]

    calls.clear()
    up = ecspipe("up", "-c", config)
    assert up.code == 0, up
    assert calls.writes == ["UpdatePipeline", "UntagResource"]
    assert WEBHOOK not in _pipeline_tags()
    calls.clear()
    again = ecspipe("up", "-c", config)
    assert again.code == 0 and calls.writes == [], again


def test_up_wait_connection_creates_the_pipeline_after_the_handshake_without_the_marker(
        seeded, sandbox, ecspipe, write_config, calls):
    sandbox.handshake_delay = 5.0  # completes while --wait-connection polls (injected clock)
    result = ecspipe("up", "-c", write_config(), "--wait-connection", "--timeout", "60")
    assert result.code == 0, result
    assert "is AVAILABLE" in result.err
    assert WEBHOOK not in _pipeline_tags()
    assert calls.ops.index("CreatePipeline") > calls.ops.index("GetConnection")


# ---- what plan shows of the project as it is --------------------------------------------

def test_a_secret_someone_put_in_the_project_is_masked_in_every_plan_output(
        seeded, ecspipe, write_config):
    config = write_config(("    APP_ENV: production",
                           "    APP_ENV: production\n    DB_PASSWORD: {parameter_store: /db/pw}"
                           "\n    VISIBLE_NOTE: as-configured"))
    assert ecspipe("up", "-c", config).code == 0
    codebuild = boto3.client("codebuild")
    project = codebuild.batch_get_projects(names=["demo-app-build"])["projects"][0]
    environment = project["environment"]
    by_name = {v["name"]: v for v in environment["environmentVariables"]}
    # Someone "fixed" the build in the console with the secret itself.
    by_name["DB_PASSWORD"].update(value="hunter2-in-the-console", type="PLAINTEXT")
    by_name["VISIBLE_NOTE"].update(value="changed-in-the-console")
    codebuild.update_project(name="demo-app-build", environment=environment)

    text = ecspipe("plan", "-c", config)
    as_json = ecspipe("plan", "-c", config, "-o", "json")
    assert text.code == 0 and as_json.code == 0
    for out in (text.out + text.err, as_json.out + as_json.err):
        assert "hunter2" not in out
    (change,) = [c for c in as_json.json()["changes"] if c["resource"] == "CodeBuild project"]
    fields = {f["field"]: f for f in change["changes"]}
    secret = fields["environment.environmentVariables.DB_PASSWORD.value"]
    assert secret["before"].startswith("(hidden") and secret["after"] == "/db/pw"
    assert fields["environment.environmentVariables.DB_PASSWORD.type"]["before"] == "PLAINTEXT"
    # A value under a name that does not look secret is shown as it is.
    assert fields["environment.environmentVariables.VISIBLE_NOTE.value"]["before"] == \
        "changed-in-the-console"
    assert "changed-in-the-console" in text.out
    # `up` puts the reference back; then plan is quiet.
    assert ecspipe("up", "-c", config).code == 0
    assert "Plan: no changes" in ecspipe("plan", "-c", config).out
