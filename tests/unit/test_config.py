"""IMDSConfig: precedence, provenance, the config file, validation and normalisation."""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imdsclient._config as config_module
from imdsclient._config import IMDSConfig
from imdsclient.errors import ConfigError

ENV_VARS = {
    "disabled": "AWS_EC2_METADATA_DISABLED",
    "endpoint": "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "endpoint_mode": "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
    "v1_fallback": "AWS_EC2_METADATA_V1_DISABLED",
    "timeout": "AWS_METADATA_SERVICE_TIMEOUT",
    "num_attempts": "AWS_METADATA_SERVICE_NUM_ATTEMPTS",
    "instance_profile_name": "AWS_EC2_INSTANCE_PROFILE_NAME",
}
FILE_KEYS = {
    "endpoint": "ec2_metadata_service_endpoint",
    "endpoint_mode": "ec2_metadata_service_endpoint_mode",
    "v1_fallback": "ec2_metadata_v1_disabled",
    "timeout": "metadata_service_timeout",
    "num_attempts": "metadata_service_num_attempts",
    "instance_profile_name": "ec2_instance_profile_name",
}
DEFAULTS: dict[str, object] = {
    "disabled": False,
    "endpoint": None,
    "endpoint_mode": "IPv4",
    "v1_fallback": True,
    "timeout": 1.0,
    "num_attempts": 3,
    "token_ttl": 21600,
    "instance_profile_name": None,
}

# One distinct value per layer: (file text, expected), (env text, expected), (argument, expected).
LAYERS: dict[str, tuple[tuple[str, object], tuple[str, object], tuple[object, object]]] = {
    "endpoint": (
        ("http://file.example:1/", "http://file.example:1"),
        ("http://env.example:2", "http://env.example:2"),
        ("http://arg.example:3/", "http://arg.example:3"),
    ),
    "endpoint_mode": (("ipv6", "IPv6"), ("IPV4", "IPv4"), ("iPv6", "IPv6")),
    "v1_fallback": (("TRUE", False), ("false", True), (False, False)),
    "timeout": (("2.5", 2.5), ("3.5", 3.5), (4.5, 4.5)),
    "num_attempts": (("5", 5), ("6", 6), (7, 7)),
    "instance_profile_name": (("file-role", "file-role"), ("env-role", "env-role"), ("a", "a")),
}


def write_config(tmp_path: Path, text: str) -> Path:
    """Write an AWS config file under tmp_path and return its path."""
    path = tmp_path / "config"
    path.write_text(text, encoding="utf-8")
    return path


def isolated_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    """An explicit env mapping whose config file lives in tmp_path (never the real ~/.aws)."""
    return {"AWS_CONFIG_FILE": str(tmp_path / "config"), **variables}


def row(config: IMDSConfig, setting: str) -> tuple[object, str]:
    """(value, source) of one setting as describe() reports it."""
    found = [(value, source) for name, value, source in config.describe() if name == setting]
    assert len(found) == 1
    return found[0]


# --- defaults, precedence and provenance --------------------------------------------------------


def test_defaults_with_nothing_configured(tmp_path: Path) -> None:
    """With no environment, no file and no arguments every setting is its default."""
    config = IMDSConfig.from_environment(isolated_env(tmp_path))
    assert config == IMDSConfig()
    for name, value in DEFAULTS.items():
        assert row(config, name) == (value, "default")
    assert config.base_url == "http://169.254.169.254"


@pytest.mark.parametrize("top", ["file", "env", "argument"])
@pytest.mark.parametrize("setting", sorted(LAYERS))
def test_precedence_argument_env_file_default(tmp_path: Path, setting: str, top: str) -> None:
    """Each layer beats every layer below it: argument > environment > config file > default."""
    (file_text, from_file), (env_text, from_env), (argument, from_arg) = LAYERS[setting]
    path = write_config(tmp_path, f"[default]\n{FILE_KEYS[setting]} = {file_text}\n")
    env = isolated_env(tmp_path)
    overrides: dict[str, Any] = {}
    if top in ("env", "argument"):
        env[ENV_VARS[setting]] = env_text
    if top == "argument":
        overrides[setting] = argument
    config = IMDSConfig.from_environment(env, **overrides)
    expected = {
        "file": (from_file, f"{path} [default] {FILE_KEYS[setting]}"),
        "env": (from_env, f"environment variable {ENV_VARS[setting]}"),
        "argument": (from_arg, "argument"),
    }[top]
    assert row(config, setting) == expected
    assert getattr(config, setting) == expected[0]


