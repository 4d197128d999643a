"""What the guide's Part 1 made by hand, created in a fresh sandbox.

An ECS service on Fargate that ecspipe can then give a pipeline: the IAM roles
of its task, an ECR repository holding one image, a cluster, a task definition
and the service. Names match config.example.yaml, so `ecspipe up -c
config.example.yaml` works against the sandbox as is.

A second environment stands beside it, as teams have one: a staging service in
a cluster of its own, running the same image from a task definition whose
container is named differently (`app`, where production's is `web`), for
config.environments.example.yaml (staging, then production after an approval).

Two more services show the deployment strategies that do not roll (issue 16),
each in a cluster of its own, behind an Application Load Balancer with a blue
and a green target group:

  demo-web-bluegreen   controller ECS, strategy BLUE_GREEN (bake 1 minute), a PAUSE
                       hook at POST_TEST_TRAFFIC_SHIFT (1440 minutes, then ROLLBACK);
                       production and test listener rules and the ECS infrastructure
                       role for load balancers in its advancedConfiguration
  demo-web-codedeploy  controller CODE_DEPLOY; CodeDeploy application and deployment
                       group `demo-web-codedeploy` (ECSAllAtOnce, production listener
                       :80, test listener :8080, termination wait 1 minute, automatic
                       rollback on failure and on a stop request)

`seed()` talks to AWS through boto3 only, so it works in mock mode (inside
`mock_aws`, endpoint_url None) and against a sandbox server (endpoint_url set)
alike. It always signs with fake credentials: pointed at real AWS by mistake,
every call fails instead of creating anything.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

CLUSTER = "demo-cluster"
SERVICE = "demo-web-service"
FAMILY = "demo-web"
CONTAINER = "web"
CONTAINER_PORT = 8080
REPOSITORY = "demo-app"
IMAGE_TAG = "20261101_120000-0a1b2c3"
EXECUTION_ROLE = "ecsTaskExecutionRole"
TASK_ROLE = "demo-web-task-role"
STAGING_CLUSTER = "demo-staging"
STAGING_SERVICE = "demo-web-staging"
STAGING_FAMILY = "demo-web-staging"
STAGING_CONTAINER = "app"
EXECUTION_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"

_FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

_ECS_TASKS_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)

_EXECUTION_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "ecr:GetAuthorizationToken",
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchGetImage",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                ],
                "Resource": "*",
            }
        ],
    }
)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_manifest() -> str:
    """A minimal valid Docker image manifest (schema 2) with one layer."""
    config = b'{"architecture":"amd64","os":"linux","config":{"ExposedPorts":{"8080/tcp":{}}}}'
    layer = b"ecspipe sandbox demo image layer"
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": _digest(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": _digest(layer),
                }
            ],
        },
        separators=(",", ":"),
    )


@functools.cache
def _session(region: str) -> Any:
    # One session per process and region: a new session reloads every service
    # model from disk (about 1 s for the six used here, most of it EC2's).
    import boto3

    return boto3.session.Session(region_name=region, **_FAKE_CREDENTIALS)


def seed(region: str = "us-east-1", endpoint_url: str | None = None) -> dict[str, Any]:
    """Create Part 1's resources in a fresh sandbox; return their names and ARNs."""
    session = _session(region)

    clients: dict[str, Any] = {}

    def client(name: str) -> Any:
        if name not in clients:  # a client costs ~20 ms to make; one per service
            clients[name] = session.client(name, endpoint_url=endpoint_url)
        return clients[name]

    account = client("sts").get_caller_identity()["Account"]

    iam = client("iam")
    execution_role = iam.create_role(
        RoleName=EXECUTION_ROLE,
        AssumeRolePolicyDocument=_ECS_TASKS_TRUST,
        Description="Lets ECS pull images and write logs for tasks",
    )["Role"]
    try:
        iam.attach_role_policy(RoleName=EXECUTION_ROLE, PolicyArn=EXECUTION_POLICY_ARN)
    except iam.exceptions.NoSuchEntityException:
        # moto loads AWS managed policies only when configured to
        # (iam.load_aws_managed_policies); inline the same permissions instead.
        iam.put_role_policy(
            RoleName=EXECUTION_ROLE,
            PolicyName="AmazonECSTaskExecutionRolePolicy",
            PolicyDocument=_EXECUTION_POLICY,
        )
    task_role = iam.create_role(
        RoleName=TASK_ROLE,
        AssumeRolePolicyDocument=_ECS_TASKS_TRUST,
        Description="Role of the demo-web application's containers",
    )["Role"]

    # As a person made it in Part 1: no ecspipe tags, mutable tags.
    ecr = client("ecr")
    repository = ecr.create_repository(repositoryName=REPOSITORY, imageTagMutability="MUTABLE")[
        "repository"
    ]
    image = ecr.put_image(
        repositoryName=REPOSITORY, imageManifest=image_manifest(), imageTag=IMAGE_TAG
    )["image"]
    image_uri = f"{account}.dkr.ecr.{region}.amazonaws.com/{REPOSITORY}:{IMAGE_TAG}"

    logs = client("logs")
    log_group = f"/ecs/{FAMILY}"
    logs.create_log_group(logGroupName=log_group)

    ecs = client("ecs")
    network, vpc = _network(client("ec2"))

    def service_in(cluster_name: str, service_name: str, family: str, container: str,
                   desired: int) -> dict[str, Any]:
        cluster = ecs.create_cluster(clusterName=cluster_name)["cluster"]
        task_definition = ecs.register_task_definition(
            family=family,
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            runtimePlatform={"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
            executionRoleArn=execution_role["Arn"],
            taskRoleArn=task_role["Arn"],
            containerDefinitions=[
                {
                    "name": container,
                    "image": image_uri,
                    "essential": True,
                    "portMappings": [{"containerPort": CONTAINER_PORT, "protocol": "tcp"}],
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {
                            "awslogs-group": log_group,
                            "awslogs-region": region,
                            "awslogs-stream-prefix": container,
                        },
                    },
                }
            ],
        )["taskDefinition"]
        service = ecs.create_service(
            cluster=cluster_name,
            serviceName=service_name,
            taskDefinition=task_definition["taskDefinitionArn"],
            desiredCount=desired,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": network},
            deploymentController={"type": "ECS"},
            deploymentConfiguration={
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                "maximumPercent": 200,
                "minimumHealthyPercent": 100,
            },
        )["service"]
        return {"cluster": cluster, "task_definition": task_definition, "service": service}

    production = service_in(CLUSTER, SERVICE, FAMILY, CONTAINER, desired=2)
    strategies = _strategy_services(client, account, region, network, vpc,
                                    execution_role["Arn"],
                                    task_role["Arn"], image_uri, log_group)
    staging = service_in(STAGING_CLUSTER, STAGING_SERVICE, STAGING_FAMILY, STAGING_CONTAINER,
                         desired=1)
    cluster, service = production["cluster"], production["service"]
    task_definition = production["task_definition"]

    return {
        "account_id": account,
        "region": region,
        "cluster": CLUSTER,
        "cluster_arn": cluster["clusterArn"],
        "service": SERVICE,
        "service_arn": service["serviceArn"],
        "task_family": FAMILY,
        "task_definition_arn": task_definition["taskDefinitionArn"],
        "container": CONTAINER,
        "container_port": CONTAINER_PORT,
        "repository": REPOSITORY,
        "repository_arn": repository["repositoryArn"],
        "repository_uri": repository["repositoryUri"],
        "image_tag": IMAGE_TAG,
        "image_digest": image["imageId"]["imageDigest"],
        "image_uri": image_uri,
        "execution_role_arn": execution_role["Arn"],
        "task_role_arn": task_role["Arn"],
        "log_group": log_group,
        "staging": {
            "cluster": STAGING_CLUSTER,
            "cluster_arn": staging["cluster"]["clusterArn"],
            "service": STAGING_SERVICE,
            "service_arn": staging["service"]["serviceArn"],
            "task_family": STAGING_FAMILY,
            "task_definition_arn": staging["task_definition"]["taskDefinitionArn"],
            "container": STAGING_CONTAINER,
        },
        **strategies,
    }


