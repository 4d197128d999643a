"""Every answer the sandbox gives conforms to botocore's model, in mock and in server mode.

A realistic story through the CLI (init, up, plan, a release, a failing build,
a rolled-back deployment, status, down) plus a tour of the extension operations
the CLI does not call (stopping executions, paging every list, both
connection APIs, UpdateProject, a manual approval, stage conditions,
RollbackStage, notification rules, ECS service deployments of the seed's
blue/green service, CodeDeploy deployments of its CODE_DEPLOY service, error
answers...). Every raw answer on the
way, whatever its operation, is validated by tests/sandbox/conformance.py, so
an extension that drifts from AWS's model fails here. And at least the
operations in REQUIRED must have been answered, so the test cannot pass by
validating nothing.

Server mode runs the same story over HTTP against one in-process sandbox
server (moto's WSGI app behind the request log, on a werkzeug thread) whose
clock is the test's ManualClock: the same routing as `ecspipe sandbox`, and
no waiting.
"""

from __future__ import annotations

import collections
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.sandbox.conformance import Recorder, validate_all

STARTUP_TIMEOUT = 120.0
MISSING_ID = "00000000-0000-0000-0000-000000000000"

# The operations ecspipe relies on (grep src/ecspipe for client calls) and every
# operation a sandbox extension adds or replaces. Each must have been answered.
REQUIRED = {
    ("sts", "GetCallerIdentity"),
    # connections (extension: both APIs, one store)
    *((api, op) for api in ("codeconnections", "codestar-connections") for op in (
        "CreateConnection", "GetConnection", "ListConnections", "ListTagsForResource",
        "TagResource", "UntagResource", "DeleteConnection")),
    # ECR
    ("ecr", "DescribeRepositories"), ("ecr", "CreateRepository"), ("ecr", "DescribeImages"),
    ("ecr", "GetLifecyclePolicy"), ("ecr", "PutLifecyclePolicy"),
    ("ecr", "ListTagsForResource"), ("ecr", "DeleteRepository"),
    # S3 (extension: CreateBucket tags, policies, PutBucketPolicy)
    ("s3", "CreateBucket"), ("s3", "GetBucketTagging"), ("s3", "GetBucketEncryption"),
    ("s3", "GetPublicAccessBlock"), ("s3", "GetBucketOwnershipControls"),
    ("s3", "GetBucketPolicy"), ("s3", "GetBucketVersioning"),
    ("s3", "GetBucketLifecycleConfiguration"), ("s3", "PutBucketPolicy"),
    ("s3", "ListObjectVersions"), ("s3", "DeleteObjects"), ("s3", "DeleteBucket"),
    # Logs
    ("logs", "DescribeLogGroups"), ("logs", "CreateLogGroup"), ("logs", "ListTagsForResource"),
    ("logs", "GetLogEvents"), ("logs", "FilterLogEvents"), ("logs", "DeleteLogGroup"),
    # IAM
    ("iam", "GetRole"), ("iam", "GetRolePolicy"), ("iam", "CreateRole"), ("iam", "PutRolePolicy"),
    ("iam", "ListRolePolicies"), ("iam", "ListAttachedRolePolicies"), ("iam", "DeleteRole"),
    # CodeBuild (extension: UpdateProject, BatchGet*, ListBuildsForProject)
    ("codebuild", "CreateProject"), ("codebuild", "UpdateProject"),
    ("codebuild", "BatchGetProjects"), ("codebuild", "BatchGetBuilds"),
    ("codebuild", "ListBuildsForProject"), ("codebuild", "DeleteProject"),
    # CodePipeline (extension: executions, state, action executions, stop, paging)
    ("codepipeline", "CreatePipeline"), ("codepipeline", "GetPipeline"),
    ("codepipeline", "UpdatePipeline"), ("codepipeline", "ListPipelines"),
    ("codepipeline", "ListTagsForResource"), ("codepipeline", "TagResource"),
    ("codepipeline", "UntagResource"), ("codepipeline", "StartPipelineExecution"),
    ("codepipeline", "GetPipelineExecution"), ("codepipeline", "ListPipelineExecutions"),
    ("codepipeline", "GetPipelineState"), ("codepipeline", "ListActionExecutions"),
    ("codepipeline", "StopPipelineExecution"), ("codepipeline", "DeletePipeline"),
    ("codepipeline", "PutApprovalResult"), ("codepipeline", "RollbackStage"),
    # CodeStar Notifications (extension: rules publishing pipeline events to SNS)
    *(("codestar-notifications", op) for op in (
        "CreateNotificationRule", "DescribeNotificationRule", "ListNotificationRules",
        "UpdateNotificationRule", "DeleteNotificationRule", "ListEventTypes", "TagResource",
        "UntagResource", "ListTagsForResource")),
    # SNS (extension: email subscriptions pending until confirmed) and KMS: what ecspipe
    # calls for `notify:` (the story's config has it)
    *(("sns", op) for op in (
        "CreateTopic", "GetTopicAttributes", "ListTagsForResource", "Subscribe",
        "ListSubscriptionsByTopic", "ListSubscriptions", "DeleteTopic")),
    *(("kms", op) for op in (
        "CreateKey", "CreateAlias", "DescribeKey", "EnableKeyRotation", "GetKeyPolicy",
        "GetKeyRotationStatus", "ListResourceTags", "DeleteAlias", "ScheduleKeyDeletion")),
    # ECS (extension: deployments, CreateService, UpdateService)
    ("ecs", "ListClusters"), ("ecs", "ListServices"),  # ecspipe init
    ("ecs", "DescribeServices"), ("ecs", "DescribeTaskDefinition"), ("ecs", "CreateService"),
    ("ecs", "UpdateService"), ("ecs", "DeleteService"),
    # ECS service deployments (extension: every strategy, pauses, rollback)
    *(("ecs", op) for op in (
        "ListServiceDeployments", "DescribeServiceDeployments", "ContinueServiceDeployment",
        "StopServiceDeployment", "DescribeServiceRevisions", "RegisterTaskDefinition")),
    # CodeDeploy for ECS (extension: deployment groups, deployments, targets, continue/stop)
    *(("codedeploy", op) for op in (
        "ListApplications", "BatchGetApplications", "GetApplication", "ListDeploymentGroups",
        "BatchGetDeploymentGroups", "GetDeploymentGroup", "CreateDeployment", "GetDeployment",
        "BatchGetDeployments", "ListDeployments", "ListDeploymentTargets",
        "BatchGetDeploymentTargets", "ContinueDeployment", "StopDeployment",
        "GetDeploymentConfig")),
}
# Answers that must include an error (status >= 300), validated as errors.
REQUIRED_ERRORS = {
    ("codepipeline", "GetPipelineExecution"), ("codepipeline", "ListPipelineExecutions"),
    ("codepipeline", "PutApprovalResult"), ("codepipeline", "RollbackStage"),
    ("codeconnections", "GetConnection"), ("ecr", "DescribeRepositories"),
    ("codestar-notifications", "DescribeNotificationRule"),
    ("ecs", "ContinueServiceDeployment"), ("ecs", "StopServiceDeployment"),
    ("codedeploy", "GetDeployment"), ("codedeploy", "ContinueDeployment"),
    ("codedeploy", "CreateDeployment"), ("codedeploy", "GetDeploymentConfig"),
}
# What the recorder listens to: every service the story and the tour use
# except EC2 and CloudWatch (plain moto the tour uses to set things up, not
# ecspipe's; EC2's protocol is not the validator's business).
RECORDED = {service for service, _ in REQUIRED}
ALARM = "tour-5xx"


