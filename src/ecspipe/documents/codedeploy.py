"""The files CodeDeployToECS deploys from: imageDetail.json, taskdef.json, appspec.yaml.

After "Amazon Elastic Container Service and CodeDeploy blue-green deploy action
reference" and "Tutorial: Create a pipeline with an Amazon ECR source and
ECS-to-CodeDeploy deployment" (CodePipeline User Guide):

- imageDetail.json: `{"ImageURI": "<image>"}`; "The name of the file must be
  imageDetail.json" ("Image definitions file reference"), so every CODE_DEPLOY
  environment reads the one file (the image is built once anyway).
- taskdef.json: a RegisterTaskDefinition request. It is the service's current task
  definition with every field kept except those DescribeTaskDefinition adds
  (ARN, revision, status, registration data, compatibilities, requiresAttributes):
  an allow-list of RegisterTaskDefinition's request members from botocore's model,
  so it follows the API; the image of the deployed container becomes the
  placeholder `<IMAGE1_NAME>`, which the action replaces with imageDetail.json's
  ImageURI (Image1ContainerName is the placeholder without angle brackets).
- appspec.yaml: version 0.0, one TargetService of Type AWS::ECS::Service whose
  TaskDefinition is the literal `<TASK_DEFINITION>` ("do not change the
  <TASK_DEFINITION> placeholder text. This value is updated when your pipeline
  runs") and whose LoadBalancerInfo names the container and port the load balancer
  sends traffic to (the service's loadBalancers[0]).

The build writes the two static files with printf, one single-quoted argument a
line (buildspec.static_file_command): no value is ever parsed by the shell.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Collection
from typing import Any

IMAGE_DETAIL = "imageDetail.json"
IMAGE_PLACEHOLDER = "IMAGE1_NAME"
TASK_DEFINITION_PLACEHOLDER = "<TASK_DEFINITION>"
# What DescribeTaskDefinition returns and RegisterTaskDefinition does not take (the
# difference of the two shapes in the ECS model); dropped even when no member list is
# given, so a read-only field never reaches RegisterTaskDefinition.
READ_ONLY = frozenset({"taskDefinitionArn", "revision", "status", "requiresAttributes",
                       "compatibilities", "registeredAt", "registeredBy", "deregisteredAt",
                       "deleteRequestedAt"})


def taskdef_file(env: str | None) -> str:
    return "taskdef.json" if env is None else f"taskdef-{env}.json"


def appspec_file(env: str | None) -> str:
    return "appspec.yaml" if env is None else f"appspec-{env}.yaml"


@functools.cache
def register_task_definition_members() -> frozenset[str]:
    """RegisterTaskDefinition's request members, from botocore's ECS model."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("ecs")
    return frozenset(model.operation_model("RegisterTaskDefinition").input_shape.members)


def taskdef_document(task_definition: dict[str, Any], container: str,
                     members: Collection[str] | None = None) -> dict[str, Any]:
    """The task definition as a RegisterTaskDefinition request, `container`'s image the
    placeholder; empty tags are left out (nothing to send)."""
    allowed = set(register_task_definition_members() if members is None else members)
    out = {k: copy.deepcopy(v) for k, v in task_definition.items()
           if k in allowed and k not in READ_ONLY}
    if not out.get("tags"):
        out.pop("tags", None)
    containers = out.get("containerDefinitions") or []
    chosen = [c for c in containers if c.get("name") == container]
    if len(chosen) != 1:
        raise ValueError(f"container {container!r} is not in the task definition")
    chosen[0]["image"] = f"<{IMAGE_PLACEHOLDER}>"
    return out


def taskdef_text(task_definition: dict[str, Any], container: str,
                 members: Collection[str] | None = None) -> str:
    return json.dumps(taskdef_document(task_definition, container, members), sort_keys=True,
                      separators=(",", ":"))


def appspec_document(container_name: str, container_port: int) -> dict[str, Any]:
    return {
        "version": 0.0,
        "Resources": [{"TargetService": {
            "Type": "AWS::ECS::Service",
            "Properties": {
                "TaskDefinition": TASK_DEFINITION_PLACEHOLDER,
                "LoadBalancerInfo": {"ContainerName": container_name,
                                     "ContainerPort": container_port},
            },
        }}],
    }


def appspec_text(container_name: str, container_port: int) -> str:
    """The AppSpec as YAML (`version: 0.0`, as AWS's examples write it)."""
    import yaml

    return yaml.safe_dump(appspec_document(container_name, container_port), sort_keys=False,
                          width=1000)