@pytest.mark.parametrize(
    ("env_value", "override", "expected", "source"),
    [
        (None, None, False, "default"),
        ("true", None, True, "environment variable AWS_EC2_METADATA_DISABLED"),
        ("False", None, False, "environment variable AWS_EC2_METADATA_DISABLED"),
        ("TRUE", False, False, "argument"),
        (None, True, True, "argument"),
    ],
)
def test_disabled_comes_from_env_or_argument(
    tmp_path: Path, env_value: str | None, override: bool | None, expected: bool, source: str
) -> None:
    """disabled is read from AWS_EC2_METADATA_DISABLED and arguments; the file cannot set it."""
    write_config(tmp_path, "[default]\nec2_metadata_disabled = true\nmetadata_disabled = true\n")
    env = isolated_env(tmp_path)
    if env_value is not None:
        env["AWS_EC2_METADATA_DISABLED"] = env_value
    config = IMDSConfig.from_environment(env, disabled=override)
    assert row(config, "disabled") == (expected, source)


def test_token_ttl_comes_only_from_arguments(tmp_path: Path) -> None:
    """token_ttl has no environment variable or file key; only an argument changes it."""
    write_config(tmp_path, "[default]\ntoken_ttl = 60\nec2_metadata_token_ttl = 60\n")
    env = isolated_env(tmp_path, AWS_EC2_METADATA_TOKEN_TTL="60")
    assert row(IMDSConfig.from_environment(env), "token_ttl") == (21600, "default")
    assert row(IMDSConfig.from_environment(env, token_ttl=300), "token_ttl") == (300, "argument")


def test_none_override_means_not_given(tmp_path: Path) -> None:
    """An override of None falls through to the environment, like a CLI flag not passed."""
    env = isolated_env(tmp_path, AWS_METADATA_SERVICE_TIMEOUT="2")
    config = IMDSConfig.from_environment(env, timeout=None, endpoint=None)
    assert row(config, "timeout") == (2.0, "environment variable AWS_METADATA_SERVICE_TIMEOUT")
    assert row(config, "endpoint") == (None, "default")


def test_empty_env_and_file_values_count_as_unset(tmp_path: Path) -> None:
    """An empty variable falls through to the file, and an empty file value to the default."""
    path = write_config(
        tmp_path, "[default]\nmetadata_service_timeout = 7\nmetadata_service_num_attempts =\n"
    )
    env = isolated_env(
        tmp_path, AWS_METADATA_SERVICE_TIMEOUT="", AWS_METADATA_SERVICE_NUM_ATTEMPTS="  "
    )
    config = IMDSConfig.from_environment(env)
    assert row(config, "timeout") == (7.0, f"{path} [default] metadata_service_timeout")
    assert row(config, "num_attempts") == (3, "default")


def test_file_values_are_stripped_and_keys_case_insensitive(tmp_path: Path) -> None:
    """Values are read like botocore reads them: keys case-insensitively, values stripped."""
    write_config(tmp_path, "[default]\nMetadata_Service_Timeout =   3.25   \n")
    assert IMDSConfig.from_environment(isolated_env(tmp_path)).timeout == 3.25


def test_percent_signs_are_not_interpolated(tmp_path: Path) -> None:
    """Interpolation is off: a stray '%' elsewhere in the profile does not break parsing."""
    write_config(tmp_path, "[default]\nsome_other_tool = 100%\nmetadata_service_timeout = 2\n")
    assert IMDSConfig.from_environment(isolated_env(tmp_path)).timeout == 2.0


def test_reads_os_environ_when_env_is_omitted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an env mapping, os.environ is read (here a controlled one)."""
    for name in [*ENV_VARS.values(), "AWS_PROFILE", "AWS_DEFAULT_PROFILE"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(write_config(tmp_path, "[default]\n")))
    monkeypatch.setenv("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "9")
    assert row(IMDSConfig.from_environment(), "num_attempts") == (
        9,
        "environment variable AWS_METADATA_SERVICE_NUM_ATTEMPTS",
    )


def test_default_config_path_is_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without AWS_CONFIG_FILE the file is ~/.aws/config, with ~ expanded."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_text("[default]\nmetadata_service_timeout = 4\n")
    config = IMDSConfig.from_environment({})
    expected = f"{tmp_path / '.aws' / 'config'} [default] metadata_service_timeout"
    assert row(config, "timeout") == (4.0, expected)


def test_aws_config_file_expands_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS_CONFIG_FILE may start with ~, as the AWS CLI allows."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "custom").write_text("[default]\nmetadata_service_num_attempts = 2\n")
    config = IMDSConfig.from_environment({"AWS_CONFIG_FILE": "~/custom"})
    assert row(config, "num_attempts") == (
        2,
        f"{tmp_path / 'custom'} [default] metadata_service_num_attempts",
    )


# --- profiles -------------------------------------------------------------------------------------

PROFILES_FILE = """\
[default]
metadata_service_timeout = 1.5

