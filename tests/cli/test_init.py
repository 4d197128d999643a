"""`ecspipe init` against the sandbox in mock mode: flags, choices, refusals, the file written.

The world is the seed plus init_world's second cluster and two more services
(two clusters, three services), and a temporary git repository whose origin is
git@github.com:acme/demo-app.git. Without a terminal (as here) init asks
nothing: every choice that is not unique is exit 2 listing the candidates.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from init_world import add_services, aws, make_repo, register  # noqa: E402

ACCOUNT = "123456789012"


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    path = make_repo(tmp_path / "demo-app")
    monkeypatch.chdir(path)
    return path


@pytest.fixture
def world(seeded):
    return add_services(aws, seeded)


def written(path: str | Path = "ecspipe.yaml") -> dict:
    return yaml.safe_load(Path(path).read_text())


# --- the acceptance flow ------------------------------------------------------------------


def test_init_writes_a_config_that_validates_and_up_succeeds_with_it(world, repo, ecspipe,
                                                                      calls):
    result = ecspipe("init", "--cluster", "demo-cluster", "--service", "demo-web-service",
                     "--yes")

    assert result.code == 0, result
    assert result.out == ""  # data only with -o -; messages on stderr
    data = written()
    assert data["service"] == {"cluster": "demo-cluster", "name": "demo-web-service",
                               "container": "web"}
    assert data["source"] == {"repository": "acme/demo-app", "branch": "main",
                              "provider": "GitHub"}
    assert (data["name"], data["region"], data["account_id"]) == (
        "demo-web-service", "us-east-1", ACCOUNT)
    assert data["image"] == {"repository": "demo-app"}  # where the service's image comes from
    assert data["build"] == {"context": "."}
    assert (repo / "ecspipe.schema.json").read_text().startswith("{\n")
    assert Path("ecspipe.yaml").read_text().startswith(
        "# yaml-language-server: $schema=./ecspipe.schema.json\n")
    assert "ecspipe plan" in result.err and "ecspipe up --wait-connection" in result.err
    # Reads only, each request once, the two lists only where a choice is made.
    assert calls.writes == []
    assert sorted(calls.ops) == ["DescribeServices", "DescribeTaskDefinition",
                                 "GetCallerIdentity", "ListConnections"]

    assert ecspipe("validate").code == 0
    up = ecspipe("up")
    assert up.code == 0, up
    pipeline = aws("codepipeline").get_pipeline(name="demo-web-service")["pipeline"]
    assert pipeline["stages"][0]["actions"][0]["configuration"]["FullRepositoryId"] == \
        "acme/demo-app"


def test_without_service_and_without_a_terminal_exit_2_lists_the_services(world, repo,
                                                                          ecspipe):
    result = ecspipe("init", "--cluster", "demo-cluster")

    assert result.code == 2, result
    assert "2 ECS services in cluster demo-cluster" in result.err
    assert "  --service demo-web-service\n" in result.err
    assert "  --service demo-worker\n" in result.err
    assert "hint: pass --service" in result.err
    assert "Traceback" not in result.err
    assert not Path("ecspipe.yaml").exists()


def test_without_any_flag_exit_2_lists_every_service_of_every_cluster(world, repo, ecspipe):
    result = ecspipe("init")

    assert result.code == 2, result
    # The seed's blue/green services (issue 16) are in clusters of their own.
    assert "5 ECS services in 4 clusters of us-east-1" in result.err
    for flags in ("--cluster demo-cluster --service demo-web-service",
                  "--cluster demo-cluster --service demo-worker",
                  "--cluster demo-staging --service demo-web-staging",
                  "--cluster demo-web-bluegreen --service demo-web-bluegreen",
                  "--cluster demo-web-codedeploy --service demo-web-codedeploy"):
        assert f"  {flags}\n" in result.err
    assert "--cluster and --service" in result.err


def test_service_alone_finds_its_cluster(world, repo, ecspipe):
    result = ecspipe("init", "--service", "demo-web-staging", "--yes")

    assert result.code == 0, result
    assert written()["service"]["cluster"] == "demo-staging"
    assert "demo-staging/demo-web-staging" in result.err


def test_the_only_service_is_taken_and_said(seeded, repo, ecspipe):
    result = ecspipe("init", "--cluster", "demo-cluster", "--yes")

    assert result.code == 0, result
    assert "demo-cluster/demo-web-service: the only ACTIVE service in cluster demo-cluster" \
        in result.err


def test_a_missing_cluster_or_service_is_exit_2_naming_the_flag(world, repo, ecspipe):
    cluster = ecspipe("init", "--cluster", "nope", "--service", "x")
    service = ecspipe("init", "--cluster", "demo-cluster", "--service", "nope")

    assert cluster.code == service.code == 2
    assert "--cluster: ECS cluster 'nope' does not exist in us-east-1" in cluster.err
    assert "--service: no ACTIVE ECS service 'nope'" in service.err
    assert "  --service demo-worker" in service.err
    only = ecspipe("init", "--cluster", "nope")
    assert only.code == 2 and "ECS cluster 'nope' does not exist" in only.err


# --- the container, the task definition -------------------------------------------------


def test_the_essential_container_whose_image_is_in_ecr_is_taken(world, repo, ecspipe):
    result = ecspipe("init", "--cluster", "demo-cluster", "--service", "demo-worker", "--yes")

    assert result.code == 0, result
    data = written()
    assert data["service"]["container"] == "worker"
    assert "only essential container whose image is in ECR" in result.err
    assert "ARM64" in result.err
    assert "amazonlinux-aarch64" in Path("ecspipe.yaml").read_text()  # the commented default


@pytest.fixture
def two_app_containers(world):
    ecs = aws("ecs")
    image = world["image_uri"]
    arn = register(ecs, "demo-pair", [{"name": "api", "image": image},
                                      {"name": "admin", "image": image},
                                      {"name": "proxy", "image": "nginx:1.27"}])
    ecs.create_service(cluster="demo-cluster", serviceName="demo-pair", taskDefinition=arn,
                       desiredCount=1)


def test_several_candidate_containers_are_exit_2_listing_them(two_app_containers, repo,
                                                              ecspipe):
    result = ecspipe("init", "--cluster", "demo-cluster", "--service", "demo-pair")

    assert result.code == 2, result
    assert "has 3 containers" in result.err
    for name in ("api", "admin", "proxy"):
        assert f"  --container {name}  (image " in result.err
    assert "hint: pass --container NAME" in result.err


def test_container_picks_one_and_a_wrong_one_lists_the_real_ones(two_app_containers, repo,
                                                                 ecspipe):
    wrong = ecspipe("init", "--cluster", "demo-cluster", "--service", "demo-pair",
                    "--container", "nope")
    right = ecspipe("init", "--cluster", "demo-cluster", "--service", "demo-pair",
                    "--container", "admin", "--yes")

    assert wrong.code == 2
    assert "'nope' is not a container of task definition demo-pair:1 (its containers: api, " \
        "admin, proxy)" in wrong.err
    assert right.code == 0, right
    assert written()["service"]["container"] == "admin"


def test_a_code_deploy_service_is_written_with_a_warning(world, repo, ecspipe):
    ecs = aws("ecs")
    arn = register(ecs, "demo-bg", [{"name": "web", "image": world["image_uri"]}])
    ecs.create_service(cluster="demo-cluster", serviceName="demo-bg", taskDefinition=arn,
                       desiredCount=1, deploymentController={"type": "CODE_DEPLOY"})

    result = ecspipe("init", "--cluster", "demo-cluster", "--service", "demo-bg", "--yes")

    assert result.code == 0, result
    assert "deployment controller CODE_DEPLOY" in result.err
    assert "warning: demo-bg uses the CODE_DEPLOY deployment controller: the pipeline " \
        "deploys it with CodeDeployToECS" in result.err


def test_an_image_outside_ecr_leaves_the_repository_to_the_default(world, repo, ecspipe):
    ecs = aws("ecs")
    arn = register(ecs, "demo-nginx", [{"name": "web", "image": "nginx:1.27"}])
    ecs.create_service(cluster="demo-cluster", serviceName="demo-nginx", taskDefinition=arn,
                       desiredCount=1)

    result = ecspipe("init", "--cluster", "demo-cluster", "--service", "demo-nginx", "--yes")

    assert result.code == 0, result
    assert written()["image"] is None  # every key commented: the default, `name`
    assert "# repository: demo-nginx" in Path("ecspipe.yaml").read_text()


# --- the connection -----------------------------------------------------------------------


def _connection(name: str, available: bool, provider: str = "GitHub",
                made_for: str | None = None) -> str:
    from ecspipe.sandbox.connections import complete_handshake

    tags = [{"Key": "ecspipe:pipeline", "Value": made_for},
            {"Key": "managed-by", "Value": "ecspipe"}] if made_for else []
    arn = aws("codeconnections").create_connection(
        ConnectionName=name, ProviderType=provider, Tags=tags)["ConnectionArn"]
    if available:
        complete_handshake(arn)
    return arn


def test_the_only_available_connection_of_the_provider_is_reused(world, repo, ecspipe):
    _connection("pending-one", available=False)
    arn = _connection("team-github", available=True)
    _connection("team-bitbucket", available=True, provider="Bitbucket")

    result = ecspipe("init", "--cluster", "demo-cluster", "--service", "demo-web-service",
                     "--yes")

    assert result.code == 0, result
    assert written()["source"]["connection_arn"] == arn
    assert "reuse team-github (AVAILABLE): the only AVAILABLE GitHub connection" in result.err
    assert ecspipe("up").code == 0
    assert aws("codeconnections").list_connections(
        ProviderTypeFilter="GitHub")["Connections"].__len__() == 2  # none created


def test_two_available_connections_are_not_chosen_without_a_terminal(world, repo, ecspipe):
    _connection("a-github", available=True)
    _connection("b-github", available=True)

    result = ecspipe("init", "--cluster", "demo-cluster", "--service", "demo-web-service",
                     "--yes")

    assert result.code == 0, result
    assert "connection_arn" not in written()["source"]
    assert "2 AVAILABLE GitHub connections (a-github, b-github)" in result.err


def test_pending_connections_and_those_of_other_ecspipe_pipelines_are_not_reused(
        world, repo, ecspipe, calls):
    _connection("pending-one", available=False)
    _connection("other-app", available=True, made_for="other-app")  # its `down` deletes it
    others = ecspipe("init", "--cluster", "demo-cluster", "--service", "demo-web-service",
                     "--yes", "-o", "a.yaml")
    # the connection `up` makes for this pipeline name (it carries the region: connections
    # are account-wide)
    _connection("demo-web-service-us-east-1", available=True, made_for="demo-web-service")
    own = ecspipe("init", "--cluster", "demo-cluster", "--service", "demo-web-service",
                  "--yes", "-o", "b.yaml")

    assert others.code == own.code == 0
    assert "connection_arn" not in written("a.yaml")["source"]
    assert "other-app is not offered: ecspipe made it for pipeline other-app" in others.err
    assert "creates one named demo-web-service-us-east-1 " in others.err
    assert "connection_arn" not in written("b.yaml")["source"]
    assert "demo-web-service-us-east-1 exists, made by ecspipe for this pipeline name" in own.err
    assert calls.ops.count("ListTagsForResource") == 2 + 3  # the usable ones, each run


# --- the repository -----------------------------------------------------------------------


def test_without_a_remote_exit_2_names_repository_and_the_flag_works(world, tmp_path, ecspipe,
                                                                     monkeypatch):
    monkeypatch.chdir(make_repo(tmp_path / "bare", origin=None))
    args = ("init", "--cluster", "demo-cluster", "--service", "demo-web-service", "--yes")

    refused = ecspipe(*args)
    given = ecspipe(*args, "--repository", "acme/other", "--provider", "Bitbucket")

    assert refused.code == 2, refused
    assert "cannot tell the repository: the repository has no remote" in refused.err
    assert "--repository owner/repo" in refused.err
    assert given.code == 0, given
    assert written()["source"] == {"repository": "acme/other", "branch": "main",
                                   "provider": "Bitbucket"}


def test_outside_any_git_checkout_both_flags_are_needed(world, tmp_path, ecspipe, monkeypatch):
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    args = ("init", "--cluster", "demo-cluster", "--service", "demo-web-service", "--yes")

    refused = ecspipe(*args)
    given = ecspipe(*args, "--repository", "acme/app", "--branch", "release")

    assert refused.code == 2
    assert "not a git repository" in refused.err
    assert "--repository owner/repo and --branch NAME" in refused.err
    assert given.code == 0, given
    assert written()["source"]["branch"] == "release"


def test_a_gitlab_subgroup_origin_is_refused_with_the_reason(world, tmp_path, ecspipe,
                                                             monkeypatch):
    monkeypatch.chdir(make_repo(tmp_path / "sub", origin="git@gitlab.com:acme/team/app.git"))

    result = ecspipe("init", "--cluster", "demo-cluster", "--service", "demo-web-service",
                     "--yes")

    assert result.code == 2, result
    assert "GitLab subgroup" in result.err and "owner/repo" in result.err


def test_a_github_enterprise_origin_is_a_guess_that_needs_a_connection(world, tmp_path, ecspipe,
                                                                       monkeypatch):
    monkeypatch.chdir(make_repo(tmp_path / "ghe", origin="https://ghe.acme.internal/pf/api"))

    result = ecspipe("init", "--cluster", "demo-cluster", "--service", "demo-web-service",
                     "--yes")

    assert result.code == 0, result
    assert written()["source"]["provider"] == "GitHubEnterpriseServer"
    assert "guessed GitHub Enterprise Server; if it is not, pass --provider" in result.err
    assert "ecspipe cannot create the connection" in result.err
    assert "set source.connection_arn" in result.err


def test_a_dockerfile_in_one_subdirectory_sets_context_and_dockerfile(world, repo, ecspipe):
    (repo / "Dockerfile").unlink()
    (repo / "services" / "web").mkdir(parents=True)
    (repo / "services" / "web" / "Dockerfile").write_text("FROM nginx\n")

    result = ecspipe("init", "--cluster", "demo-cluster", "--service", "demo-web-service",
                     "--yes")

    assert result.code == 0, result
    assert written()["build"] == {"context": "services/web",
                                  "dockerfile": "services/web/Dockerfile"}


# --- files --------------------------------------------------------------------------------


def test_an_existing_config_is_never_overwritten_without_force(world, repo, ecspipe, calls):
    Path("ecspipe.yaml").write_text("# mine\n")
    args = ("init", "--cluster", "demo-cluster", "--service", "demo-web-service", "--yes")

    refused = ecspipe(*args)

    assert refused.code == 2
    assert "ecspipe.yaml exists; ecspipe init never overwrites a file without --force" in \
        refused.err
    assert Path("ecspipe.yaml").read_text() == "# mine\n"
    assert calls.ops == []  # refused before anything was read
    forced = ecspipe(*args, "--force")
    assert forced.code == 0, forced
    assert written()["name"] == "demo-web-service"


def test_dash_prints_the_config_to_stdout_and_writes_nothing(world, repo, ecspipe):
    result = ecspipe("init", "--cluster", "demo-cluster", "--service", "demo-web-service",
                     "--yes", "-o", "-")

    assert result.code == 0, result
    assert yaml.safe_load(result.out)["service"]["container"] == "web"
    assert "ecspipe schema > ecspipe.schema.json" in result.out
    first_step = result.err.split("next:\n", 1)[1].splitlines()[0].split()
    assert first_step[:5] == ["save", "it", "as", "ecspipe.yaml", "#"], result.err
    assert sorted(p.name for p in repo.iterdir()) == [".git", "Dockerfile"]


def test_another_output_file_is_named_in_the_next_commands(world, repo, ecspipe):
    os.mkdir("pipelines")
    result = ecspipe("init", "--cluster", "demo-cluster", "--service", "demo-web-service",
                     "--yes", "-o", "pipelines/web.yaml", "--name", "web-prod")

    assert result.code == 0, result
    assert written("pipelines/web.yaml")["name"] == "web-prod"
    assert Path("pipelines/ecspipe.schema.json").exists()
    assert "ecspipe plan -c pipelines/web.yaml" in result.err
    assert ecspipe("validate", "-c", "pipelines/web.yaml").code == 0


def test_bad_flags_are_exit_2_before_any_request(sandbox, repo, ecspipe, calls):
    name = ecspipe("init", "--name", "Web_Prod")
    branch = ecspipe("init", "--branch", "a..b")
    repository = ecspipe("init", "--repository", "https://github.com/acme/app.git")

    assert name.code == branch.code == repository.code == 2
    assert "--name 'Web_Prod': name " in name.err
    assert "--branch 'a..b': source.branch must not contain '..'" in branch.err
    assert "not a URL: 'acme/app'" in repository.err
    assert calls.ops == []


def test_no_region_anywhere_is_exit_2_asking_for_region(sandbox, repo, ecspipe, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    result = ecspipe("init")

    assert result.code == 2
    assert "no AWS region" in result.err and "pass --region" in result.err


# --- questions through the Asker (the CLI's prompts are tested in test_init_tty) --------


class Scripted:
    """An Asker answering from a list, recording the questions."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.questions: list[tuple[str, list[str]]] = []

    def choose(self, question, options, default=0):
        self.questions.append((question, list(options)))
        return self.answers.pop(0)

    def text(self, question, check, default=None):
        self.questions.append((question, []))
        for answer in self.answers.pop(0):
            if check(answer) is None:
                return answer
        raise AssertionError("no acceptable answer")


