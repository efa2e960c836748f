"""Configuration loading: every problem reported at once, each with its key path."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from as2sync.config import Config, find_config, load_config, parse_config
from as2sync.config.loader import DEFAULT_PATH
from as2sync.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def minimal(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    (tmp_path / "root").mkdir(exist_ok=True)
    raw: dict[str, Any] = {
        "gateway": {"username": "me@example.com", "password": "s3cret-pw"},
        "state_dir": str(tmp_path / "state"),
        "folders": {"root": str(tmp_path / "root")},
    }
    for key, value in overrides.items():
        section, _, sub = key.partition("__")
        if sub:
            raw.setdefault(section, {})[sub] = value
        else:
            raw[section] = value
    return raw


def problems(raw: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, env or {})
    return {p.path: p.message for p in info.value.problems}


def test_minimal_config_gets_documented_defaults(tmp_path: Path) -> None:
    config = parse_config(minimal(tmp_path), {})
    assert config.gateway.url == "https://api.as2gateway.com/v1"
    assert config.gateway.rate_limit.requests == 50
    assert config.gateway.rate_limit.per_seconds == 10
    assert config.outbound.settle_seconds == 2
    assert config.inbound.poll_seconds == 30
    assert config.outbound.duplicate_window == 6 * 3600
    assert config.password() == "s3cret-pw"


def test_durations_accept_fractions(tmp_path: Path) -> None:
    config = parse_config(
        minimal(tmp_path, outbound__settle_seconds=0.5, inbound__poll_seconds=1), {}
    )
    assert config.outbound.settle_seconds == 0.5
    assert config.inbound.poll_seconds == 1.0


def test_every_problem_is_reported_at_once_with_its_key_path(tmp_path: Path) -> None:
    raw = {
        "gateway": {"username": "me", "password": "${MISSING_VAR}", "colour": "blue"},
        "folders": {"root": str(tmp_path / "nope")},
        "outbound": {"settle_seconds": -1, "in_doubt": "maybe"},
        "inbound": {"layout": "zigzag"},
    }
    found = problems(raw)
    assert "environment variable MISSING_VAR is not set" in found["gateway.password"]
    assert "unknown key" in found["gateway.colour"]
    assert "greater than or equal to 0" in found["outbound.settle_seconds"]
    assert "outbound.in_doubt" in found
    assert "inbound.layout" in found
    assert "does not exist" in found["folders.root"]


def test_missing_required_keys_are_named(tmp_path: Path) -> None:
    found = problems({"gateway": {}})
    assert found["gateway.username"] == "is required"
    assert found["folders"] == "is required"


def test_env_interpolation_takes_value_from_environment(tmp_path: Path) -> None:
    raw = minimal(tmp_path, gateway={"username": "u", "password": "${PW}"})
    config = parse_config(raw, {"PW": "from-env"})
    assert config.password() == "from-env"


def test_password_file_first_line_is_the_password(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("file-secret\nignored\n")
    config = parse_config(
        minimal(tmp_path, gateway={"username": "u", "password_file": str(secret)}), {}
    )
    assert config.password() == "file-secret"


def test_password_file_relative_to_config_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("rel-secret\n")
    raw = minimal(tmp_path, gateway={"username": "u", "password_file": "pw"})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert load_config(path, {}).password() == "rel-secret"


@pytest.mark.parametrize("content", ["", "\n"])
def test_empty_password_file_is_a_problem(tmp_path: Path, content: str) -> None:
    secret = tmp_path / "pw"
    secret.write_text(content)
    found = problems(minimal(tmp_path, gateway={"username": "u", "password_file": str(secret)}))
    assert "is empty" in found["gateway.password_file"]


def test_unreadable_password_file_is_a_problem(tmp_path: Path) -> None:
    found = problems(
        minimal(tmp_path, gateway={"username": "u", "password_file": str(tmp_path / "absent")})
    )
    assert "cannot read" in found["gateway.password_file"]


def test_password_and_password_file_together_is_a_problem(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("x")
    found = problems(
        minimal(tmp_path, gateway={"username": "u", "password": "a", "password_file": str(secret)})
    )
    assert "not both" in found["gateway.password"]


def test_systemd_credential_is_used_when_no_password_is_configured(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "password").write_text("cred-secret\n")
    raw = minimal(tmp_path, gateway={"username": "u"})
    config = parse_config(raw, {"CREDENTIALS_DIRECTORY": str(creds)})
    assert config.password() == "cred-secret"


def test_no_password_anywhere_names_all_three_ways(tmp_path: Path) -> None:
    found = problems(minimal(tmp_path, gateway={"username": "u"}))
    message = found["gateway.password"]
    assert "password_file" in message
    assert "credential" in message


def test_plain_http_refused_for_remote_hosts(tmp_path: Path) -> None:
    raw = minimal(tmp_path)
    raw["gateway"]["url"] = "http://api.as2gateway.com/v1"
    assert "only allowed for loopback" in problems(raw)["gateway.url"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.0.0.2"])
def test_plain_http_allowed_for_loopback(tmp_path: Path, host: str) -> None:
    raw = minimal(tmp_path)
    raw["gateway"]["url"] = f"http://{host}:8080/v1"
    assert parse_config(raw, {}).gateway.url.startswith("http://")


def test_url_without_scheme_is_a_problem(tmp_path: Path) -> None:
    raw = minimal(tmp_path)
    raw["gateway"]["url"] = "api.as2gateway.com/v1"
    assert "http(s) URL" in problems(raw)["gateway.url"]


def test_state_dir_that_cannot_be_created_is_a_problem(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    raw = minimal(tmp_path, state_dir=str(blocker / "sub" / "state"))
    assert "cannot be created" in problems(raw)["state_dir"]


def test_route_folder_must_exist(tmp_path: Path) -> None:
    raw = minimal(
        tmp_path, routes=[{"path": str(tmp_path / "gone"), "station": "S", "partner": "P"}]
    )
    assert "does not exist" in problems(raw)["routes[0].path"]


def test_metrics_listen_must_be_host_port(tmp_path: Path) -> None:
    raw = minimal(tmp_path, metrics={"listen": "9108"})
    assert "host:port" in problems(raw)["metrics.listen"]


def test_duplicate_partnership_is_a_problem(tmp_path: Path) -> None:
    pair = {"station": "S", "partner": "P"}
    raw = minimal(tmp_path, outbound={"partnerships": [pair, pair]})
    assert "twice" in problems(raw)["outbound.partnerships[1]"]


def test_bundle_max_files_capped_at_api_limit(tmp_path: Path) -> None:
    raw = minimal(tmp_path, outbound={"bundle_max_files": 11})
    assert "outbound.bundle_max_files" in problems(raw)


def test_password_value_never_appears_in_problems(tmp_path: Path) -> None:
    raw = minimal(tmp_path)
    raw["gateway"]["password"] = 98765432  # wrong type: the problem must not echo the value
    with pytest.raises(ConfigError) as info:
        parse_config(raw, {})
    assert "gateway.password" in str(info.value)
    assert "98765432" not in str(info.value)


def test_load_config_reports_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.yaml", {})
    assert "does not exist" in str(info.value)


def test_load_config_reports_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("gateway: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert "not valid YAML" in str(info.value)


def test_load_config_requires_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert "mapping" in str(info.value)


def test_relative_folders_resolve_against_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "gateway": {"username": "u", "password": "p"},
                "folders": {"root": "data"},
                "state_dir": "st",
            }
        )
    )
    config = load_config(path, {})
    assert config.folders.root == tmp_path / "data"
    assert config.state_dir == tmp_path / "st"


def test_find_config_precedence() -> None:
    assert find_config("/x.yaml", {"AS2SYNC_CONFIG": "/y.yaml"}) == Path("/x.yaml")
    assert find_config(None, {"AS2SYNC_CONFIG": "/y.yaml"}) == Path("/y.yaml")
    assert find_config(None, {}) == DEFAULT_PATH


def test_example_config_is_valid_once_its_env_var_and_folders_exist(tmp_path: Path) -> None:
    raw = yaml.safe_load((REPO / "config.example.yaml").read_text())
    raw["folders"]["root"] = str(tmp_path)
    raw["state_dir"] = str(tmp_path / "state")
    config = parse_config(raw, {"AS2SYNC_PASSWORD": "pw"})
    assert config.password() == "pw"


def test_example_config_without_env_reports_the_variable_and_folders(tmp_path: Path) -> None:
    raw = yaml.safe_load((REPO / "config.example.yaml").read_text())
    raw["state_dir"] = str(tmp_path / "state")
    found = problems(raw)
    assert "AS2SYNC_PASSWORD" in found["gateway.password"]
    assert "/srv/as2" in found["folders.root"]


def _model_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        keys.add(path)
        annotation = field.annotation
        if typing.get_origin(annotation) is typing.Union:
            # A section chosen by a tag (gateway.api): the first member is the default one,
            # which the example documents.
            first = typing.get_args(annotation)[0]
            annotation = typing.get_args(first)[0] if typing.get_args(first) else first
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= _model_keys(annotation, f"{path}.")
    return keys


def _yaml_keys(data: Any, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    if isinstance(data, dict):
        for name, value in data.items():
            keys.add(f"{prefix}{name}")
            keys |= _yaml_keys(value, f"{prefix}{name}.")
    return keys


def test_example_config_documents_exactly_the_model_keys() -> None:
    text = (REPO / "config.example.yaml").read_text()
    documented = _yaml_keys(yaml.safe_load(text))
    documented.add("gateway.password_file")  # shown commented out, as the alternative to password
    assert documented == _model_keys(Config)


def test_example_config_values_are_the_model_defaults(tmp_path: Path) -> None:
    raw = yaml.safe_load((REPO / "config.example.yaml").read_text())
    raw["folders"]["root"] = str(tmp_path)
    raw["state_dir"] = str(tmp_path / "state")
    from_example = parse_config(raw, {"AS2SYNC_PASSWORD": "pw"})
    defaults = parse_config(
        {
            "gateway": {"username": raw["gateway"]["username"], "password": "pw"},
            "folders": {"root": str(tmp_path)},
            "state_dir": str(tmp_path / "state"),
        },
        {},
    )
    assert from_example.model_dump(exclude={"gateway": {"password"}}) == defaults.model_dump(
        exclude={"gateway": {"password"}}
    )


def test_read_only_commands_load_without_a_password(tmp_path: Path) -> None:
    raw = minimal(tmp_path, gateway={"username": "u"})
    config = parse_config(raw, {}, require_password=False)
    assert config.gateway.password is None
    raw["outbound"] = {"settle_seconds": -1}
    with pytest.raises(ConfigError) as info:  # other problems are still reported
        parse_config(raw, {}, require_password=False)
    assert [p.path for p in info.value.problems] == ["outbound.settle_seconds"]


MALFORMED_SECRETS = {
    # The example: a second ": " in a plain scalar.
    "mapping value": "  password: Hunter2: Secret\n",
    "unclosed quote": '  password: "Hunter2 Secret\n',
    "unclosed flow": "  password: [Hunter2, Secret\n",
    "undefined alias": "  password: *Hunter2Secret\n",
    "bad escape": '  password: "Hunter2\\qSecret"\n',
    "tab": "  password: Hunter2\n\tSecret: x\n",
}


@pytest.mark.parametrize("line", MALFORMED_SECRETS.values(), ids=MALFORMED_SECRETS.keys())
def test_yaml_errors_name_line_column_and_key_but_never_echo_the_text(
    tmp_path: Path, line: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "gateway:\n  username: me@example.com\n" + line + f"folders:\n  root: {tmp_path}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    text = str(info.value)
    assert "Hunter2" not in text
    assert "Secret" not in text
    (problem,) = info.value.problems
    assert problem.path == "gateway.password"
    assert "not valid YAML" in problem.message
    assert "line 3" in problem.message or "line 4" in problem.message
    assert "column" in problem.message
    # Nothing in the exception chain keeps the text either (a log with exc_info would show it).
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_yaml_error_key_path_stops_at_a_name_that_is_not_a_config_key(tmp_path: Path) -> None:
    # A mis-indented secret can end up in key position; the path must not show it.
    path = tmp_path / "config.yaml"
    path.write_text("gateway:\n  Hunter2Secret:\n    x: y: z\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    (problem,) = info.value.problems
    assert problem.path == "gateway"
    assert "Hunter2Secret" not in str(info.value)
    assert "line 3, column" in problem.message


def route(path: Path, station: str = "ST", partner: str = "ACME") -> dict[str, str]:
    path.mkdir(parents=True, exist_ok=True)
    return {"path": str(path), "station": station, "partner": partner}


def test_distinct_routes_outside_the_root_are_accepted(tmp_path: Path) -> None:
    raw = minimal(
        tmp_path,
        routes=[route(tmp_path / "a", partner="A"), route(tmp_path / "b", partner="B")],
    )
    assert len(parse_config(raw, {}).routes) == 2


def test_two_routes_for_one_pair_are_refused(tmp_path: Path) -> None:
    raw = minimal(tmp_path, routes=[route(tmp_path / "a"), route(tmp_path / "b")])
    assert "same station/partner (ST/ACME) as routes[0]" in problems(raw)["routes[1]"]


def test_a_route_for_a_pair_that_has_its_folder_under_the_root_is_refused(
    tmp_path: Path,
) -> None:
    raw = minimal(tmp_path, routes=[route(tmp_path / "a")])
    (tmp_path / "root" / "ST" / "ACME").mkdir(parents=True)
    message = problems(raw)["routes[0]"]
    assert str(tmp_path / "root" / "ST" / "ACME") in message
    assert "never be sent" in message


@pytest.mark.parametrize(
    ("first", "second", "relation"),
    [
        ("shared", "shared", "same folder as routes[0].path"),
        ("outer", "outer/inner", "inside routes[0].path"),
        ("outer/inner", "outer", "contains routes[0].path"),
    ],
)
def test_overlapping_route_folders_are_refused(
    tmp_path: Path, first: str, second: str, relation: str
) -> None:
    raw = minimal(
        tmp_path,
        routes=[route(tmp_path / first, partner="A"), route(tmp_path / second, partner="B")],
    )
    assert relation in problems(raw)["routes[1].path"]


def test_route_folders_that_overlap_through_a_symlink_are_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    raw = minimal(
        tmp_path,
        routes=[route(real, partner="A"), route(tmp_path / "alias", partner="B")],
    )
    assert "same folder as routes[0].path" in problems(raw)["routes[1].path"]


@pytest.mark.parametrize("where", ["root/ST/ACME", "root/ST", "root/ST/OTHER/outbox", "root"])
def test_a_route_folder_inside_the_root_tree_is_refused(tmp_path: Path, where: str) -> None:
    raw = minimal(tmp_path, routes=[route(tmp_path / where, partner="ROUTED")])
    assert "folders.root" in problems(raw)["routes[0].path"]


def test_a_route_folder_holding_the_root_is_refused(tmp_path: Path) -> None:
    raw = minimal(tmp_path, routes=[route(tmp_path, partner="ROUTED")])
    assert "contains folders.root" in problems(raw)["routes[0].path"]


@pytest.mark.parametrize(
    "bad",
    ["../x", "a/b", "a\\b", ".", "..", ".hidden", "x" * 129, "tab\there", "nul\0", "café", " x"],
)
def test_route_and_partnership_ids_must_be_as2_identifiers(tmp_path: Path, bad: str) -> None:
    raw = minimal(
        tmp_path,
        routes=[route(tmp_path / "r", station=bad, partner="P")],
        outbound={"partnerships": [{"station": "S", "partner": bad}]},
    )
    found = problems(raw)
    assert "AS2 identifier" in found["routes[0].station"]
    assert "AS2 identifier" in found["outbound.partnerships[0].partner"]


@pytest.mark.parametrize("good", ["ACME", "acme-edi.prod_1", "My Company", "x" * 128, "a:b@c"])
def test_ordinary_as2_identifiers_are_accepted(tmp_path: Path, good: str) -> None:
    raw = minimal(tmp_path, routes=[route(tmp_path / "r", station="ST", partner=good)])
    assert parse_config(raw, {}).routes[0].partner == good


def test_partnership_options_of_a_folder_that_is_no_as2_id_are_the_defaults(
    tmp_path: Path,
) -> None:
    # Folder names under the root are not validated (they are the user's); looking up their
    # options must not raise, or one odd folder would stop the engine.
    config = parse_config(minimal(tmp_path), {})
    assert config.partnership("ST", "caf\u00e9 ").subject is None
