"""IAM propagation errors are retried with backoff; everything else fails fast."""

from __future__ import annotations

import random

import pytest
from botocore.exceptions import ClientError

from ecspipe.retry import Retrier, is_propagation_error


class FakeHttp:
    status_code = 400


def refuse(operation: str, code: str, message: str, times: int, seen: list[str]):
    """A before-call hook that makes `operation` fail `times` times, then pass through."""

    def hook(model, **_kwargs):
        if model.name != operation:
            return None
        seen.append(operation)
        if len(seen) > times:
            return None
        return FakeHttp(), {"Error": {"Code": code, "Message": message},
                            "ResponseMetadata": {"HTTPStatusCode": 400}}

    return hook


@pytest.mark.parametrize("operation,code,message", [
    ("CreateProject", "InvalidInputException",
     "CodeBuild is not authorized to perform: sts:AssumeRole on arn:aws:iam::1:role/x"),
    ("CreatePipeline", "InvalidStructureException",
     "CodePipeline is not authorized to perform AssumeRole on role arn:aws:iam::1:role/x"),
    ("PutRolePolicy", "ConcurrentModification", "Rate exceeded for role"),
    ("PutBucketPolicy", "OperationAborted",
     "A conflicting conditional operation is currently in progress against this resource."),
])
def test_propagation_errors_during_up_are_retried_to_success(
        seeded, ecspipe, write_config, sleeps, operation, code, message):
    seen: list[str] = []
    hook = refuse(operation, code, message, times=3, seen=seen)
    result = ecspipe("up", "-c", write_config(), "--serial",
                     obj={"client_hooks": [("before-call.*.*", hook)]})
    assert result.code == 0, result
    assert len(seen) >= 4, "three refusals, then the call that succeeded"
    assert len(sleeps) >= 3
    assert all(0 <= s <= 15 for s in sleeps)


def test_other_errors_are_not_retried(seeded, ecspipe, write_config, sleeps):
    seen: list[str] = []
    hook = refuse("CreateProject", "InvalidInputException", "Invalid compute type", 99, seen)
    result = ecspipe("up", "-c", write_config(), "--serial",
                     obj={"client_hooks": [("before-call.*.*", hook)]})
    assert result.code == 1, result
    assert seen == ["CreateProject"]
    assert sleeps == []
    assert "CreateProject failed (InvalidInputException): Invalid compute type" in result.err


def _error(operation: str, code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def test_the_retryable_set_is_exactly_the_documented_one():
    assert is_propagation_error(_error("UpdateProject", "InvalidInputException",
                                       "CodeBuild is not authorized to perform: sts:AssumeRole"))
    assert is_propagation_error(_error("UpdateAssumeRolePolicy", "MalformedPolicyDocument",
                                       "Invalid principal in policy: SERVICE"))
    assert not is_propagation_error(_error("CreateProject", "InvalidInputException", "bad name"))
    assert not is_propagation_error(_error("CreateRole", "MalformedPolicyDocument",
                                           "Invalid principal in policy"))
    assert not is_propagation_error(_error("CreatePipeline", "ValidationException",
                                           "not authorized"))
    assert not is_propagation_error(ValueError("not authorized"))


def test_retrying_gives_up_after_the_budget_with_the_last_error():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    retrier = Retrier(budget=120, sleep=sleep, clock=lambda: now[0], rng=random.Random(7))

    def always():
        raise _error("CreatePipeline", "InvalidStructureException", "not authorized")

    with pytest.raises(ClientError):
        retrier.call(always)
    assert 100 <= sum(slept) <= 120, "about two minutes of retrying, never more"
    assert max(slept) <= 15


def test_up_waits_out_the_sandboxs_iam_propagation_once_not_once_per_role(
        sandbox, seeded, ecspipe, write_config, calls, sleeps, clock):
    """Both roles are new; CodeBuild refuses its role until it is 8 s old (sandbox clock,
    advanced by the recorded sleeps). The pipeline role was made at the same time, so
    by the time the project exists it has propagated too: one wait for the two roles."""
    seeded_at = clock.now()
    sandbox.role_propagation = 8.0
    result = ecspipe("up", "-c", write_config())
    assert result.code == 0, result
    assert calls.ops.count("CreateRole") == 2
    assert calls.ops.count("CreateProject") >= 2, "refused while the role was new, retried"
    assert calls.ops.count("CreatePipeline") == 1, "its role had propagated meanwhile"
    assert clock.now() - seeded_at >= 8.0, "it waited for the role"
    assert sum(sleeps) == pytest.approx(clock.now() - seeded_at)
    assert clock.now() - seeded_at <= 8.0 + 1.1, "and retried within a poll of the moment"


def _fake_time():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    return now, slept, sleep


def test_a_role_not_yet_usable_is_polled_steadily_and_used_within_a_poll_of_the_moment():
    from ecspipe.retry import POLL

    now, slept, sleep = _fake_time()
    retrier = Retrier(sleep=sleep, clock=lambda: now[0], rng=random.Random(3))
    usable_at = 8.0

    def create_project():
        if now[0] < usable_at:
            raise _error("CreateProject", "InvalidInputException",
                         "CodeBuild is not authorized to perform: sts:AssumeRole on service role.")
        return "created"

    assert retrier.call(create_project) == "created"
    assert all(0.9 * POLL <= s <= 1.1 * POLL for s in slept), slept
    assert usable_at <= now[0] <= usable_at + 1.1 * POLL


def test_after_the_steady_phase_and_for_conflicts_it_backs_off_exponentially():
    from ecspipe.retry import STEADY_FOR

    now, slept, sleep = _fake_time()
    retrier = Retrier(sleep=sleep, clock=lambda: now[0], rng=random.Random(5))

    def never():
        raise _error("CreatePipeline", "InvalidStructureException",
                     "CodePipeline is not authorized to perform AssumeRole on role arn:x")

    with pytest.raises(ClientError):
        retrier.call(never)
    waited, steady = 0.0, []
    for s in slept:
        if waited < STEADY_FOR:
            steady.append(s)
        waited += s
    assert len(steady) >= 18 and all(0.9 <= s <= 1.1 for s in steady), \
        "about one call a second while roles usually propagate"
    assert len(slept) <= len(steady) + 20, "then few calls: backoff up to 15 s"
    assert max(slept) <= 15

    now, slept, sleep = _fake_time()
    retrier = Retrier(sleep=sleep, clock=lambda: now[0], rng=random.Random(5), budget=30)

    def conflict():
        raise _error("PutBucketPolicy", "OperationAborted", "A conflicting conditional operation")

    with pytest.raises(ClientError):
        retrier.call(conflict)
    assert all(s <= 2 ** (n + 1) for n, s in enumerate(slept, start=1)), slept
    assert len(slept) < 15, "contention backs off from the first retry"