def _run(tmp_path, ask, **options):
    from ecspipe import init
    from ecspipe.app import App

    said: list[str] = []
    outcome = init.run(App(), init.Options(output=str(tmp_path / "out.yaml"), **options), ask,
                       said.append)
    return outcome, said


def test_an_asker_chooses_the_service_and_the_connection(world, repo, tmp_path):
    arn = _connection("team-github", available=True)
    ask = Scripted(1, 0)  # demo-cluster/demo-worker, then the connection

    outcome, _ = _run(tmp_path, ask)

    (service_q, services), (connection_q, connections) = ask.questions
    assert "Which ECS service" in service_q
    assert [s.split()[0] for s in services] == ["demo-cluster/demo-web-service",
                                                "demo-cluster/demo-worker",
                                                "demo-staging/demo-web-staging",
                                                "demo-web-bluegreen/demo-web-bluegreen",
                                                "demo-web-codedeploy/demo-web-codedeploy"]
    assert connections[0].startswith("team-github  AVAILABLE") and "none" in connections[1]
    assert (outcome.config.service.name, outcome.config.source.connection_arn) == (
        "demo-worker", arn)


def test_an_asker_is_asked_for_the_repository_when_git_has_none(world, tmp_path, monkeypatch):
    monkeypatch.chdir(make_repo(tmp_path / "bare", origin=None))
    ask = Scripted(["https://github.com/acme/x", "acme/x"], 2)  # a URL is refused, then Bitbucket

    outcome, said = _run(tmp_path, ask, cluster="demo-cluster", service="demo-web-service")

    assert [q for q, _ in ask.questions] == ["Repository (owner/repo)", "Where is it hosted?"]
    assert (outcome.config.source.repository, outcome.config.source.provider) == (
        "acme/x", "Bitbucket")