def _story_config(write_config) -> str:
    # An ECR repository of ecspipe's own, so `down --delete-images` lists its images;
    # notifications, so the KMS key, the topic and the rule are made, read and deleted.
    return write_config(("repository: demo-app", "repository: demo-app-ci"),
                        ("tags:", "notify:\n  email: [ops@example.com]\n\ntags:"))


def _names(path: str):
    from ecspipe.config import load_config
    from ecspipe.names import Names

    return Names.from_config(load_config(path), "123456789012")


def _git_checkout(path: Path) -> Path:
    """A git checkout on main whose origin is the example's GitHub repository."""
    path.mkdir()
    for args in (("init", "-q", "-b", "main"),
                 ("remote", "add", "origin", "git@github.com:acme/demo-app.git")):
        subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True)
    (path / "Dockerfile").write_text("FROM nginx\n")
    return path


def _story(cli: Callable[..., Any], settings: Any, path: str, tour: Callable[[], None]) -> None:
    """The CLI's story, with the tour of the other operations before `down`."""

    def ok(*args: str, code: int = 0) -> Any:
        result = cli(*args, "-c", path)
        assert result.code == code, result
        return result

    work = Path(path).parent
    checkout = str(_git_checkout(work / "checkout"))
    # init finds the service's cluster (ListClusters), or the cluster's service (ListServices).
    for n, flags in enumerate((("--service", "demo-web-service"), ("--cluster", "demo-cluster"))):
        init = cli("init", *flags, "--repo-dir", checkout, "-o", str(work / f"init-{n}.yaml"),
                   "--yes")
        assert init.code == 0, init
    ok("up", "--wait-connection", "--timeout", "60")
    ok("plan")
    ok("release", "--wait")
    settings.fail_stage = "Build"
    ok("release", "--wait", code=1)
    settings.fail_stage = None
    settings.rollback = True
    ok("release", "--wait", code=1)
    settings.rollback = False
    ok("status")
    ok("status", "-o", "json", "--limit", "2")
    tour()
    ok("down", "--yes", "--delete-images")