[profile dev]
metadata_service_timeout = 2.5

[profile  spaced ]
metadata_service_timeout = 3.5

[bare]
metadata_service_timeout = 4.5
"""


@pytest.mark.parametrize(
    ("variables", "timeout", "section"),
    [
        ({}, 1.5, "default"),
        ({"AWS_PROFILE": "default"}, 1.5, "default"),
        ({"AWS_PROFILE": "dev"}, 2.5, "profile dev"),
        ({"AWS_DEFAULT_PROFILE": "dev"}, 2.5, "profile dev"),
        ({"AWS_PROFILE": "dev", "AWS_DEFAULT_PROFILE": "default"}, 2.5, "profile dev"),
        ({"AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": "dev"}, 2.5, "profile dev"),
        ({"AWS_PROFILE": "spaced"}, 3.5, "profile  spaced "),
    ],
)
def test_profile_selection(
    tmp_path: Path, variables: dict[str, str], timeout: float, section: str
) -> None:
    """AWS_PROFILE, then AWS_DEFAULT_PROFILE, then "default" picks [default] or [profile NAME]."""
    path = write_config(tmp_path, PROFILES_FILE)
    config = IMDSConfig.from_environment(isolated_env(tmp_path, **variables))
    assert row(config, "timeout") == (timeout, f"{path} [{section}] metadata_service_timeout")


@pytest.mark.parametrize("profile", ["bare", "missing", "profile"])
def test_bare_or_missing_profile_gives_defaults(tmp_path: Path, profile: str) -> None:
    """A bare [NAME] section is not a profile (botocore's rule); a missing one is no error."""
    write_config(tmp_path, PROFILES_FILE)
    config = IMDSConfig.from_environment(isolated_env(tmp_path, AWS_PROFILE=profile))
    assert row(config, "timeout") == (1.0, "default")


def test_profile_default_section_is_accepted_without_default(tmp_path: Path) -> None:
    """[profile default] serves the default profile when there is no [default] section."""
    path = write_config(tmp_path, "[profile default]\nmetadata_service_timeout = 6\n")
    config = IMDSConfig.from_environment(isolated_env(tmp_path))
    assert row(config, "timeout") == (6.0, f"{path} [profile default] metadata_service_timeout")


def test_default_section_wins_over_profile_default(tmp_path: Path) -> None:
    """When both exist, [default] is used for the default profile."""
    write_config(
        tmp_path,
        "[profile default]\nmetadata_service_timeout = 6\n"
        "[default]\nmetadata_service_timeout = 8\n",
    )
    assert IMDSConfig.from_environment(isolated_env(tmp_path)).timeout == 8.0


def test_missing_file_is_not_an_error(tmp_path: Path) -> None:
    """A config file that does not exist (or whose parent is a file) just contributes nothing."""
    assert IMDSConfig.from_environment(isolated_env(tmp_path)) == IMDSConfig()
    (tmp_path / "plain").write_text("")
    env = {"AWS_CONFIG_FILE": str(tmp_path / "plain" / "config")}
    assert IMDSConfig.from_environment(env) == IMDSConfig()


@pytest.mark.parametrize("text", ["", " \n\t\n"])
def test_empty_file_is_not_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    """An empty file (``AWS_CONFIG_FILE=/dev/null``) has no profile: defaults, and configparser
    is not even imported (start-up, #15)."""
    write_config(tmp_path, text)
    monkeypatch.setitem(sys.modules, "configparser", None)  # `import configparser` would raise
    assert IMDSConfig.from_environment(isolated_env(tmp_path)) == IMDSConfig()
    assert IMDSConfig.from_environment({"AWS_CONFIG_FILE": os.devnull}) == IMDSConfig()


def test_all_profile_settings_at_once(tmp_path: Path) -> None:
    """Every file key of a named profile is honoured, with its own provenance."""
    path = write_config(
        tmp_path,
        "[profile prod]\n"
        "ec2_metadata_service_endpoint = http://[fd00:ec2::254]:8080/\n"
        "ec2_metadata_service_endpoint_mode = IPv6\n"
        "ec2_metadata_v1_disabled = true\n"
        "metadata_service_timeout = 0.5\n"
        "metadata_service_num_attempts = 1\n"
        "ec2_instance_profile_name = prod-role\n",
    )
    config = IMDSConfig.from_environment(isolated_env(tmp_path, AWS_PROFILE="prod"))
    assert config == IMDSConfig(
        endpoint="http://[fd00:ec2::254]:8080",
        endpoint_mode="IPv6",
        v1_fallback=False,
        timeout=0.5,
        num_attempts=1,
        instance_profile_name="prod-role",
    )
    for setting, key in FILE_KEYS.items():
        assert row(config, setting)[1] == f"{path} [profile prod] {key}"


# --- broken config files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"metadata_service_timeout = 2\n", "cannot be parsed"),
        (b"[default\nx = 1\n", "cannot be parsed"),
        (b"[default]\nnot a key value pair\n", "cannot be parsed"),
        (b"[default]\nx = 1\n[default]\nx = 2\n", "cannot be parsed"),
        (b"[default]\nx = 1\nx = 2\n", "cannot be parsed"),
        (b"[default]\nx = \xff\xfe\n", "not UTF-8"),
    ],
)
def test_broken_file_raises_config_error_naming_it(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    """A file that exists but is not a valid INI file is an error that names the file."""
    path = tmp_path / "config"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        IMDSConfig.from_environment(isolated_env(tmp_path))
    assert info.value.setting == "config file"
    assert info.value.value == str(path)
    assert info.value.source == "environment variable AWS_CONFIG_FILE"
    assert reason in info.value.reason
    assert str(path) in str(info.value)


def test_utf8_bom_is_tolerated(tmp_path: Path) -> None:
    """A byte-order mark, as Windows editors write, does not break the file."""
    (tmp_path / "config").write_bytes(b"\xef\xbb\xbf[default]\nmetadata_service_timeout = 2\n")
    assert IMDSConfig.from_environment(isolated_env(tmp_path)).timeout == 2.0


def test_directory_as_config_file_is_an_error(tmp_path: Path) -> None:
    """A config path that is a directory is reported rather than silently ignored."""
    (tmp_path / "config").mkdir()
    with pytest.raises(ConfigError, match="cannot be read") as info:
        IMDSConfig.from_environment(isolated_env(tmp_path))
    assert info.value.value == str(tmp_path / "config")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read any file"
)
def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    """A config file without read permission is reported, naming the file."""
    path = write_config(tmp_path, "[default]\n")
    path.chmod(0)
    try:
        with pytest.raises(ConfigError, match="cannot be read"):
            IMDSConfig.from_environment(isolated_env(tmp_path))
    finally:
        path.chmod(0o600)


