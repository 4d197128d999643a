"""`ecspipe export`: the template stands for exactly what `up` sends, lints clean, and a
pipeline made from it is what `plan` expects.

Three configs: config.example.yaml (the seed's repository is used as is, so it
is referred to, not declared), an ARM64 task definition with two containers and
build secrets, and config.environments.example.yaml (staging, an approval,
production, email notifications); and the last one with --parameterize.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore import xform_name
from cfn_template import KEY_ID, deploy, expected_requests

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROOT = Path(__file__).resolve().parents[2]
READS = ("Get", "Describe", "List", "BatchGet", "Head")

ARM_CONFIG = """\
version: 1
name: arm-app
region: us-east-1
source:
  repository: acme/arm-app
  branch: release/v2
service:
  cluster: demo-cluster
  name: arm-two
  container: web
build:
  compute_type: BUILD_GENERAL1_MEDIUM
  env:
    APP_ENV: production
    DB_PASSWORD:
      parameter_store: /arm-app/db-password
    API_TOKEN:
      secrets_manager: "arm-app/api-token:token::"
      kms_key: alias/arm-app-secrets
    SIGNING_KEY:
      secrets_manager: arn:aws:secretsmanager:us-east-1:123456789012:secret:arm-app/signing-AbCdEf
      kms_key: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
  test_commands: ["make test", "echo ${HOME:-none}"]
image:
  repository: arm-app
  keep: 50
tags:
  team: platform
"""


def _arm_service() -> None:
    """An ARM64 task definition with two containers and both roles, as a service."""
    iam = boto3.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        "Action": "sts:AssumeRole"}]})
    role = iam.create_role(RoleName="arm-task", Path="/app/",
                           AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    ecs = boto3.client("ecs", region_name=REGION)
    task = ecs.register_task_definition(
        family="arm-two", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
        cpu="512", memory="1024", taskRoleArn=role,
        executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole",
        runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        containerDefinitions=[{"name": n, "image": "nginx:1", "essential": n == "web"}
                              for n in ("web", "log-router")],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="demo-cluster", serviceName="arm-two", taskDefinition=task,
                       desiredCount=1, launchType="FARGATE")


CONFIGS = ["example", "arm", "environments", "environments-parameterized"]


def _config(kind: str, tmp_path: Path) -> tuple[str, list[str]]:
    """(config path, extra export flags) of each case; the sandbox made what it needs."""
    if kind == "example":
        return str(ROOT / "config.example.yaml"), []
    if kind == "arm":
        _arm_service()
        path = tmp_path / "arm.yaml"
        path.write_text(ARM_CONFIG)
        return str(path), []
    path = str(ROOT / "config.environments.example.yaml")
    return path, ["--parameterize"] if kind.endswith("parameterized") else []


def _export(ecspipe, config: str, flags: list[str], tmp_path: Path) -> tuple[dict, str]:
    out = tmp_path / f"template-{len(list(tmp_path.iterdir()))}.yaml"
    result = ecspipe("export", "-c", config, "-o", str(out), *flags)
    assert result.code == 0, result
    text = out.read_text()
    return yaml.safe_load(text), str(out)


class Requests:
    """Every request the CLI sends, with its parameters as the caller gave them."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict]] = []

    def hook(self, params: dict, model: Any, **_: Any) -> None:
        if not model.name.startswith(READS) and model.service_model.service_name != "sts":
            self.sent.append((model.service_model.service_name, xform_name(model.name),
                              copy.deepcopy(params)))