def _tour(client: Callable[[str], Any], clock: Any, path: str) -> None:
    """Every extension operation the CLI does not call, and the pages of every list."""
    names = _names(path)
    cp, cb, ecs = client("codepipeline"), client("codebuild"), client("ecs")
    pipeline = names.pipeline

    def error(call: Callable[..., Any], **kwargs: Any) -> str:
        with pytest.raises(ClientError) as excinfo:
            call(**kwargs)
        return excinfo.value.response["Error"]["Code"]

    # CodePipeline: executions in flight, stopped, listed page by page.
    cp.list_pipelines()
    cp.tag_resource(resourceArn=names.pipeline_arn, tags=[{"key": "tour", "value": "yes"}])
    cp.list_tags_for_resource(resourceArn=names.pipeline_arn)
    cp.untag_resource(resourceArn=names.pipeline_arn, tagKeys=["tour"])
    first = cp.start_pipeline_execution(name=pipeline)["pipelineExecutionId"]
    clock.advance(2)  # first is building
    second = cp.start_pipeline_execution(name=pipeline)["pipelineExecutionId"]
    cp.get_pipeline_state(name=pipeline)  # second waits to enter Build: inboundExecutions
    cp.stop_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=first, abandon=True,
                               reason="conformance tour")
    cp.stop_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=second)
    cp.get_pipeline_state(name=pipeline)
    clock.advance(30)
    cp.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=second)
    page = cp.list_pipeline_executions(pipelineName=pipeline, maxResults=2)
    cp.list_pipeline_executions(pipelineName=pipeline, maxResults=2, nextToken=page["nextToken"])
    cp.list_pipeline_executions(
        pipelineName=pipeline, filter={"succeededInStage": {"stageName": "Deploy"}})
    page = cp.list_action_executions(pipelineName=pipeline, maxResults=2)
    cp.list_action_executions(pipelineName=pipeline, nextToken=page["nextToken"])
    cp.list_action_executions(pipelineName=pipeline, filter={"pipelineExecutionId": first})
    assert error(cp.get_pipeline_execution, pipelineName=pipeline,
                 pipelineExecutionId=MISSING_ID) == "PipelineExecutionNotFoundException"
    assert error(cp.list_pipeline_executions, pipelineName=pipeline,
                 nextToken="forged") == "InvalidNextTokenException"
    cp.update_pipeline(pipeline=cp.get_pipeline(name=pipeline)["pipeline"])

    # CodeBuild: UpdateProject, builds newest first and found or not.
    cb.update_project(name=names.build_project, timeoutInMinutes=45)
    cb.batch_get_projects(names=[names.build_project, "no-such-project"])
    builds = cb.list_builds_for_project(projectName=names.build_project)["ids"]
    cb.list_builds_for_project(projectName=names.build_project, sortOrder="ASCENDING")
    found = cb.batch_get_builds(ids=[builds[0], f"{names.build_project}:{MISSING_ID}"])
    log = found["builds"][0]["logs"]

    # Logs: the build's log, as `release` and a console read it.
    logs = client("logs")
    logs.get_log_events(logGroupName=log["groupName"], logStreamName=log["streamName"], limit=5)
    logs.filter_log_events(logGroupName=log["groupName"], limit=5)

    # ECS: deployments in progress and settled, a service without security groups.
    cluster, service = "demo-cluster", "demo-web-service"
    ecs.update_service(cluster=cluster, service=service, forceNewDeployment=True)
    ecs.describe_services(cluster=cluster, services=[service, "no-such-service"])
    clock.advance(10)
    ecs.describe_services(cluster=cluster, services=[service])
    subnet = client("ec2").describe_subnets()["Subnets"][0]["SubnetId"]
    ecs.create_service(
        cluster=cluster, serviceName="tour-no-groups", taskDefinition="demo-web",
        desiredCount=1, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet]}})
    ecs.delete_service(cluster=cluster, service="tour-no-groups", force=True)

    # ECR, IAM, S3: lists page by page.
    ecr = client("ecr")
    page = ecr.describe_images(repositoryName="demo-app-ci", maxResults=1)
    ecr.describe_images(repositoryName="demo-app-ci", maxResults=1, nextToken=page["nextToken"])
    assert error(ecr.describe_repositories,
                 repositoryNames=["no-such-repo"]) == "RepositoryNotFoundException"
    iam = client("iam")
    iam.list_role_policies(RoleName=names.codebuild_role, MaxItems=1)
    iam.list_attached_role_policies(RoleName=names.codebuild_role)
    s3 = client("s3")
    for body in (b"1", b"2"):
        s3.put_object(Bucket=names.artifact_bucket, Key="tour/artifact.zip", Body=body)
    page = s3.list_object_versions(Bucket=names.artifact_bucket, MaxKeys=1)
    s3.list_object_versions(Bucket=names.artifact_bucket, MaxKeys=1,
                            KeyMarker=page["NextKeyMarker"],
                            VersionIdMarker=page["NextVersionIdMarker"])

    _approval_rollback_and_notifications(client, clock, names)
    _service_deployments(client, clock)
    _codedeploy(client, clock)

    # Connections: both APIs, tags, pages, and a missing one.
    for api in ("codestar-connections", "codeconnections"):
        connections = client(api)
        arns = [
            connections.create_connection(
                ConnectionName=f"tour-{api[:9]}-{n}", ProviderType="GitHub",
                Tags=[{"Key": "tour", "Value": "yes"}])["ConnectionArn"]
            for n in (1, 2)
        ]
        connections.get_connection(ConnectionArn=arns[0])
        page = connections.list_connections(MaxResults=1)
        connections.list_connections(MaxResults=1, NextToken=page["NextToken"])
        connections.list_connections(ProviderTypeFilter="GitHub")
        connections.tag_resource(ResourceArn=arns[0], Tags=[{"Key": "more", "Value": "1"}])
        connections.untag_resource(ResourceArn=arns[0], TagKeys=["more"])
        connections.list_tags_for_resource(ResourceArn=arns[0])
        for arn in arns:
            connections.delete_connection(ConnectionArn=arn)
        assert error(connections.get_connection,
                     ConnectionArn=arns[0]) == "ResourceNotFoundException"