def test_os_error_reading_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any OS error other than "not found" while reading the file is reported with its reason."""
    write_config(tmp_path, "[default]\n")

    def refuse(*args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(config_module, "open", refuse, raising=False)
    with pytest.raises(ConfigError, match="cannot be read: Permission denied") as info:
        IMDSConfig.from_environment(isolated_env(tmp_path))
    assert info.value.value == str(tmp_path / "config")


def test_default_path_error_says_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the broken file is the default ~/.aws/config, the source says so."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_text("garbage\n")
    with pytest.raises(ConfigError) as info:
        IMDSConfig.from_environment({})
    assert info.value.source == "default"


def test_file_not_read_when_everything_is_given(tmp_path: Path) -> None:
    """Lower layers are consulted only when needed: a broken file is ignored if nothing uses it."""
    write_config(tmp_path, "garbage\n")
    env = isolated_env(
        tmp_path,
        AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:1338",
        AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE="IPv4",
        AWS_EC2_METADATA_V1_DISABLED="false",
        AWS_METADATA_SERVICE_TIMEOUT="1",
        AWS_EC2_INSTANCE_PROFILE_NAME="my-role",
    )
    config = IMDSConfig.from_environment(env, num_attempts=2)
    assert config.base_url == "http://127.0.0.1:1338"
    with pytest.raises(ConfigError):
        IMDSConfig.from_environment(env)


# --- invalid values from every source -------------------------------------------------------------

INVALID_TEXT = [
    ("disabled", "yes"),
    ("disabled", "1"),
    ("disabled", "maybe"),
    ("endpoint", "169.254.169.254"),
    ("endpoint", "ftp://169.254.169.254"),
    ("endpoint", "http://"),
    ("endpoint", "http://:80"),
    ("endpoint", "http://user:pw@169.254.169.254"),
    ("endpoint", "http://169.254.169.254/?x=1"),
    ("endpoint", "http://169.254.169.254/#top"),
    ("endpoint", "http://169.254.169.254/latest"),
    ("endpoint", "http://169.254.169.254//"),
    ("endpoint", "http://169.254.169.254:0"),
    ("endpoint", "http://169.254.169.254:65536"),
    ("endpoint", "http://169.254.169.254:http"),
    ("endpoint", "http://169.254.169.254:"),
    ("endpoint", "http://fd00:ec2::254"),
    ("endpoint", "http://[fd00:ec2::254"),
    ("endpoint", "http://[not-an-ip]"),
    ("endpoint", "http://[fd00:ec2::254]18080"),
    ("endpoint", "http://exa mple.com"),
    ("endpoint", "http://bad_host!"),
    ("endpoint", "http://.example"),
    ("endpoint", "http://a..b"),
    ("endpoint_mode", "IPv5"),
    ("endpoint_mode", "dualstack"),
    ("v1_fallback", "yes"),
    ("v1_fallback", "0"),
    ("timeout", "abc"),
    ("timeout", "0"),
    ("timeout", "-1"),
    ("timeout", "nan"),
    ("timeout", "inf"),
    ("timeout", "1e999"),
    ("num_attempts", "0"),
    ("num_attempts", "-3"),
    ("num_attempts", "x"),
    ("num_attempts", "2.5"),
]


@pytest.mark.parametrize(("setting", "text"), INVALID_TEXT)
def test_invalid_env_value_names_setting_and_variable(
    tmp_path: Path, setting: str, text: str
) -> None:
    """Every invalid environment value raises ConfigError naming the setting, value and variable."""
    env = isolated_env(tmp_path, **{ENV_VARS[setting]: text})
    with pytest.raises(ConfigError) as info:
        IMDSConfig.from_environment(env)
    error = info.value
    assert (error.setting, error.value) == (setting, text)
    assert error.source == f"environment variable {ENV_VARS[setting]}"
    assert setting in str(error)
    assert ENV_VARS[setting] in str(error)


@pytest.mark.parametrize(
    ("endpoint", "reason"),
    [
        ("169.254.169.254", "http:// or https://"),
        ("http://user:pw@169.254.169.254", "user information"),
        ("http://user@169.254.169.254", "user information"),
        ("http://169.254.169.254/latest", "path"),
        ("http://169.254.169.254/?x=1", "query string"),
        ("http://169.254.169.254:0", "port '0'"),
        ("http://fd00:ec2::254", "brackets"),
        ("http://[fd00:ec2::254", "missing ']'"),
        ("http://[fd00:ec2::zz]", "not an IPv6 address"),
    ],
)
def test_endpoint_error_says_what_is_wrong(endpoint: str, reason: str) -> None:
    """Endpoint errors explain the specific problem, not just "invalid URL"."""
    with pytest.raises(ConfigError) as info:
        IMDSConfig(endpoint=endpoint)
    assert reason in info.value.reason


@pytest.mark.parametrize(("setting", "text"), [(s, t) for s, t in INVALID_TEXT if s in FILE_KEYS])
def test_invalid_file_value_names_setting_file_and_key(
    tmp_path: Path, setting: str, text: str
) -> None:
    """Every invalid file value raises ConfigError naming the setting, file, profile and key."""
    path = write_config(tmp_path, f"[profile dev]\n{FILE_KEYS[setting]} = {text}\n")
    with pytest.raises(ConfigError) as info:
        IMDSConfig.from_environment(isolated_env(tmp_path, AWS_PROFILE="dev"))
    error = info.value
    assert (error.setting, error.value) == (setting, text)
    assert error.source == f"{path} [profile dev] {FILE_KEYS[setting]}"
    assert f"{path} [profile dev] {FILE_KEYS[setting]}" in str(error)


INVALID_ARGUMENTS: list[tuple[str, object]] = [
    ("disabled", "true"),
    ("disabled", 1),
    ("endpoint", 123),
    ("endpoint", ""),
    ("endpoint", "   "),
    ("endpoint", "not a url"),
    ("endpoint", "http://169.254.169.254/latest/meta-data"),
    ("endpoint", "http://169.254\n.169.254"),
    ("endpoint", "http://169.254.\t169.254"),
    ("endpoint_mode", "ipv5"),
    ("endpoint_mode", 4),
    ("v1_fallback", "false"),
    ("v1_fallback", 0),
    ("timeout", "abc"),
    ("timeout", "1.5"),
    ("timeout", 0),
    ("timeout", -0.5),
    ("timeout", float("nan")),
    ("timeout", float("inf")),
    ("timeout", True),
    ("timeout", 10**400),
    ("num_attempts", True),
    ("num_attempts", 0),
    ("num_attempts", 2.5),
    ("num_attempts", 3.0),
    ("num_attempts", "3"),
    ("token_ttl", 0),
    ("token_ttl", 21601),
    ("token_ttl", -1),
    ("token_ttl", 60.0),
    ("token_ttl", "60"),
    ("token_ttl", False),
]


@pytest.mark.parametrize(("setting", "value"), INVALID_ARGUMENTS)
@pytest.mark.parametrize("how", ["constructor", "from_environment", "replace"])
def test_invalid_argument_names_setting_and_argument(
    tmp_path: Path, setting: str, value: object, how: str
) -> None:
    """Wrong types and out-of-range arguments raise ConfigError whose source is "argument"."""
    kwargs: dict[str, Any] = {setting: value}
    build: dict[str, Callable[[], IMDSConfig]] = {
        "constructor": lambda: IMDSConfig(**kwargs),
        "from_environment": lambda: IMDSConfig.from_environment(isolated_env(tmp_path), **kwargs),
        "replace": lambda: IMDSConfig().replace(**kwargs),
    }
    with pytest.raises(ConfigError) as info:
        build[how]()
    error = info.value
    assert error.setting == setting
    assert error.value is value
    assert error.source == "argument"
    assert f"Invalid {setting}" in str(error)
    assert "(from argument)" in str(error)


def test_constructor_error_uses_given_source() -> None:
    """When sources say where a bad value came from, the error quotes that source."""
    with pytest.raises(ConfigError, match=r"from my-tool --timeout"):
        IMDSConfig(timeout=-1.0, sources={"timeout": "my-tool --timeout"})


def test_v1_disabled_error_explains_inversion(tmp_path: Path) -> None:
    """The v1 error says that true turns the fallback off, since the variable is inverted."""
    env = isolated_env(tmp_path, AWS_EC2_METADATA_V1_DISABLED="on")
    with pytest.raises(ConfigError, match="true turns the IMDSv1 fallback off"):
        IMDSConfig.from_environment(env)


@pytest.mark.parametrize("name", ["sources", "base_url", "retries", "timeout_seconds"])
def test_unknown_keyword_is_a_type_error(tmp_path: Path, name: str) -> None:
    """Misspelt or non-setting keywords are programming errors (TypeError), not config errors."""
    with pytest.raises(TypeError, match=name):
        IMDSConfig.from_environment(isolated_env(tmp_path), **{name: 1})
    with pytest.raises(TypeError, match=name):
        IMDSConfig().replace(**{name: 1})


# --- normalisation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("http://169.254.169.254", "http://169.254.169.254"),
        ("http://169.254.169.254/", "http://169.254.169.254"),
        ("HTTP://169.254.169.254:80/", "http://169.254.169.254:80"),
        ("https://imds.internal.example", "https://imds.internal.example"),
        ("http://localhost:1338", "http://localhost:1338"),
        ("  http://127.0.0.1:65535/  ", "http://127.0.0.1:65535"),
        ("http://[fd00:ec2::254]", "http://[fd00:ec2::254]"),
        ("http://[fd00:ec2::254]/", "http://[fd00:ec2::254]"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
        ("http://my_host-1.example.", "http://my_host-1.example."),
    ],
)
def test_endpoint_normalisation(given: str, normalised: str) -> None:
    """Valid endpoints lose surrounding blanks and the trailing slash; the scheme is lowercased."""
    config = IMDSConfig(endpoint=given)
    assert config.endpoint == normalised
    assert config.base_url == normalised


@pytest.mark.parametrize("mode", ["IPv4", "ipv4", "IPV4", " ipv4 "])
def test_ipv4_mode_spellings(mode: str) -> None:
    """endpoint_mode is case-insensitive and normalised to IPv4 / IPv6."""
    config = IMDSConfig(endpoint_mode=mode)
    assert config.endpoint_mode == "IPv4"
    assert config.base_url == "http://169.254.169.254"


@pytest.mark.parametrize("mode", ["IPv6", "ipv6", "IPV6"])
def test_ipv6_mode_base_url(tmp_path: Path, mode: str) -> None:
    """IPv6 mode without an endpoint talks to [fd00:ec2::254]."""
    env = isolated_env(tmp_path, AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=mode)
    config = IMDSConfig.from_environment(env)
    assert config.endpoint_mode == "IPv6"
    assert config.base_url == "http://[fd00:ec2::254]"


def test_endpoint_wins_over_mode(tmp_path: Path) -> None:
    """An endpoint from any layer wins over the mode from any layer, as in botocore."""
    write_config(tmp_path, "[default]\nec2_metadata_service_endpoint = http://10.0.0.1\n")
    config = IMDSConfig.from_environment(isolated_env(tmp_path), endpoint_mode="IPv6")
    assert config.base_url == "http://10.0.0.1"


def test_timeout_int_becomes_float() -> None:
    """An integer timeout is accepted and stored as a float."""
    config = IMDSConfig(timeout=2)
    assert config.timeout == 2.0
    assert isinstance(config.timeout, float)


@pytest.mark.parametrize(("ttl"), [1, 60, 21600])
def test_token_ttl_bounds_accepted(ttl: int) -> None:
    """token_ttl accepts every value IMDS accepts, 1..21600."""
    assert IMDSConfig(token_ttl=ttl).token_ttl == ttl


# --- the value object -----------------------------------------------------------------------------


def test_frozen_hashable_and_sources_ignored_in_equality() -> None:
    """Configs are immutable values; provenance does not affect equality or hashing."""
    a = IMDSConfig(timeout=2.0, sources={"timeout": "env X"})
    b = IMDSConfig(timeout=2.0)
    assert a == b
    assert hash(a) == hash(b)
    assert "sources" not in repr(a)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.timeout = 3.0  # type: ignore[misc]


def test_direct_construction_labels_sources() -> None:
    """Built directly, non-default values are "argument" and untouched ones "default"."""
    config = IMDSConfig(num_attempts=5, sources={"timeout": "somewhere"})
    assert config.sources == {
        "disabled": "default",
        "endpoint": "default",
        "endpoint_mode": "default",
        "v1_fallback": "default",
        "timeout": "somewhere",
        "num_attempts": "argument",
        "token_ttl": "default",
        "instance_profile_name": "default",
        "extended_credentials": "default",
    }


def test_sources_are_copied() -> None:
    """Mutating the mapping passed in does not change the config's provenance."""
    given = {"timeout": "env X"}
    config = IMDSConfig(sources=given)
    given["timeout"] = "changed"
    assert config.sources["timeout"] == "env X"


