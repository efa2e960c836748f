"""Load the YAML configuration, resolve secrets, validate, and report every problem at once.

Problems are collected in three passes so that one run shows the user everything to fix:
environment interpolation (``${VAR}``), the schema (pydantic), and checks against the machine
(folders exist, the password can be found, URLs are safe). Each problem carries its key path,
e.g. ``folders.root: directory /x does not exist``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import SecretStr, ValidationError

from as2sync.config.capabilities import capability_problems
from as2sync.config.routes import route_problems
from as2sync.config.schema import Config
from as2sync.config.yamlerror import describe_yaml_error
from as2sync.errors import ConfigError, ConfigProblem

DEFAULT_PATH = Path("/etc/as2sync/config.yaml")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def find_config(explicit: str | None, env: Mapping[str, str]) -> Path:
    """``-c/--config``, else ``$AS2SYNC_CONFIG``, else ``/etc/as2sync/config.yaml``."""
    if explicit:
        return Path(explicit)
    if env.get("AS2SYNC_CONFIG"):
        return Path(env["AS2SYNC_CONFIG"])
    return DEFAULT_PATH


def load_config(
    path: Path,
    env: Mapping[str, str] | None = None,
    *,
    check_folders: bool = True,
    require_password: bool = True,
) -> Config:
    """Read, interpolate, validate and resolve ``path``. Raises ConfigError with every problem."""
    env = os.environ if env is None else env
    try:
        text = _read_text(path)
    except FileNotFoundError:
        raise ConfigError([ConfigProblem("", f"config file {path} does not exist")]) from None
    except OSError as exc:
        raise ConfigError([ConfigProblem("", f"cannot read {path}: {exc.strerror}")]) from exc
    except NotUtf8 as exc:
        raise ConfigError([ConfigProblem("", str(exc))]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # PyYAML's own message quotes the offending line, which may hold the password: the
        # problem says where instead, and the chain is cut so no traceback can show it.
        raise ConfigError([describe_yaml_error(exc, text, str(path))]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([ConfigProblem("", f"{path} must hold a mapping of keys")])
    return parse_config(
        raw,
        env,
        base_dir=path.parent,
        check_folders=check_folders,
        require_password=require_password,
    )


class NotUtf8(ValueError):
    """A file that must be UTF-8 text is not; the message says where, not what."""


def _read_text(path: Path) -> str:
    """``path`` as UTF-8 text; raises OSError, or NotUtf8 naming the line of the first bad
    byte without showing it (the file may hold a password)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise NotUtf8(f"{path} is not UTF-8 text (line {line}); save it as UTF-8") from None


def parse_config(
    raw: dict[str, Any],
    env: Mapping[str, str],
    *,
    base_dir: Path = Path(),
    check_folders: bool = True,
    require_password: bool = True,
) -> Config:
    """Validate ``raw``. ``require_password=False`` is for read-only commands (status, health)
    that never talk to the gateway: under systemd the password exists only inside the service."""
    problems: list[ConfigProblem] = []
    data = _interpolate(raw, env, "", problems)
    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc))
        # Still report the machine checks that the raw values allow, so that one run of
        # `as2sync check` lists everything to fix.
        if check_folders:
            problems.extend(_raw_folder_problems(data, base_dir))
    if config is not None:
        config = _resolve(config, env, base_dir, problems, check_folders=check_folders)
    if not require_password:
        problems = [p for p in problems if not p.path.startswith("gateway.password")]
    if problems:
        raise ConfigError(problems)
    assert config is not None
    return config