def _approval_rollback_and_notifications(client: Callable[[str], Any], clock: Any,
                                         names: Any) -> None:
    """The pipeline reshaped: an approval before Deploy, and Deploy with an always-open
    deployment window, an alarm-watched bake and onFailure ROLLBACK; one execution
    approved, baked and rolled back to, under a notification rule."""
    cp, pipeline = client("codepipeline"), names.pipeline

    def error(call: Callable[..., Any], **kwargs: Any) -> str:
        with pytest.raises(ClientError) as excinfo:
            call(**kwargs)
        return excinfo.value.response["Error"]["Code"]

    topic = client("sns").create_topic(Name="tour")["TopicArn"]
    client("sns").subscribe(TopicArn=topic, Protocol="email", Endpoint="tour@example.com")
    client("sns").list_subscriptions_by_topic(TopicArn=topic)
    client("sns").list_subscriptions()
    notifications = client("codestar-notifications")
    rule_arn = notifications.create_notification_rule(
        Name="tour", Resource=names.pipeline_arn, DetailType="FULL",
        EventTypeIds=["codepipeline-pipeline-manual-approval-needed",
                      "codepipeline-pipeline-pipeline-execution-succeeded"],
        Targets=[{"TargetType": "SNS", "TargetAddress": topic}], Tags={"tour": "yes"})["Arn"]
    notifications.describe_notification_rule(Arn=rule_arn)
    notifications.list_notification_rules(
        Filters=[{"Name": "RESOURCE", "Value": names.pipeline_arn}])
    notifications.list_event_types()
    notifications.tag_resource(Arn=rule_arn, Tags={"more": "1"})
    notifications.untag_resource(Arn=rule_arn, TagKeys=["more"])
    notifications.list_tags_for_resource(Arn=rule_arn)

    client("cloudwatch").put_metric_alarm(
        AlarmName=ALARM, MetricName="HTTPCode_Target_5XX_Count", Namespace="AWS/ApplicationELB",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=5,
        ComparisonOperator="GreaterThanThreshold")

    def rule(name: str, provider: str, **configuration: str) -> dict:
        return {"name": name, "configuration": configuration,
                "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": provider,
                               "version": "1"}}

    declaration = cp.get_pipeline(name=pipeline)["pipeline"]
    *before, deploy = declaration["stages"]
    approve = {"name": "Approve", "actions": [{
        "name": "Approve", "runOrder": 1, "configuration": {"CustomData": "Ship it?"},
        "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual",
                         "version": "1"}}]}
    deploy = {
        **deploy,
        "onFailure": {"result": "ROLLBACK"},
        "beforeEntry": {"conditions": [{"result": "FAIL", "rules": [
            rule("Window", "DeploymentWindow", Cron="0 * * ? * * *", TimeZone="UTC")]}]},
        "onSuccess": {"conditions": [{"result": "ROLLBACK", "rules": [
            rule("Bake", "CloudWatchAlarm", AlarmName=ALARM, AlarmStates="ALARM",
                 WaitTime="1")]}]},
    }
    cp.update_pipeline(pipeline={**declaration, "stages": [*before, approve, deploy]})
    execution = cp.start_pipeline_execution(name=pipeline)["pipelineExecutionId"]

    def approval_token() -> str | None:
        state = cp.get_pipeline_state(name=pipeline)
        stage = next(s for s in state["stageStates"] if s["stageName"] == "Approve")
        return (stage["actionStates"][0].get("latestExecution") or {}).get("token")

    for _ in range(30):
        token = approval_token()
        if token:
            break
        clock.advance(1)
    assert token, "the execution never reached the approval"
    assert error(cp.put_approval_result, pipelineName=pipeline, stageName="Approve",
                 actionName="Approve", result={"summary": "no", "status": "Approved"},
                 token=MISSING_ID) == "InvalidApprovalTokenException"
    cp.put_approval_result(pipelineName=pipeline, stageName="Approve", actionName="Approve",
                           result={"summary": "ship it", "status": "Approved"}, token=token)
    clock.advance(20)
    cp.get_pipeline_state(name=pipeline)  # baking: the onSuccess condition in progress
    clock.advance(120)
    assert cp.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution)[
        "pipelineExecution"]["status"] == "Succeeded"
    cp.get_pipeline_state(name=pipeline)
    rollback = cp.rollback_stage(pipelineName=pipeline, stageName="Deploy",
                                 targetPipelineExecutionId=execution)["pipelineExecutionId"]
    assert error(cp.rollback_stage, pipelineName=pipeline, stageName="Source",
                 targetPipelineExecutionId=execution) == "UnableToRollbackStageException"
    clock.advance(120)
    cp.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=rollback)
    cp.list_pipeline_executions(pipelineName=pipeline, maxResults=3)
    cp.list_action_executions(pipelineName=pipeline, filter={"pipelineExecutionId": rollback})
    cp.get_pipeline_state(name=pipeline)

    notifications.update_notification_rule(Arn=rule_arn, Status="DISABLED")
    notifications.delete_notification_rule(Arn=rule_arn)
    assert error(notifications.describe_notification_rule,
                 Arn=rule_arn) == "ResourceNotFoundException"


