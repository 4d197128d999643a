"""Round trips: `status` reads in two rounds, each `release --wait` refresh too.

A round is a set of requests sent at once. The test holds every request of a
round at a barrier (a botocore before-call hook) until all of them have been
sent: requests made one after another never meet there, and the barrier's
timeout fails the command. No sleeping: the barrier only waits for threads that
are already running.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "config.environments.example.yaml"


class Rounds:
    """A before-call hook: the operations of each round (a multiset) must arrive together."""

    def __init__(self, *rounds: list[str]) -> None:
        self.rounds = [Counter(r) for r in rounds]
        self.barriers = [threading.Barrier(sum(r.values()), timeout=20) for r in self.rounds]
        self.lock = threading.Lock()
        self.seen: list[Counter] = [Counter() for _ in rounds]
        self.broken: list[str] = []

    def hook(self, model, **_kwargs) -> None:
        with self.lock:
            index = next((i for i, r in enumerate(self.rounds)
                          if self.seen[i][model.name] < r[model.name]), None)
            if index is None:
                return
            self.seen[index][model.name] += 1
        try:
            self.barriers[index].wait()
        except threading.BrokenBarrierError:
            self.broken.append(model.name)
            raise


@pytest.fixture
def environments(seeded, tmp_path, ecspipe):
    text = EXAMPLE.read_text()
    head, rest = text.split("\nnotify:", 1)
    path = tmp_path / "environments.yaml"
    path.write_text(head + "\nimage:" + rest.split("\nimage:", 1)[1])
    assert ecspipe("up", "-c", str(path), "--wait-connection", "--timeout", "60").code == 0
    return str(path)


def test_status_makes_its_reads_in_two_rounds(environments, ecspipe, calls):
    rounds = Rounds(
        # The account, the pipeline, its state, the executions, the builds, and one
        # DescribeServices per cluster (staging and production have one each) at once;
        ["GetCallerIdentity", "GetPipeline", "GetPipelineState", "ListPipelineExecutions",
         "ListPipelineExecutions", "DescribeServices", "DescribeServices"],
        # then the connection (its ARN is in the pipeline) and the task definitions.
        ["GetConnection", "DescribeTaskDefinition", "DescribeTaskDefinition"],
    )
    calls.clear()
    result = ecspipe("status", "-c", environments, "-o", "json",
                     obj={"client_hooks": [("before-call.*.*", rounds.hook)]})
    assert result.code == 0, result
    assert rounds.broken == []
    assert Counter(calls.ops) == rounds.rounds[0] + rounds.rounds[1]


def test_each_refresh_of_release_wait_is_two_rounds_at_most(environments, ecspipe, calls):
    # Every refresh sends the execution, its actions and the pipeline's state at once
    # (and the services due for a check with them); a barrier reused per refresh.
    barrier = threading.Barrier(3, timeout=20)
    refresh = {"GetPipelineExecution", "ListActionExecutions", "GetPipelineState"}
    broken: list[str] = []

    def hook(model, **_kwargs) -> None:
        if model.name in refresh:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                broken.append(model.name)
                raise

    calls.clear()
    result = ecspipe("release", "-c", environments, "--wait", "--until", "staging",
                     obj={"client_hooks": [("before-call.*.*", hook)]})
    assert result.code == 0, result
    assert broken == []
    refreshes = calls.ops.count("GetPipelineExecution")
    assert refreshes >= 2
    assert calls.ops.count("ListActionExecutions") == calls.ops.count("GetPipelineState") \
        == refreshes
    # A service is read (DescribeServices, then its task definition) only once its
    # deploy stage succeeded: staging, verified in one refresh.
    assert calls.ops.count("DescribeServices") == calls.ops.count("DescribeTaskDefinition") == 1


def test_status_with_notifications_and_the_account_given_is_two_rounds(seeded, tmp_path,
                                                                        ecspipe, calls):
    """With account_id in the config the rule's listing (it needs the pipeline's ARN) and
    the topic's subscriptions start in the first round; describing the rule is the second."""
    path = tmp_path / "notify.yaml"
    path.write_text(EXAMPLE.read_text().replace("version: 1\n",
                                                'version: 1\naccount_id: "123456789012"\n', 1))
    assert ecspipe("up", "-c", str(path), "--wait-connection", "--timeout", "60").code == 0
    rounds = Rounds(
        ["GetCallerIdentity", "ListNotificationRules", "ListSubscriptionsByTopic",
         "GetPipeline", "GetPipelineState", "ListPipelineExecutions",
         "ListPipelineExecutions", "DescribeServices", "DescribeServices"],
        ["DescribeNotificationRule", "GetConnection", "DescribeTaskDefinition",
         "DescribeTaskDefinition"],
    )
    calls.clear()
    result = ecspipe("status", "-c", str(path), "-o", "json",
                     obj={"client_hooks": [("before-call.*.*", rounds.hook)]})
    assert result.code == 0, result
    assert rounds.broken == []
    assert Counter(calls.ops) == rounds.rounds[0] + rounds.rounds[1]
    assert result.json()["notifications"]["rule"]