def test_replace_changes_and_marks_argument(tmp_path: Path) -> None:
    """replace() returns a new config; changed settings say "argument", others keep their source."""
    env = isolated_env(
        tmp_path, AWS_METADATA_SERVICE_TIMEOUT="2", AWS_METADATA_SERVICE_NUM_ATTEMPTS="4"
    )
    original = IMDSConfig.from_environment(env)
    changed = original.replace(timeout=5, endpoint="http://[::1]:9/", num_attempts=None)
    assert (changed.timeout, changed.endpoint, changed.num_attempts) == (5.0, "http://[::1]:9", 4)
    assert row(changed, "timeout") == (5.0, "argument")
    assert row(changed, "endpoint") == ("http://[::1]:9", "argument")
    assert row(changed, "num_attempts") == (
        4,
        "environment variable AWS_METADATA_SERVICE_NUM_ATTEMPTS",
    )
    assert row(original, "timeout") == (2.0, "environment variable AWS_METADATA_SERVICE_TIMEOUT")


def test_replace_with_nothing_is_equal() -> None:
    """replace() with no changes (or only Nones) gives an equal config with the same sources."""
    config = IMDSConfig(timeout=3.0)
    same = config.replace(timeout=None)
    assert same == config
    assert same.sources == config.sources


def test_replace_to_default_value_still_says_argument() -> None:
    """Explicitly replacing with the default value is reported as an argument."""
    config = IMDSConfig(timeout=3.0).replace(timeout=1.0)
    assert row(config, "timeout") == (1.0, "argument")