def _error(call: Callable[..., Any], **kwargs: Any) -> str:
    with pytest.raises(ClientError) as excinfo:
        call(**kwargs)
    return str(excinfo.value.response["Error"]["Code"])


def _service_deployments(client: Callable[[str], Any], clock: Any) -> None:
    """The seed's blue/green service: a deployment paused, continued, stopped; the rolling
    service's deployments (from the story) listed and described."""
    ecs, name = client("ecs"), "demo-web-bluegreen"
    rolling = ecs.list_service_deployments(cluster="demo-cluster", service="demo-web-service",
                                           maxResults=1)
    ecs.list_service_deployments(cluster="demo-cluster", service="demo-web-service",
                                 nextToken=rolling["nextToken"], status=["SUCCESSFUL"])
    ecs.describe_service_deployments(serviceDeploymentArns=[
        d["serviceDeploymentArn"] for d in rolling["serviceDeployments"]])
    ecs.update_service(cluster=name, service=name, forceNewDeployment=True)
    clock.advance(4)  # paused at POST_TEST_TRAFFIC_SHIFT
    arn = ecs.describe_services(cluster=name, services=[name])["services"][0][
        "currentServiceDeployment"]
    missing = arn.rsplit("/", 1)[0] + "/missing"
    paused = ecs.describe_service_deployments(serviceDeploymentArns=[arn, missing])[
        "serviceDeployments"][0]
    revisions = [paused["targetServiceRevision"]["arn"],
                 *(r["arn"] for r in paused["sourceServiceRevisions"])]
    ecs.describe_service_revisions(serviceRevisionArns=[*revisions, missing])
    hook = paused["lifecycleHookDetails"][0]["hookId"]
    ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook, action="CONTINUE")
    assert _error(ecs.continue_service_deployment, serviceDeploymentArn=arn,
                  hookId=hook) == "InvalidParameterException"
    assert _error(ecs.continue_service_deployment, serviceDeploymentArn=missing,
                  hookId=hook) == "ServiceDeploymentNotFoundException"
    clock.advance(2)  # baking
    ecs.describe_services(cluster=name, services=[name])
    ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    clock.advance(1)
    ecs.describe_service_deployments(serviceDeploymentArns=[arn])
    assert _error(ecs.stop_service_deployment, serviceDeploymentArn=arn) == "ConflictException"
    ecs.list_service_deployments(cluster=name, service=name)