def _interpolate(
    value: Any, env: Mapping[str, str], path: str, problems: list[ConfigProblem]
) -> Any:
    if isinstance(value, dict):
        return {
            k: _interpolate(v, env, f"{path}.{k}" if path else str(k), problems)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_interpolate(v, env, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                problems.append(
                    ConfigProblem(path, f"environment variable {name} is not set (export it)")
                )
                return ""
            return env[name]

        return _VAR.sub(sub, value)
    return value


def _raw_folder_problems(data: Any, base_dir: Path) -> list[ConfigProblem]:
    folders = data.get("folders") if isinstance(data, dict) else None
    root = folders.get("root") if isinstance(folders, dict) else None
    if isinstance(root, str) and root:
        path = Path(root) if Path(root).is_absolute() else base_dir / root
        if not path.is_dir():
            return [ConfigProblem("folders.root", f"directory {path} does not exist (create it)")]
    return []


def _pydantic_problems(exc: ValidationError) -> list[ConfigProblem]:
    # Here, not at the top: the registry imports the backends, which import the configuration.
    from as2sync.backends.registry import BACKENDS, unavailable

    problems = []
    for err in exc.errors():
        loc = err["loc"]
        if loc[:1] == ("gateway",) and len(loc) > 1 and loc[1] in BACKENDS:
            loc = loc[:1] + loc[2:]  # the union's tag (the api), not a key the user wrote
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
        path = path.removeprefix(".")  # routes[0].station, as the other checks write it
        kind = err["type"]
        if kind == "union_tag_invalid" and err["loc"] == ("gateway",):
            # An API no backend is registered for: one problem for the whole section (its
            # other keys belong to that API and cannot be checked).
            problems.append(ConfigProblem("gateway.api", unavailable(err["ctx"]["tag"])))
            continue
        if kind == "missing":
            message = "is required"
        elif kind == "extra_forbidden":
            message = "unknown key (check the spelling; see config.example.yaml)"
        else:
            message = err["msg"]
            if (
                "input" in err
                and not isinstance(err["input"], dict | list)
                and "password" not in path
            ):
                message += f" (got {err['input']!r})"
        problems.append(ConfigProblem(path, message))
    return problems


def _resolve(
    config: Config,
    env: Mapping[str, str],
    base_dir: Path,
    problems: list[ConfigProblem],
    *,
    check_folders: bool,
) -> Config:
    from as2sync.backends.registry import registration  # see _pydantic_problems

    gateway = config.gateway
    password = _resolve_password(config, env, base_dir, problems)
    url_problem = _check_url(gateway.url)
    if url_problem:
        problems.append(ConfigProblem("gateway.url", url_problem))

    def absolute(p: Path) -> Path:
        return p if p.is_absolute() else (base_dir / p)

    folders_root = absolute(config.folders.root)
    state_dir = absolute(config.state_dir)
    routes = tuple(r.model_copy(update={"path": absolute(r.path)}) for r in config.routes)
    if check_folders:
        if not folders_root.is_dir():
            problems.append(
                ConfigProblem(
                    "folders.root", f"directory {folders_root} does not exist (create it)"
                )
            )
        for i, route in enumerate(routes):
            if not route.path.is_dir():
                problems.append(
                    ConfigProblem(f"routes[{i}].path", f"directory {route.path} does not exist")
                )
        parent = state_dir if state_dir.exists() else state_dir.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            problems.append(
                ConfigProblem(
                    "state_dir", f"{state_dir} cannot be created or written (check permissions)"
                )
            )
    problems.extend(route_problems(folders_root, routes, check_folders=check_folders))
    problems.extend(capability_problems(config, registration(config).capabilities))
    if config.metrics.listen and not _valid_listen(config.metrics.listen):
        problems.append(ConfigProblem("metrics.listen", "must be host:port, e.g. 127.0.0.1:9108"))
    seen: set[tuple[str, str]] = set()
    for i, p in enumerate(config.outbound.partnerships):
        if (p.station, p.partner) in seen:
            problems.append(
                ConfigProblem(f"outbound.partnerships[{i}]", "same station/partner listed twice")
            )
        seen.add((p.station, p.partner))
    return config.model_copy(
        update={
            "gateway": gateway.model_copy(
                update={"password": SecretStr(password) if password is not None else None}
            ),
            "folders": config.folders.model_copy(update={"root": folders_root}),
            "state_dir": state_dir,
            "routes": routes,
        }
    )


def _resolve_password(
    config: Config, env: Mapping[str, str], base_dir: Path, problems: list[ConfigProblem]
) -> str | None:
    gateway = config.gateway
    if gateway.password is not None and gateway.password_file is not None:
        problems.append(
            ConfigProblem("gateway.password", "set either password or password_file, not both")
        )
        return None
    if gateway.password is not None:
        value = gateway.password.get_secret_value()
        if not value:
            # An unset ${VAR} was reported already, and is the more useful message.
            if not any(p.path == "gateway.password" for p in problems):
                problems.append(ConfigProblem("gateway.password", "is empty"))
            return None
        return value
    if gateway.password_file is not None:
        path = (
            gateway.password_file
            if gateway.password_file.is_absolute()
            else base_dir / gateway.password_file
        )
        return _read_secret(path, "gateway.password_file", problems)
    # systemd's LoadCredential=password:/path puts the secret here, readable only by the service.
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / "password").is_file():
        return _read_secret(Path(cred_dir) / "password", "gateway.password", problems)
    problems.append(
        ConfigProblem(
            "gateway.password",
            "no password: set password (e.g. ${AS2SYNC_PASSWORD}), password_file, "
            "or a systemd credential named 'password'",
        )
    )
    return None


def _read_secret(path: Path, key: str, problems: list[ConfigProblem]) -> str | None:
    try:
        lines = _read_text(path).splitlines()
    except OSError as exc:
        problems.append(ConfigProblem(key, f"cannot read {path}: {exc.strerror}"))
        return None
    except NotUtf8 as exc:
        problems.append(ConfigProblem(key, str(exc)))
        return None
    value = lines[0].strip() if lines else ""
    if not value:
        problems.append(ConfigProblem(key, f"{path} is empty"))
        return None
    return value


def _check_url(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsed on access: raises for a port out of range
    except ValueError as exc:
        return f"is not a valid URL ({exc}); e.g. https://api.as2gateway.com/v1"
    if parts.username is not None or parts.password is not None:
        # Credentials in the URL would end up in logs and errors that quote it.
        return "must not hold a user name or password; use gateway.username and password"
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return f"must be an http(s) URL such as https://api.as2gateway.com/v1 (got {url!r})"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return "plain http:// is only allowed for loopback hosts (the emulator); use https://"
    return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _valid_listen(listen: str) -> bool:
    host, sep, port = listen.rpartition(":")
    return bool(sep and host and port.isdigit() and 0 < int(port) < 65536)