def test_describe_lists_every_field_then_base_url(tmp_path: Path) -> None:
    """describe() has one row per setting, in field order, then the resolved base_url."""
    path = write_config(tmp_path, "[default]\nec2_metadata_service_endpoint_mode = ipv6\n")
    config = IMDSConfig.from_environment(
        isolated_env(tmp_path, AWS_EC2_METADATA_DISABLED="true"), token_ttl=600
    )
    assert config.describe() == [
        ("disabled", True, "environment variable AWS_EC2_METADATA_DISABLED"),
        ("endpoint", None, "default"),
        ("endpoint_mode", "IPv6", f"{path} [default] ec2_metadata_service_endpoint_mode"),
        ("v1_fallback", True, "default"),
        ("timeout", 1.0, "default"),
        ("num_attempts", 3, "default"),
        ("token_ttl", 600, "argument"),
        ("instance_profile_name", None, "default"),
        ("extended_credentials", False, "default"),
        (
            "base_url",
            "http://[fd00:ec2::254]",
            f"derived from endpoint_mode ({path} [default] ec2_metadata_service_endpoint_mode)",
        ),
    ]
    names = [field.name for field in dataclasses.fields(IMDSConfig) if field.name != "sources"]
    assert [name for name, _, _ in config.describe()] == [*names, "base_url"]