def _codedeploy(client: Callable[[str], Any], clock: Any) -> None:
    """The seed's CODE_DEPLOY service: a deployment through its termination wait, another
    stopped and rolled back; the group and the configurations read."""
    cd, ecs, name = client("codedeploy"), client("ecs"), "demo-web-codedeploy"
    cd.batch_get_applications(applicationNames=cd.list_applications()["applications"])
    cd.get_application(applicationName=name)
    groups = cd.list_deployment_groups(applicationName=name)["deploymentGroups"]
    cd.batch_get_deployment_groups(applicationName=name, deploymentGroupNames=[*groups, "nope"])
    cd.get_deployment_group(applicationName=name, deploymentGroupName=groups[0])
    cd.get_deployment_config(deploymentConfigName="CodeDeployDefault.ECSLinear10PercentEvery1Minutes")
    assert _error(cd.get_deployment_config, deploymentConfigName="Custom") == (
        "DeploymentConfigDoesNotExistException")
    current = ecs.describe_task_definition(taskDefinition=name)["taskDefinition"]
    keep = ("family", "containerDefinitions", "requiresCompatibilities", "networkMode", "cpu",
            "memory", "executionRoleArn", "taskRoleArn")

    def deploy() -> str:
        arn = ecs.register_task_definition(**{k: current[k] for k in keep if k in current})[
            "taskDefinition"]["taskDefinitionArn"]
        content = (f"version: 0.0\nResources:\n  - TargetService:\n      Type: "
                   f"AWS::ECS::Service\n      Properties:\n        TaskDefinition: {arn}\n"
                   "        LoadBalancerInfo:\n          ContainerName: web\n"
                   "          ContainerPort: 8080\n")
        return cd.create_deployment(applicationName=name, deploymentGroupName=groups[0],
                                    revision={"revisionType": "AppSpecContent",
                                              "appSpecContent": {"content": content}})[
            "deploymentId"]

    first = deploy()
    assert _error(cd.create_deployment, applicationName=name, deploymentGroupName=groups[0],
                  revision={"revisionType": "AppSpecContent", "appSpecContent": {
                      "content": "version: 0.0"}}) == "DeploymentLimitExceededException"
    targets = cd.list_deployment_targets(deploymentId=first)["targetIds"]
    cd.batch_get_deployment_targets(deploymentId=first, targetIds=targets)
    clock.advance(5)  # the termination wait
    cd.get_deployment(deploymentId=first)
    cd.batch_get_deployment_targets(deploymentId=first, targetIds=targets)
    ecs.describe_services(cluster=name, services=[name])
    cd.continue_deployment(deploymentId=first, deploymentWaitType="TERMINATION_WAIT")
    assert _error(cd.continue_deployment, deploymentId=first,
                  deploymentWaitType="READY_WAIT") == "DeploymentAlreadyCompletedException"
    second = deploy()
    clock.advance(1)
    cd.stop_deployment(deploymentId=second, autoRollbackEnabled=True)
    rollback = cd.get_deployment(deploymentId=second)["deploymentInfo"]["rollbackInfo"][
        "rollbackDeploymentId"]
    clock.advance(1)
    cd.batch_get_deployments(deploymentIds=[first, second, rollback])
    cd.batch_get_deployment_targets(deploymentId=rollback, targetIds=targets)
    cd.list_deployments(applicationName=name, deploymentGroupName=groups[0])
    cd.get_deployment_group(applicationName=name, deploymentGroupName=groups[0])
    assert _error(cd.get_deployment, deploymentId="d-MISSING00") == (
        "DeploymentDoesNotExistException")