def _canonical(value: Any) -> Any:
    """Comparable: JSON texts (policies) parsed, keys sorted, ids of new keys blanked."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return _canonical(json.loads(value))
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: KEY_ID if k in ("KeyId", "TargetKeyId") else _canonical(v)
                for k, v in sorted(value.items()) if k != "ClientRequestToken"}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _normal(requests: list) -> list[str]:
    return sorted(json.dumps([s, op, _canonical(p)], sort_keys=True) for s, op, p in requests)


@pytest.mark.parametrize("kind", CONFIGS)
def test_the_template_stands_for_exactly_the_requests_up_sends(kind, seeded, ecspipe, tmp_path):
    config, flags = _config(kind, tmp_path)
    template, _ = _export(ecspipe, config, flags, tmp_path)
    calls = Requests()
    result = ecspipe("up", "-c", config, obj={"client_hooks": [
        ("before-parameter-build.*.*", calls.hook)]})
    assert result.code == 0, result
    sent = calls.sent
    connections = boto3.client("codeconnections").list_connections()["Connections"]
    [connection] = [c["ConnectionArn"] for c in connections
                    for _, op, params in sent if op == "create_connection"
                    and c["ConnectionName"] == params["ConnectionName"]]
    expected = expected_requests(template, ACCOUNT, REGION, connection)
    assert {op for _, op, _ in sent} >= {"create_pipeline", "create_project", "create_role"}
    assert _normal(expected) == _normal(sent)


@pytest.mark.parametrize("kind", ["arm", "environments"])
def test_a_pipeline_made_from_the_template_is_what_plan_expects(kind, seeded, ecspipe, tmp_path):
    """Acceptance: every resource created from the template's properties through the
    APIs (see cfn_template.py for why not moto's CloudFormation); `plan` changes nothing."""
    config, flags = _config(kind, tmp_path)
    template, _ = _export(ecspipe, config, flags, tmp_path)
    sent = deploy(template, ACCOUNT, REGION)
    assert len(sent) >= len(template["Resources"])
    result = ecspipe("plan", "-c", config, "-o", "json")
    assert result.code == 0, result
    actions = {(c["resource"], c["name"]): c["action"] for c in result.json()["changes"]}
    assert set(actions.values()) <= {"unchanged", "use"}, actions
    status = ecspipe("status", "-c", config, "-o", "json")  # found by its name too
    assert status.code == 0, status
    assert sum(a == "unchanged" for a in actions.values()) == len(
        [r for r in template["Resources"].values()
         if r["Type"] not in ("AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy",
                              "AWS::SNS::Subscription", "AWS::KMS::Alias")])


def _templates(ecspipe, tmp_path: Path) -> list[str]:
    paths = []
    for kind in CONFIGS:
        config, flags = _config(kind, tmp_path)
        paths.append(_export(ecspipe, config, flags, tmp_path)[1])
    return paths


def _checkov() -> str:
    found = os.environ.get("ECSPIPE_CHECKOV") or str(ROOT / ".venv-checkov" / "bin" / "checkov")
    if not os.access(found, os.X_OK):
        pytest.skip(f"checkov is not installed at {found}: `make checkov` installs it in "
                    ".venv-checkov (it pins boto3==1.35.49, so it cannot share ecspipe's venv)")
    return found


def test_cfn_lint_and_checkov_find_nothing_in_any_template(seeded, ecspipe, tmp_path):
    """cfn-lint: no error, warning or informational finding. checkov: no failed check, and
    only the suppressions export.SKIPS lists (each in the README). One test, so the four
    templates are made once; checkov, in a venv of its own, is skipped (after cfn-lint)
    only when it is not installed."""
    from cfnlint.api import ManualArgs, lint

    paths = _templates(ecspipe, tmp_path)
    for path in paths:
        matches = lint(Path(path).read_text(), config=ManualArgs(
            regions=[REGION], include_checks=["I"]))
        assert [str(m) for m in matches] == [], path
    checkov = _checkov()
    args = [checkov, "--framework", "cloudformation", "--skip-download", "-o", "json"]
    for path in paths:
        args += ["-f", path]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "BC_SKIP_MAPPING": "TRUE",
                               "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"})
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [(c["check_id"], c["resource"], c["file_path"]) for r in reports
              for c in r["results"]["failed_checks"]]
    assert failed == [], done.stdout[-3000:]
    skipped = {(c["check_id"], c["resource"].split(".")[-1]) for r in reports
               for c in r["results"]["skipped_checks"]}
    from ecspipe.export import SKIPS

    assert skipped <= {(check, logical) for logical, checks in SKIPS.items()
                       for check, _ in checks}
    assert sum(r["summary"]["passed"] for r in reports) > 0
    readme = (ROOT / "README.md").read_text()
    for logical, checks in SKIPS.items():
        for check, _ in checks:
            assert check in readme, f"README lists the suppression {check} ({logical})"
    assert done.returncode == 0, done.stderr[-2000:] + sys.executable


def test_export_prints_to_stdout_and_writes_nothing_to_aws(seeded, ecspipe, calls):
    result = ecspipe("export", "-c", str(ROOT / "config.example.yaml"))
    assert result.code == 0, result
    template = yaml.safe_load(result.out)
    assert template["Resources"]["Pipeline"]["Type"] == "AWS::CodePipeline::Pipeline"
    # The seed's repository is not ecspipe's: referred to, not declared, and said so.
    assert "Repository" not in template["Resources"]
    assert "ECR repository demo-app: exists and is not ecspipe's" in result.err
    assert calls.writes == []
    assert "ConnectionArn" in template["Outputs"]
    assert "PENDING" in template["Outputs"]["ConnectionArn"]["Description"]


def test_parameterize_refuses_a_branch_a_parameter_cannot_hold(seeded, ecspipe, write_config,
                                                              calls):
    config = write_config(("branch: main", "branch: 'feat/{a,b}'"))
    result = ecspipe("export", "-c", config, "--parameterize")
    assert result.code == 2, result
    assert "source.branch" in result.err and "glob" in result.err
    assert "Traceback" not in result.err
    assert calls.writes == []


def test_an_unwritable_output_is_a_user_error(seeded, ecspipe, tmp_path):
    result = ecspipe("export", "-c", str(ROOT / "config.example.yaml"),
                     "-o", str(tmp_path / "missing" / "t.yaml"))
    assert result.code == 2, result
    assert "cannot write the template" in result.err
