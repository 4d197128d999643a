"""modelcache: compact botocore models must change nothing but their size."""

from __future__ import annotations

import json

import botocore.session
import pytest

from ecspipe import modelcache

# Every service ecspipe makes a client for (aws.Aws.client callers).
SERVICES = ("sts", "ecs", "ecr", "s3", "logs", "iam", "codebuild", "codepipeline",
            "codeconnections", "codestar-connections")
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1", "us-gov-west-1")


def session(cache: str | None, monkeypatch: pytest.MonkeyPatch) -> botocore.session.Session:
    monkeypatch.setenv("ECSPIPE_CACHE_DIR", cache or "off")
    s = botocore.session.Session()
    modelcache.install(s)
    return s


def test_documentation_strings_go_and_a_member_called_documentation_stays():
    model = {
        "documentation": "<p>About the service</p>",
        "shapes": {
            "Api": {"type": "structure", "documentation": "an API",
                    "members": {"documentation": {"shape": "String",
                                                 "documentation": "the API's docs"},
                                "documentationUrl": {"shape": "String"}}},
        },
        "rules": [{"documentation": "a rule", "conditions": []}],
    }
    assert modelcache.strip_docs(model) == {
        "shapes": {"Api": {"type": "structure",
                           "members": {"documentation": {"shape": "String"},
                                       "documentationUrl": {"shape": "String"}}}},
        "rules": [{"conditions": []}],
    }


@pytest.mark.parametrize("service", SERVICES)
def test_a_cached_model_is_botocores_model_without_documentation(service, tmp_path,
                                                                  monkeypatch):
    stock = session(None, monkeypatch).get_component("data_loader")
    writes = session(str(tmp_path), monkeypatch).get_component("data_loader")
    reads = session(str(tmp_path), monkeypatch).get_component("data_loader")
    for kind in ("service-2", "endpoint-rule-set-1"):
        expected = modelcache.strip_docs(stock.load_service_model(service, kind))
        assert writes.load_service_model(service, kind) == expected  # first run
        assert reads.load_service_model(service, kind) == expected  # from the cache
    prefix = stock.load_service_model(service, "service-2")["metadata"]["endpointPrefix"]
    assert prefix in modelcache.ENDPOINT_PREFIXES
    version = stock.determine_latest_version(service, "service-2")
    root = modelcache.cache_root()
    assert root is not None and str(root).startswith(str(tmp_path))
    cached = root / service / version / "service-2.json"
    assert len(cached.read_bytes()) < 0.6 * len(json.dumps(
        stock.load_service_model(service, "service-2")))


def test_clients_from_the_cache_resolve_the_same_endpoints_in_every_partition(tmp_path,
                                                                             monkeypatch):
    warm = session(str(tmp_path), monkeypatch)
    for service in SERVICES:
        warm.get_service_model(service)
    stock, cached = session(None, monkeypatch), session(str(tmp_path), monkeypatch)
    for service in SERVICES:
        for region in REGIONS:
            a = stock.create_client(service, region_name=region, aws_access_key_id="a",
                                    aws_secret_access_key="b")
            b = cached.create_client(service, region_name=region, aws_access_key_id="a",
                                     aws_secret_access_key="b")
            assert (b.meta.endpoint_url, b.meta.region_name) == \
                (a.meta.endpoint_url, a.meta.region_name), (service, region)
            assert b.meta.method_to_api_mapping == a.meta.method_to_api_mapping


def test_a_damaged_cache_file_is_rewritten(tmp_path, monkeypatch):
    session(str(tmp_path), monkeypatch).get_service_model("sts")
    root = modelcache.cache_root()
    assert root is not None
    [damaged] = root.glob("sts/*/service-2.json")
    damaged.write_text('{"metadata": ')  # cut short, e.g. a full disk
    model = session(str(tmp_path), monkeypatch).get_service_model("sts")
    assert "GetCallerIdentity" in model.operation_names
    assert json.loads(damaged.read_text())["metadata"]["endpointPrefix"] == "sts"