def _check(recorder: Recorder) -> None:
    seen = recorder.operations()
    errors = {r.key for r in recorder.responses if r.status >= 300}
    by_operation = collections.Counter(r.key for r in recorder.responses)

    problems = [str(p) for p in validate_all(recorder.responses)]

    assert problems == [], "\n".join(problems)
    assert sorted(REQUIRED - seen) == [], "operations the story no longer exercises"
    assert sorted(REQUIRED_ERRORS - errors) == [], "error answers no longer exercised"
    assert sum(by_operation.values()) > 2 * len(REQUIRED)


def _recording(make: Callable[[str], Any], recorder: Recorder) -> Callable[[str], Any]:
    """A client factory whose clients (one per service) report to `recorder`."""
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = make(service)
            if service in RECORDED:
                clients[service].meta.events.register(Recorder.EVENT, recorder.hook)
        return clients[service]

    return client


def test_every_answer_in_mock_mode_conforms_to_the_model(
        seeded, sandbox, clock, aws, ecspipe, write_config):
    recorder = Recorder()
    path = _story_config(write_config)
    client = _recording(aws, recorder)

    def cli(*args: str) -> Any:
        return ecspipe(*args, obj={"client_hooks": [(Recorder.EVENT, recorder.hook)]})

    _story(cli, sandbox, path, lambda: _tour(client, clock, path))

    _check(recorder)


@pytest.fixture(scope="module")
def server_url():
    """One in-process sandbox server for the module (unseeded; each test seeds)."""
    from ecspipe.sandbox import server

    urls: list[str] = []
    ready = threading.Event()

    def on_ready(url: str) -> None:
        urls.append(url)
        ready.set()

    thread = threading.Thread(target=server.serve,
                              kwargs={"port": 0, "seed": False, "ready": on_ready})
    thread.start()
    try:
        assert ready.wait(STARTUP_TIMEOUT), "the sandbox server did not start"
        yield urls[0]
    finally:
        server.request_stop()
        thread.join(30)


@pytest.fixture
def server_sandbox(server_url, clock):
    """The module's server, reset and seeded, on the test's manual clock."""
    from moto.moto_api._internal.models import moto_api_backend

    from ecspipe.sandbox import settings
    from ecspipe.sandbox.seed import seed

    moto_api_backend.reset()
    settings.reset(clock=clock)
    seed(region="us-east-1", endpoint_url=server_url)
    yield settings.SETTINGS
    moto_api_backend.reset()
    settings.reset()


def test_every_answer_in_server_mode_conforms_to_the_model(
        server_url, server_sandbox, clock, aws, ecspipe, write_config):
    recorder = Recorder()
    path = _story_config(write_config)
    client = _recording(lambda service: aws(service, endpoint_url=server_url), recorder)

    def cli(*args: str) -> Any:
        return ecspipe(*args, "--endpoint-url", server_url,
                       obj={"client_hooks": [(Recorder.EVENT, recorder.hook)]})

    _story(cli, server_sandbox, path, lambda: _tour(client, clock, path))

    _check(recorder)
