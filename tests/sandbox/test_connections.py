"""Self-tests of the sandbox's CodeStar Connections / CodeConnections (mock mode).

moto has neither service; ecspipe.sandbox.connections adds both, sharing one
store. If a moto upgrade breaks the registration, these fail first.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from ecspipe.sandbox import connections

REGION = "us-east-1"


@pytest.fixture
def codestar(sandbox, aws):
    return aws("codestar-connections")


@pytest.fixture
def codeconn(sandbox, aws):
    return aws("codeconnections")


def _error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_a_connection_created_through_codestar_connections_has_a_codestar_arn(sandbox, codestar):
    arn = codestar.create_connection(ConnectionName="demo-app", ProviderType="GitHub")[
        "ConnectionArn"
    ]

    assert arn.startswith("arn:aws:codestar-connections:us-east-1:123456789012:connection/")


def test_a_connection_created_through_codeconnections_has_a_codeconnections_arn(sandbox, codeconn):
    arn = codeconn.create_connection(ConnectionName="demo-app", ProviderType="GitHub")[
        "ConnectionArn"
    ]

    assert arn.startswith("arn:aws:codeconnections:us-east-1:123456789012:connection/")


def test_a_connection_created_through_one_api_is_visible_through_the_other(
    sandbox, codestar, codeconn
):
    old = codestar.create_connection(ConnectionName="old-api", ProviderType="GitHub")
    new = codeconn.create_connection(ConnectionName="new-api", ProviderType="GitHub")

    seen_by_new = codeconn.get_connection(ConnectionArn=old["ConnectionArn"])
    seen_by_old = codestar.get_connection(ConnectionArn=new["ConnectionArn"])

    assert seen_by_new["Connection"]["ConnectionName"] == "old-api"
    assert seen_by_new["Connection"]["ConnectionArn"] == old["ConnectionArn"]
    assert seen_by_old["Connection"]["ConnectionName"] == "new-api"
    assert seen_by_old["Connection"]["ConnectionArn"] == new["ConnectionArn"]


def test_an_arn_with_the_other_service_prefix_finds_the_same_connection(
    sandbox, codestar, codeconn
):
    arn = codestar.create_connection(ConnectionName="demo-app", ProviderType="GitHub")[
        "ConnectionArn"
    ]
    other = arn.replace(":codestar-connections:", ":codeconnections:")

    found = codeconn.get_connection(ConnectionArn=other)["Connection"]

    assert found["ConnectionArn"] == arn


def test_get_connection_describes_name_provider_owner_and_status(sandbox, codestar):
    arn = codestar.create_connection(ConnectionName="demo-app", ProviderType="GitHub")[
        "ConnectionArn"
    ]

    found = codestar.get_connection(ConnectionArn=arn)["Connection"]

    assert found == {
        "ConnectionName": "demo-app",
        "ConnectionArn": arn,
        "ProviderType": "GitHub",
        "OwnerAccountId": "123456789012",
        "ConnectionStatus": "PENDING",
    }


def test_a_new_connection_stays_pending_until_the_handshake_delay_has_passed(
    sandbox, clock, codestar
):
    sandbox.handshake_delay = 3.0
    arn = codestar.create_connection(ConnectionName="demo-app", ProviderType="GitHub")[
        "ConnectionArn"
    ]

    clock.advance(2.9)
    before = codestar.get_connection(ConnectionArn=arn)["Connection"]["ConnectionStatus"]
    clock.advance(0.1)
    after = codestar.get_connection(ConnectionArn=arn)["Connection"]["ConnectionStatus"]

    assert (before, after) == ("PENDING", "AVAILABLE")


def test_with_manual_connections_a_connection_stays_pending_until_complete_handshake(
    sandbox, clock, codeconn
):
    sandbox.handshake_delay = None
    arn = codeconn.create_connection(ConnectionName="demo-app", ProviderType="GitHub")[
        "ConnectionArn"
    ]
    clock.advance(86_400)
    before = codeconn.get_connection(ConnectionArn=arn)["Connection"]

    connections.complete_handshake(arn)
    after = codeconn.get_connection(ConnectionArn=arn)["Connection"]

    assert before["ConnectionStatus"] == "PENDING"
    assert after["ConnectionStatus"] == "AVAILABLE"


def test_complete_handshake_of_an_unknown_connection_raises_key_error(sandbox):
    with pytest.raises(KeyError):
        connections.complete_handshake(
            "arn:aws:codeconnections:us-east-1:123456789012:connection/0000-missing"
        )


def test_get_status_reports_the_status_for_other_sandbox_modules(sandbox, clock, codestar):
    sandbox.handshake_delay = 1.0
    arn = codestar.create_connection(ConnectionName="demo-app", ProviderType="GitHub")[
        "ConnectionArn"
    ]

    pending = connections.get_status("123456789012", REGION, arn)
    clock.advance(1.0)
    available = connections.get_status("123456789012", REGION, arn)

    assert (pending, available) == ("PENDING", "AVAILABLE")


def test_get_status_of_an_unknown_or_foreign_connection_is_none(sandbox, codestar):
    arn = codestar.create_connection(ConnectionName="demo-app", ProviderType="GitHub")[
        "ConnectionArn"
    ]

    assert connections.get_status("123456789012", REGION, arn + "x") is None
    assert connections.get_status("123456789012", "eu-west-1", arn) is None
    assert connections.get_status("123456789012", REGION, "not-an-arn") is None


@pytest.mark.parametrize("api", ["codestar-connections", "codeconnections"])
def test_getting_an_unknown_connection_raises_resource_not_found(sandbox, aws, api):
    missing = "arn:aws:codestar-connections:us-east-1:123456789012:connection/0000-missing"

    with pytest.raises(ClientError) as excinfo:
        aws(api).get_connection(ConnectionArn=missing)

    assert _error_code(excinfo) == "ResourceNotFoundException"


def test_codeconnections_answers_resource_not_found_with_http_404_as_its_model_says(
    sandbox, codeconn
):
    missing = "arn:aws:codeconnections:us-east-1:123456789012:connection/0000-missing"

    with pytest.raises(ClientError) as excinfo:
        codeconn.get_connection(ConnectionArn=missing)

    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_second_connection_with_the_same_name_is_refused_even_through_the_other_api(
    sandbox, codestar, codeconn
):
    codestar.create_connection(ConnectionName="demo-app", ProviderType="GitHub")

    with pytest.raises(ClientError) as excinfo:
        codeconn.create_connection(ConnectionName="demo-app", ProviderType="GitHub")

    assert _error_code(excinfo) == "ResourceAlreadyExistsException"
    assert len(codestar.list_connections()["Connections"]) == 1


def test_a_connection_name_longer_than_32_characters_is_refused(sandbox, codestar):
    with pytest.raises(ClientError) as excinfo:
        codestar.create_connection(ConnectionName="x" * 33, ProviderType="GitHub")

    assert _error_code(excinfo) == "ValidationException"
    assert codestar.list_connections()["Connections"] == []


def test_a_connection_without_provider_type_or_host_is_refused(sandbox, codestar):
    with pytest.raises(ClientError) as excinfo:
        codestar.create_connection(ConnectionName="demo-app")

    assert _error_code(excinfo) == "InvalidInputException"


def test_list_connections_filters_by_provider_type(sandbox, codestar, codeconn):
    codestar.create_connection(ConnectionName="gh", ProviderType="GitHub")
    codestar.create_connection(ConnectionName="bb", ProviderType="Bitbucket")

    listed = codeconn.list_connections(ProviderTypeFilter="Bitbucket")["Connections"]

    assert [c["ConnectionName"] for c in listed] == ["bb"]


def test_list_connections_filters_by_host_arn(sandbox, codestar):
    host = "arn:aws:codestar-connections:us-east-1:123456789012:host/ghes-1234"
    codestar.create_connection(ConnectionName="ghes", HostArn=host)
    codestar.create_connection(ConnectionName="gh", ProviderType="GitHub")

    listed = codestar.list_connections(HostArnFilter=host)["Connections"]

    assert [c["ConnectionName"] for c in listed] == ["ghes"]
    assert listed[0]["HostArn"] == host


def test_list_connections_pages_with_max_results_and_next_token(sandbox, codestar, codeconn):
    for i in range(5):
        codestar.create_connection(ConnectionName=f"conn-{i}", ProviderType="GitHub")

    names, token, pages = [], None, 0
    while True:
        kwargs = {"MaxResults": 2, **({"NextToken": token} if token else {})}
        page = codeconn.list_connections(**kwargs)
        names += [c["ConnectionName"] for c in page["Connections"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break

    assert names == [f"conn-{i}" for i in range(5)]
    assert pages == 3


def test_a_deleted_connection_is_gone_from_both_apis(sandbox, codestar, codeconn):
    arn = codeconn.create_connection(ConnectionName="demo-app", ProviderType="GitHub")[
        "ConnectionArn"
    ]

    codestar.delete_connection(ConnectionArn=arn)

    with pytest.raises(ClientError) as excinfo:
        codeconn.get_connection(ConnectionArn=arn)
    assert _error_code(excinfo) == "ResourceNotFoundException"
    assert codestar.list_connections()["Connections"] == []


def test_deleting_an_unknown_connection_raises_resource_not_found(sandbox, codestar):
    with pytest.raises(ClientError) as excinfo:
        codestar.delete_connection(
            ConnectionArn="arn:aws:codestar-connections:us-east-1:123456789012:connection/0000"
        )

    assert _error_code(excinfo) == "ResourceNotFoundException"


def test_tags_given_at_creation_are_returned_and_listed(sandbox, codestar, codeconn):
    tags = [{"Key": "team", "Value": "platform"}, {"Key": "ecspipe:name", "Value": "demo-app"}]

    created = codestar.create_connection(
        ConnectionName="demo-app", ProviderType="GitHub", Tags=tags
    )
    listed = codeconn.list_tags_for_resource(ResourceArn=created["ConnectionArn"])

    assert created["Tags"] == tags
    assert listed["Tags"] == tags


def test_tag_resource_adds_and_overwrites_and_untag_resource_removes(sandbox, codestar, codeconn):
    arn = codestar.create_connection(
        ConnectionName="demo-app",
        ProviderType="GitHub",
        Tags=[{"Key": "team", "Value": "platform"}, {"Key": "old", "Value": "1"}],
    )["ConnectionArn"]

    codeconn.tag_resource(
        ResourceArn=arn, Tags=[{"Key": "team", "Value": "web"}, {"Key": "env", "Value": "prod"}]
    )
    codestar.untag_resource(ResourceArn=arn, TagKeys=["old"])
    tags = codestar.list_tags_for_resource(ResourceArn=arn)["Tags"]

    assert {t["Key"]: t["Value"] for t in tags} == {"team": "web", "env": "prod"}


def test_tagging_an_unknown_connection_raises_resource_not_found(sandbox, codeconn):
    missing = "arn:aws:codeconnections:us-east-1:123456789012:connection/0000-missing"

    with pytest.raises(ClientError) as excinfo:
        codeconn.tag_resource(ResourceArn=missing, Tags=[{"Key": "a", "Value": "b"}])

    assert _error_code(excinfo) == "ResourceNotFoundException"


def test_connections_are_per_region(sandbox, aws, codestar):
    codestar.create_connection(ConnectionName="demo-app", ProviderType="GitHub")

    elsewhere = aws("codestar-connections", region_name="eu-west-1").list_connections()

    assert elsewhere["Connections"] == []


def test_moto_reset_wipes_every_connection(clock, aws):
    from moto import mock_aws

    from ecspipe import sandbox as sb
    from ecspipe.sandbox import settings

    sb.install()
    settings.reset(clock=clock)
    codestar = aws("codestar-connections")
    try:
        with mock_aws():
            codestar.create_connection(ConnectionName="demo-app", ProviderType="GitHub")
            assert len(codestar.list_connections()["Connections"]) == 1
        with mock_aws():
            assert codestar.list_connections()["Connections"] == []
    finally:
        settings.reset()