def test_describe_base_url_source_is_the_endpoints(tmp_path: Path) -> None:
    """With an endpoint set, base_url reports the endpoint's own source."""
    env = isolated_env(tmp_path, AWS_EC2_METADATA_SERVICE_ENDPOINT="http://10.1.2.3/")
    config = IMDSConfig.from_environment(env)
    assert row(config, "base_url") == (
        "http://10.1.2.3",
        "environment variable AWS_EC2_METADATA_SERVICE_ENDPOINT",
    )


def test_module_is_stdlib_only() -> None:
    """The module imports only the standard library, so start-up stays cheap (no pydantic/httpx)."""
    tree = ast.parse(Path(config_module.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    allowed = {"__future__", "collections", "configparser", "dataclasses", "imdsclient"}
    allowed |= {"ipaddress", "math", "os", "typing"}
    assert imported <= allowed
    assert config_module.__all__ == ["IMDSConfig"]


def test_docs_table_matches_the_code() -> None:
    """docs/configuration.md names each setting's variable, key and default as the code does."""
    docs = Path(__file__).parents[2] / "docs" / "configuration.md"
    rows = {
        line.split("|")[1].strip(" `"): line
        for line in docs.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `")
    }
    for setting, default in DEFAULTS.items():
        line = rows[setting]
        assert f"`{ENV_VARS[setting]}`" in line if setting in ENV_VARS else "argument only" in line
        if setting in FILE_KEYS:
            assert f"`{FILE_KEYS[setting]}`" in line
        assert f"`{default}`" in line
    assert set(config_module._ENV_VARS.items()) == set(ENV_VARS.items())
    assert set(config_module._FILE_KEYS.items()) == set(FILE_KEYS.items())


# --- properties -----------------------------------------------------------------------------------


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(sorted(ENV_VARS.values())), text=st.text())
def test_any_env_text_gives_config_or_config_error(tmp_path: Path, name: str, text: str) -> None:
    """Arbitrary text in any variable yields a valid config or a ConfigError, nothing else."""
    source = None
    try:
        config = IMDSConfig.from_environment(isolated_env(tmp_path, **{name: text}))
    except ConfigError as error:
        source = error.source
    else:
        assert config.describe()[-1][1] == config.base_url
    assert source in (None, f"environment variable {name}")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.binary())
def test_any_config_bytes_give_config_or_config_error(tmp_path: Path, content: bytes) -> None:
    """Arbitrary bytes as the config file yield a valid config or a ConfigError, nothing else."""
    (tmp_path / "config").write_bytes(content)
    with contextlib.suppress(ConfigError):
        IMDSConfig.from_environment(isolated_env(tmp_path))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.dictionaries(st.sampled_from(sorted(FILE_KEYS.values())), st.text(), max_size=5),
    profile=st.sampled_from(["default", "dev"]),
)
def test_any_profile_values_give_config_or_config_error(
    tmp_path: Path, values: dict[str, str], profile: str
) -> None:
    """A well-formed profile with arbitrary values yields a config or a ConfigError."""
    section = "default" if profile == "default" else f"profile {profile}"
    lines = [f"[{section}]"] + [f"{key} = {value}" for key, value in values.items()]
    (tmp_path / "config").write_text("\n".join(lines) + "\n", encoding="utf-8", errors="replace")
    with contextlib.suppress(ConfigError):
        IMDSConfig.from_environment(isolated_env(tmp_path, AWS_PROFILE=profile))


# --- instance_profile_name (AWS_EC2_INSTANCE_PROFILE_NAME / ec2_instance_profile_name) -----------


def test_instance_profile_name_from_each_layer(tmp_path: Path) -> None:
    """Argument > environment > file, each with its provenance; unset is None (discover)."""
    path = write_config(tmp_path, "[default]\nec2_instance_profile_name = file-role\n")
    assert row(IMDSConfig.from_environment(isolated_env(tmp_path)), "instance_profile_name") == (
        "file-role",
        f"{path} [default] ec2_instance_profile_name",
    )
    env = isolated_env(tmp_path, AWS_EC2_INSTANCE_PROFILE_NAME=" env-role ")
    assert row(IMDSConfig.from_environment(env), "instance_profile_name") == (
        "env-role",
        "environment variable AWS_EC2_INSTANCE_PROFILE_NAME",
    )
    config = IMDSConfig.from_environment(env, instance_profile_name="arg-role")
    assert row(config, "instance_profile_name") == ("arg-role", "argument")
    assert IMDSConfig().instance_profile_name is None


@pytest.mark.parametrize("bad", ["a/b", "../x", "..", "role name", "x" * 129, "r\u00f4le"])
def test_instance_profile_name_must_be_a_name_imds_lists(tmp_path: Path, bad: str) -> None:
    """A name that cannot be a path segment under security-credentials/ is a ConfigError."""
    env = isolated_env(tmp_path, AWS_EC2_INSTANCE_PROFILE_NAME=bad)
    with pytest.raises(ConfigError, match="AWS_EC2_INSTANCE_PROFILE_NAME") as caught:
        IMDSConfig.from_environment(env)
    assert caught.value.setting == "instance_profile_name"
    with pytest.raises(ConfigError, match="instance_profile_name"):
        IMDSConfig(instance_profile_name=bad)