def test_an_unwritable_cache_falls_back_to_botocores_files(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    model = session(str(blocked), monkeypatch).get_service_model("ecs")
    assert "DescribeServices" in model.operation_names
    assert blocked.read_text() == "not a directory"


def test_off_disables_the_cache(monkeypatch):
    from botocore.loaders import JSONFileLoader

    loader = session(None, monkeypatch).get_component("data_loader")
    assert modelcache.cache_root() is None
    assert type(loader.file_loader) is JSONFileLoader


CALLS = {  # one request per service, through clients made from the cache
    "sts": lambda c: c.get_caller_identity(),
    "ecs": lambda c: c.list_clusters(),
    "ecr": lambda c: c.describe_repositories(),
    "s3": lambda c: c.list_buckets(),
    "logs": lambda c: c.describe_log_groups(),
    "iam": lambda c: c.list_roles(),
    "codebuild": lambda c: c.list_projects(),
    "codepipeline": lambda c: c.list_pipelines(),
    "codeconnections": lambda c: c.list_connections(),
    "codestar-connections": lambda c: c.list_connections(),
}


def test_requests_through_cached_models_work_for_every_service(tmp_path, monkeypatch, sandbox):
    """Endpoint resolution at call time reads more of the model than client creation
    (S3's clientContextParams, for one): make a real request with each service."""
    session(str(tmp_path), monkeypatch)  # fill the cache
    stock, cached = session(None, monkeypatch), session(str(tmp_path), monkeypatch)
    assert set(CALLS) == set(SERVICES)
    for service, call in CALLS.items():
        client = cached.create_client(service, region_name="us-east-1",
                                      aws_access_key_id="a", aws_secret_access_key="b")
        original = stock.get_service_model(service)
        assert client.meta.service_model.client_context_parameters == \
            original.client_context_parameters
        response = call(client)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200, service


# --- a cache only this user can write, or none ------------------------------------------


def _tree(path) -> dict[str, int]:
    """Every entry under `path` with its mode (lstat: symlinks as themselves)."""
    import os

    return {str(p.relative_to(path)): os.lstat(p).st_mode for p in sorted(path.rglob("*"))}


def _stock_loader(s: botocore.session.Session) -> bool:
    from botocore.loaders import JSONFileLoader

    return type(s.get_component("data_loader").file_loader) is JSONFileLoader


def test_the_cache_is_created_0700_and_its_files_0600(tmp_path, monkeypatch):
    import stat

    base = tmp_path / "deep" / "cache"
    session(str(base), monkeypatch).get_service_model("sts")

    modes = {name: stat.S_IMODE(mode) for name, mode in _tree(tmp_path).items()}
    files = [name for name in modes if name.endswith(".json")]
    assert files and all(modes[name] == 0o600 for name in files)
    assert all(mode == 0o700 for name, mode in modes.items() if name not in files)


def test_a_symlinked_cache_directory_is_ignored_and_never_written(tmp_path, monkeypatch):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)

    s = session(str(tmp_path / "link"), monkeypatch)
    model = s.get_service_model("ecs")

    assert "DescribeServices" in model.operation_names
    assert _stock_loader(s)
    assert _tree(real) == {}


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o1777])
def test_a_cache_directory_others_can_write_is_ignored_and_never_written(tmp_path, monkeypatch,
                                                                         mode):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)

    s = session(str(shared), monkeypatch)
    s.get_service_model("sts")

    assert _stock_loader(s)
    assert _tree(shared) == {}


def test_a_cache_directory_of_another_user_is_ignored_and_never_written(tmp_path, monkeypatch):
    import os

    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    try:
        os.chown(theirs, 12345, -1)  # as root: really another user's
    except PermissionError:  # not root: the cache sees itself as someone else
        monkeypatch.setattr(modelcache, "_uid", lambda: os.getuid() + 1)

    s = session(str(theirs), monkeypatch)
    s.get_service_model("sts")

    assert _stock_loader(s)
    assert _tree(theirs) == {}


def test_a_symlink_planted_where_a_model_goes_is_not_read_nor_written_through(tmp_path,
                                                                              monkeypatch):
    session(str(tmp_path / "cache"), monkeypatch).get_service_model("sts")
    root = modelcache.cache_root()
    assert root is not None
    [model_file] = root.glob("sts/*/service-2.json")
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({"metadata": {"endpointPrefix": "sts"}, "operations": {
        "Exfiltrate": {"name": "Exfiltrate", "http": {"method": "POST", "requestUri": "/"}}},
        "shapes": {}, "version": "2.0"}))
    before = forged.read_text()
    model_file.unlink()
    model_file.symlink_to(forged)

    model = session(str(tmp_path / "cache"), monkeypatch).get_service_model("sts")

    assert "Exfiltrate" not in model.operation_names
    assert "GetCallerIdentity" in model.operation_names
    assert not model_file.is_symlink(), "replaced by a regular file of the cache"
    assert forged.read_text() == before


def test_a_symlinked_directory_inside_the_cache_is_not_read_nor_written_through(tmp_path,
                                                                                monkeypatch):
    session(str(tmp_path / "cache"), monkeypatch)  # creates the cache's root
    root = modelcache.cache_root()
    assert root is not None
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (root / "ecs").symlink_to(elsewhere)

    model = session(str(tmp_path / "cache"), monkeypatch).get_service_model("ecs")

    assert "DescribeServices" in model.operation_names
    assert _tree(elsewhere) == {}