# --- the services that do not roll (issue 16) ----------------------------------------------

BLUEGREEN = "demo-web-bluegreen"  # cluster, service, task family, load balancer prefix
CODEDEPLOY = "demo-web-codedeploy"  # and the CodeDeploy application and deployment group
INFRASTRUCTURE_ROLE = "ecsInfrastructureRoleForLoadBalancers"
CODEDEPLOY_ROLE = "ecsCodeDeployRole"
LISTENER_PORTS = {"production": 80, "test": 8080}


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def _role(iam: Any, name: str, service: str, description: str) -> str:
    """A service role that trusts `service`. Its permissions (AWS's managed
    AmazonECSInfrastructureRolePolicyForLoadBalancers, AWSCodeDeployRoleForECS, which moto
    does not load) are left out: the sandbox evaluates no role's policies."""
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust(service),
                               Description=description)["Role"]["Arn"])


def _load_balancer(elbv2: Any, name: str, subnets: list[str], vpc: str,
                   rules: bool) -> dict[str, Any]:
    """An ALB with a blue and a green target group and a production and a test listener,
    each forwarding to blue; with `rules`, each listener has one rule weighing blue 100,
    green 0 (ECS blue/green names rules; CodeDeploy names the listeners)."""
    balancer = elbv2.create_load_balancer(Name=f"{name[:28]}-alb", Subnets=subnets,
                                          Type="application")["LoadBalancers"][0]
    groups = {colour: elbv2.create_target_group(
        Name=f"{name[:26]}-{colour}", Protocol="HTTP", Port=CONTAINER_PORT, VpcId=vpc,
        TargetType="ip", HealthCheckPath="/health")["TargetGroups"][0]["TargetGroupArn"]
        for colour in ("blue", "green")}
    forward = [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": groups["blue"], "Weight": 100},
        {"TargetGroupArn": groups["green"], "Weight": 0}]}}]
    out: dict[str, Any] = {"load_balancer_arn": balancer["LoadBalancerArn"],
                           "blue_target_group_arn": groups["blue"],
                           "green_target_group_arn": groups["green"]}
    for role, port in LISTENER_PORTS.items():
        listener = elbv2.create_listener(
            LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=port,
            DefaultActions=forward)["Listeners"][0]["ListenerArn"]
        out[f"{role}_listener_arn"] = listener
        if rules:
            out[f"{role}_rule_arn"] = elbv2.create_rule(
                ListenerArn=listener, Priority=1, Actions=forward,
                Conditions=[{"Field": "path-pattern", "Values": ["/*"]}])["Rules"][0]["RuleArn"]
    return out