def test_an_asker_chooses_among_several_containers(two_app_containers, repo, tmp_path):
    ask = Scripted(1)

    outcome, _ = _run(tmp_path, ask, cluster="demo-cluster", service="demo-pair")

    assert ask.questions[0][1][1].startswith("admin  (image ")
    assert outcome.config.service.container == "admin"


# --- shell completion (click's own machinery) ------------------------------------------------


def _complete(monkeypatch, command, words: str) -> list[str]:
    from click.testing import CliRunner

    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {"_ECSPIPE_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    result = CliRunner().invoke(command, [], prog_name="ecspipe", env=env)
    return [line for line in result.output.splitlines() if line]


def test_completion_offers_commands_file_paths_and_choices(monkeypatch):
    from ecspipe.cli import cli

    assert _complete(monkeypatch, cli, "ecspipe in") == ["plain,init"]
    assert _complete(monkeypatch, cli, "ecspipe plan -c ") == ["file,"]
    assert _complete(monkeypatch, cli, "ecspipe init -o ") == ["file,"]
    assert _complete(monkeypatch, cli, "ecspipe init --provider Git") == [
        "plain,GitHub", "plain,GitHubEnterpriseServer", "plain,GitLab"]
    assert "plain,--repository" in _complete(monkeypatch, cli, "ecspipe init --re")


def test_environment_names_complete_from_the_config_given_by_c(tmp_path, monkeypatch):
    import click

    from ecspipe.cli import complete_environments

    @click.command()
    @click.option("-c", "--config", "config_paths", multiple=True, type=click.Path())
    @click.option("--env", shell_complete=complete_environments)
    def probe(config_paths, env):
        """A command with --env, as the environments issue will add."""

    config = tmp_path / "p.yaml"
    config.write_text("environments:\n  - name: staging\n  - name: prod\n  - name: preview\n"
                      "  - {other: 1}\n")
    monkeypatch.chdir(tmp_path)
    Path("ecspipe.yaml").write_text("environments: [{name: local}]\n")

    assert _complete(monkeypatch, probe, f"ecspipe -c {config} --env p") == [
        "plain,prod", "plain,preview"]
    assert _complete(monkeypatch, probe, "ecspipe --env ") == ["plain,local"]
    config.write_text(": not yaml [")
    assert _complete(monkeypatch, probe, f"ecspipe -c {config} --env ") == []
    assert _complete(monkeypatch, probe, "ecspipe -c missing.yaml --env ") == []


def test_help_does_not_import_init():
    lazy = ("ecspipe.init", "ecspipe.initfile", "ecspipe.gitinfo")
    code = ("import sys; from ecspipe.cli import run; run(['--help']); "
            f"print(sorted(m for m in sys.modules if m in {lazy!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
    assert "  init " in done.stdout.split("Commands:")[1].splitlines()[1]  # listed first


def test_approve_env_and_release_until_complete_environment_names(tmp_path, monkeypatch):
    from ecspipe.cli import cli

    config = tmp_path / "e.yaml"
    config.write_text("environments:\n  - name: staging\n  - name: production\n")
    assert _complete(monkeypatch, cli, f"ecspipe approve -c {config} --env pro") == [
        "plain,production"]
    assert _complete(monkeypatch, cli, f"ecspipe release -c {config} --until s") == [
        "plain,staging"]