def _strategy_services(client: Any, account: str, region: str, network: dict[str, Any],
                       vpc: str, execution_role: str, task_role: str, image_uri: str,
                       log_group: str) -> dict[str, Any]:
    """The ECS-native blue/green service and the CodeDeploy blue/green service."""
    iam, ecs, elbv2 = client("iam"), client("ecs"), client("elbv2")
    infrastructure = _role(iam, INFRASTRUCTURE_ROLE, "ecs.amazonaws.com",
                           "Lets ECS shift traffic between target groups for blue/green")
    deployer = _role(iam, CODEDEPLOY_ROLE, "codedeploy.amazonaws.com",
                     "Lets CodeDeploy run blue/green deployments of ECS services")

    def service(name: str, controller: str, load_balancer: dict[str, Any],
                configuration: dict[str, Any], advanced: dict[str, Any] | None) -> dict[str, Any]:
        ecs.create_cluster(clusterName=name)
        task_definition = ecs.register_task_definition(
            family=name, requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
            cpu="256", memory="512", executionRoleArn=execution_role, taskRoleArn=task_role,
            runtimePlatform={"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
            containerDefinitions=[{
                "name": CONTAINER, "image": image_uri, "essential": True,
                "portMappings": [{"containerPort": CONTAINER_PORT, "protocol": "tcp"}],
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": log_group, "awslogs-region": region,
                    "awslogs-stream-prefix": name}}}],
        )["taskDefinition"]
        balancer: dict[str, Any] = {"targetGroupArn": load_balancer["blue_target_group_arn"],
                                    "containerName": CONTAINER, "containerPort": CONTAINER_PORT}
        if advanced:
            balancer["advancedConfiguration"] = advanced
        created = ecs.create_service(
            cluster=name, serviceName=name, taskDefinition=task_definition["taskDefinitionArn"],
            desiredCount=2, launchType="FARGATE", loadBalancers=[balancer],
            networkConfiguration={"awsvpcConfiguration": network},
            deploymentController={"type": controller}, deploymentConfiguration=configuration,
        )["service"]
        return {"cluster": name, "cluster_arn": created["clusterArn"], "service": name,
                "service_arn": created["serviceArn"], "task_family": name,
                "task_definition_arn": task_definition["taskDefinitionArn"],
                "container": CONTAINER, "container_port": CONTAINER_PORT, **load_balancer}

    bluegreen_lb = _load_balancer(elbv2, BLUEGREEN, network["subnets"], vpc, rules=True)
    bluegreen = service(BLUEGREEN, "ECS", bluegreen_lb, {
        "strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "maximumPercent": 200, "minimumHealthyPercent": 100,
        "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
                            "timeoutConfiguration": {"timeoutInMinutes": 1440,
                                                     "action": "ROLLBACK"}}],
    }, {"alternateTargetGroupArn": bluegreen_lb["green_target_group_arn"],
        "productionListenerRule": bluegreen_lb["production_rule_arn"],
        "testListenerRule": bluegreen_lb["test_rule_arn"], "roleArn": infrastructure})
    bluegreen["infrastructure_role_arn"] = infrastructure

    codedeploy_lb = _load_balancer(elbv2, CODEDEPLOY, network["subnets"], vpc, rules=False)
    codedeploy_service = service(CODEDEPLOY, "CODE_DEPLOY", codedeploy_lb,
                                 {"maximumPercent": 200, "minimumHealthyPercent": 100}, None)
    codedeploy = client("codedeploy")
    codedeploy.create_application(applicationName=CODEDEPLOY, computePlatform="ECS")
    codedeploy.create_deployment_group(
        applicationName=CODEDEPLOY, deploymentGroupName=CODEDEPLOY, serviceRoleArn=deployer,
        deploymentConfigName="CodeDeployDefault.ECSAllAtOnce",
        ecsServices=[{"clusterName": CODEDEPLOY, "serviceName": CODEDEPLOY}],
        deploymentStyle={"deploymentType": "BLUE_GREEN",
                         "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        blueGreenDeploymentConfiguration={
            "terminateBlueInstancesOnDeploymentSuccess": {
                "action": "TERMINATE", "terminationWaitTimeInMinutes": 1},
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT",
                                      "waitTimeInMinutes": 0}},
        loadBalancerInfo={"targetGroupPairInfoList": [{
            "targetGroups": [{"name": f"{CODEDEPLOY[:26]}-blue"},
                             {"name": f"{CODEDEPLOY[:26]}-green"}],
            "prodTrafficRoute": {"listenerArns": [codedeploy_lb["production_listener_arn"]]},
            "testTrafficRoute": {"listenerArns": [codedeploy_lb["test_listener_arn"]]}}]},
        autoRollbackConfiguration={"enabled": True, "events": [
            "DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST"]},
    )
    codedeploy_service.update(application=CODEDEPLOY, deployment_group=CODEDEPLOY,
                              codedeploy_role_arn=deployer)
    return {"bluegreen": bluegreen, "codedeploy": codedeploy_service}


def _network(ec2: Any) -> tuple[dict[str, Any], str]:
    """Fargate with awsvpc needs subnets: use the default VPC's, as the console does.

    Returns the awsvpcConfiguration and the VPC (for the target groups)."""
    found = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])[
        "Subnets"][:2]
    subnets = [s["SubnetId"] for s in found]
    groups = [
        g["GroupId"]
        for g in ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": ["default"]}]
        )["SecurityGroups"]
    ][:1]
    network: dict[str, Any] = {"subnets": subnets, "assignPublicIp": "ENABLED"}
    if groups:
        network["securityGroups"] = groups
    return network, found[0]["VpcId"]
