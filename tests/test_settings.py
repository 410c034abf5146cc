"""The configuration contract (DESIGN.md, "Running it"): which environment variables are read, their
defaults, how flags override them, how a bad value is refused, and that secrets never leak.

Unit tests build ``Settings`` from a cleaned environment; the rest run the real ``promptshelf`` command
(a process, on real SQLite files, or against the fake vendor servers on 127.0.0.1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from pydantic import SecretStr, ValidationError

from promptshelf.cli.base import build_settings
from promptshelf.settings import BackendName, Settings
from tests.fakes.posthog import FakePostHog, run_fake_posthog
from tests.fakes.statsig import FakeStatsig, run_fake_statsig

OUR_PREFIXES = ("PROMPTSHELF_", "POSTHOG_", "STATSIG_")

TOKEN = "tok-write-7f3a9c1e5b"
READ_TOKEN = "tok-read-2d8e6b4a0c"
POSTHOG_KEY = "phx_settings_test_secret_91b2"
STATSIG_KEY = "console-settings-test-secret-5c7d"
PG_URL = "postgresql://team:pg-settings-secret-3e1f@db.internal:5432/prompts"
SECRETS = {
    "PROMPTSHELF_TOKEN": TOKEN,
    "PROMPTSHELF_READ_TOKEN": READ_TOKEN,
    "POSTHOG_PERSONAL_API_KEY": POSTHOG_KEY,
    "STATSIG_CONSOLE_API_KEY": STATSIG_KEY,
    "PROMPTSHELF_DATABASE_URL": PG_URL,
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the machine running the tests; HOME is a fresh folder."""
    for key in list(os.environ):
        if key.startswith(OUR_PREFIXES):
            monkeypatch.delenv(key)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def promptshelf(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the real command with the (cleaned) environment plus ``env``; never raises on failure."""
    return subprocess.run(
        [sys.executable, "-m", "promptshelf", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stderr
    return done


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(done).stdout)


# -- defaults ------------------------------------------------------------------------------------------


def test_the_documented_defaults(tmp_path: Path) -> None:
    settings = Settings()
    assert settings.backend == "sqlite"
    assert settings.db == tmp_path / "home" / ".local" / "share" / "promptshelf" / "prompts.db"
    assert settings.label == "latest"
    assert settings.read_only is False
    assert settings.allow_labels == []
    assert settings.protected_labels == ["production"]
    assert settings.cache_ttl == 60
    assert settings.effective_poll_interval == 1
    assert settings.token is None and settings.read_token is None
    assert settings.posthog_host == "https://us.posthog.com"
    assert settings.posthog_project_id is None and settings.posthog_personal_api_key is None
    assert settings.statsig_api_url == "https://statsigapi.net"
    assert settings.statsig_console_api_key is None
    assert settings.statsig_respect_review_settings is False


def test_the_db_default_honours_xdg_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert Settings().db == tmp_path / "data" / "promptshelf" / "prompts.db"


def test_an_empty_xdg_data_home_falls_back_to_local_share(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", "")
    assert Settings().db == tmp_path / "home" / ".local" / "share" / "promptshelf" / "prompts.db"


@pytest.mark.parametrize(("backend", "seconds"), [("sqlite", 1.0), ("posthog", 30.0), ("statsig", 30.0)])
def test_the_poll_interval_defaults_to_1s_for_sqlite_and_30s_for_vendors(
    backend: BackendName, seconds: float
) -> None:
    assert Settings(backend=backend).effective_poll_interval == seconds


def test_the_poll_interval_defaults_to_1s_for_postgres() -> None:
    assert Settings(backend="postgres", database_url=PG_URL).effective_poll_interval == 1.0


def test_postgres_needs_a_database_url_and_sane_pool_sizes() -> None:
    with pytest.raises(click.UsageError, match="--backend postgres needs --database-url"):
        build_settings(backend="postgres")
    with pytest.raises(click.UsageError, match=r"pool_min_size \(5\) is larger than pool_max_size \(2\)"):
        build_settings(database_url=PG_URL, pool_min_size=5, pool_max_size=2)
    with pytest.raises(click.UsageError, match=r"pool_timeout \(--pool-timeout / PROMPTSHELF_POOL_TIMEOUT\)"):
        build_settings(pool_timeout=0)


def test_a_given_poll_interval_wins_over_the_backend_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTSHELF_POLL_INTERVAL", "2.5")
    assert Settings(backend="posthog").effective_poll_interval == 2.5


def test_the_cli_default_store_is_created_under_xdg_data_home(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    ok(promptshelf("publish", "p", env=env, stdin="x"))
    assert (tmp_path / "data" / "promptshelf" / "prompts.db").is_file()
    assert not (tmp_path / "home").exists()


# -- every environment variable is read ------------------------------------------------------------

# (environment variable, value, field, value read); secrets are compared by their secret value.
ENVIRONMENT: list[tuple[str, str, str, Any]] = [
    ("PROMPTSHELF_BACKEND", "statsig", "backend", "statsig"),
    ("PROMPTSHELF_DB", "/srv/prompts/team.db", "db", Path("/srv/prompts/team.db")),
    ("PROMPTSHELF_DATABASE_URL", PG_URL, "database_url", PG_URL),
    ("PROMPTSHELF_POOL_MIN_SIZE", "3", "pool_min_size", 3),
    ("PROMPTSHELF_POOL_MAX_SIZE", "30", "pool_max_size", 30),
    ("PROMPTSHELF_POOL_TIMEOUT", "2.5", "pool_timeout", 2.5),
    ("PROMPTSHELF_LABEL", "staging", "label", "staging"),
    ("PROMPTSHELF_READ_ONLY", "1", "read_only", True),
    ("PROMPTSHELF_ALLOW_LABELS", "production", "allow_labels", ["production"]),
    ("PROMPTSHELF_PROTECTED_LABELS", "qa", "protected_labels", ["qa"]),
    ("PROMPTSHELF_CACHE_TTL", "5", "cache_ttl", 5.0),
    ("PROMPTSHELF_POLL_INTERVAL", "0.25", "poll_interval", 0.25),
    ("PROMPTSHELF_TOKEN", TOKEN, "token", TOKEN),
    ("PROMPTSHELF_READ_TOKEN", READ_TOKEN, "read_token", READ_TOKEN),
    ("PROMPTSHELF_MAX_SESSIONS_PER_TOKEN", "7", "max_sessions_per_token", 7),
    ("PROMPTSHELF_SESSION_IDLE_TIMEOUT", "90", "session_idle_timeout", 90.0),
    ("PROMPTSHELF_HEADER_TIMEOUT", "2.5", "header_timeout", 2.5),
    ("PROMPTSHELF_BODY_TIMEOUT", "4", "body_timeout", 4.0),
    ("PROMPTSHELF_MAX_CONNECTIONS", "64", "max_connections", 64),
    ("POSTHOG_HOST", "https://eu.posthog.com", "posthog_host", "https://eu.posthog.com"),
    ("POSTHOG_PROJECT_ID", "4242", "posthog_project_id", "4242"),
    ("POSTHOG_PERSONAL_API_KEY", POSTHOG_KEY, "posthog_personal_api_key", POSTHOG_KEY),
    ("STATSIG_API_URL", "https://statsig.example", "statsig_api_url", "https://statsig.example"),
    ("STATSIG_CONSOLE_API_KEY", STATSIG_KEY, "statsig_console_api_key", STATSIG_KEY),
    (
        "PROMPTSHELF_STATSIG_RESPECT_REVIEW_SETTINGS",
        "true",
        "statsig_respect_review_settings",
        True,
    ),
]


def read(settings: Settings, field: str) -> Any:
    value = getattr(settings, field)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"), ENVIRONMENT, ids=[e[0] for e in ENVIRONMENT]
)
def test_each_environment_variable_sets_its_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str, expected: Any
) -> None:
    monkeypatch.setenv(variable, value)
    assert read(Settings(), field) == expected


def test_the_table_above_covers_every_setting() -> None:
    assert sorted(field for _, _, field, _ in ENVIRONMENT) == sorted(Settings.model_fields)


@pytest.mark.parametrize("value", ["1", "true", "True", "yes", "on"])
def test_read_only_accepts_the_usual_words_for_on(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PROMPTSHELF_READ_ONLY", value)
    assert Settings().read_only is True


@pytest.mark.parametrize("value", ["0", "false", "no", "off"])
def test_read_only_accepts_the_usual_words_for_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PROMPTSHELF_READ_ONLY", value)
    assert Settings().read_only is False


def test_a_zero_cache_ttl_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTSHELF_CACHE_TTL", "0")
    assert Settings().cache_ttl == 0


# -- list settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["PROMPTSHELF_ALLOW_LABELS", "PROMPTSHELF_PROTECTED_LABELS"])
def test_list_settings_are_comma_separated_and_trimmed(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, " production, staging ,,qa ")
    field = variable.removeprefix("PROMPTSHELF_").lower()
    assert getattr(Settings(), field) == ["production", "staging", "qa"]


def test_an_empty_protected_labels_variable_protects_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTSHELF_PROTECTED_LABELS", "")
    assert Settings().protected_labels == []


# -- flags override the environment ----------------------------------------------------------------


def test_given_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTSHELF_BACKEND", "posthog")
    monkeypatch.setenv("PROMPTSHELF_DB", "/from/env.db")
    monkeypatch.setenv("PROMPTSHELF_LABEL", "staging")
    monkeypatch.setenv("PROMPTSHELF_ALLOW_LABELS", "production")
    monkeypatch.setenv("PROMPTSHELF_PROTECTED_LABELS", "production,staging")
    monkeypatch.setenv("PROMPTSHELF_CACHE_TTL", "5")
    monkeypatch.setenv("PROMPTSHELF_POLL_INTERVAL", "9")
    settings = build_settings(
        backend="sqlite",
        db=Path("/from/flag.db"),
        default_label="candidate",
        allow_labels=("qa",),
        protected_labels=("qa", "release"),
        cache_ttl=1.5,
        poll_interval=0.5,
    )
    assert settings.backend == "sqlite"
    assert settings.db == Path("/from/flag.db")
    assert settings.label == "candidate"
    assert settings.allow_labels == ["qa"]
    assert settings.protected_labels == ["qa", "release"]
    assert (settings.cache_ttl, settings.poll_interval) == (1.5, 0.5)


def test_flags_not_given_leave_the_environment_in_force(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTSHELF_LABEL", "staging")
    monkeypatch.setenv("PROMPTSHELF_PROTECTED_LABELS", "production,staging")
    monkeypatch.setenv("PROMPTSHELF_READ_ONLY", "true")
    # What click passes for flags that were not given: None, and () for repeatable ones.
    settings = build_settings(default_label=None, protected_labels=(), allow_labels=(), read_only=None)
    assert settings.label == "staging"
    assert settings.protected_labels == ["production", "staging"]
    assert settings.read_only is True


def test_the_db_flag_beats_promptshelf_db(tmp_path: Path) -> None:
    from_env, from_flag = tmp_path / "env.db", tmp_path / "flag.db"
    ok(promptshelf("publish", "in-env", "--db", str(from_env), stdin="x"))
    ok(promptshelf("publish", "in-flag", "--db", str(from_flag), stdin="x"))
    env = {"PROMPTSHELF_DB": str(from_env)}
    assert [p["name"] for p in as_json(promptshelf("ls", "--json", env=env))["prompts"]] == ["in-env"]
    listed = as_json(promptshelf("ls", "--json", "--db", str(from_flag), env=env))
    assert [p["name"] for p in listed["prompts"]] == ["in-flag"]


def test_the_label_flag_beats_promptshelf_label_and_chooses_what_show_returns(tmp_path: Path) -> None:
    env = {"PROMPTSHELF_DB": str(tmp_path / "prompts.db")}
    for text in ("one", "two", "three"):
        ok(promptshelf("publish", "p", env=env, stdin=text))
    ok(promptshelf("label", "p", "staging", "1", env=env))
    ok(promptshelf("label", "p", "candidate", "2", env=env))

    assert as_json(promptshelf("show", "p", "--json", env=env))["template"] == "three"
    staged = {**env, "PROMPTSHELF_LABEL": "staging"}
    assert as_json(promptshelf("show", "p", "--json", env=staged))["template"] == "one"
    shown = as_json(promptshelf("show", "p", "--json", "--label", "candidate", env=staged))
    assert (shown["version"], shown["template"]) == (2, "two")
    # An explicit --at still wins over the default label, wherever that came from.
    assert as_json(promptshelf("show", "p", "--json", "--at", "latest", env=staged))["version"] == 3


def test_a_default_label_that_no_version_carries_is_not_found(tmp_path: Path) -> None:
    env = {"PROMPTSHELF_DB": str(tmp_path / "prompts.db")}
    ok(promptshelf("publish", "p", env=env, stdin="one"))
    done = promptshelf("show", "p", "--label", "nowhere", env=env)
    assert done.returncode == 3 and "nowhere" in done.stderr


# -- invalid values are refused cleanly ------------------------------------------------------------

# (environment variable, bad value, the setting the error names, a fragment of the explanation)
INVALID: list[tuple[str, str, str, str]] = [
    ("PROMPTSHELF_CACHE_TTL", "-1", "cache_ttl", "greater than or equal to 0"),
    ("PROMPTSHELF_CACHE_TTL", "soon", "cache_ttl", "valid number"),
    ("PROMPTSHELF_BACKEND", "mysql", "backend", "'sqlite', 'postgres', 'posthog' or 'statsig'"),
    ("PROMPTSHELF_LABEL", "Bad Label", "label", "invalid label 'Bad Label'"),
    ("PROMPTSHELF_POLL_INTERVAL", "0", "poll_interval", "greater than 0"),
    ("PROMPTSHELF_READ_ONLY", "maybe", "read_only", "valid boolean"),
    ("PROMPTSHELF_PROTECTED_LABELS", "production,Not Valid", "protected_labels", "invalid label 'Not Valid'"),
    ("PROMPTSHELF_ALLOW_LABELS", "PRODUCTION", "allow_labels", "invalid label 'PRODUCTION'"),
    ("PROMPTSHELF_MAX_SESSIONS_PER_TOKEN", "0", "max_sessions_per_token", "greater than or equal to 1"),
    ("PROMPTSHELF_HEADER_TIMEOUT", "inf", "header_timeout", "finite number"),
]
INVALID_IDS = [f"{variable}={value}" for variable, value, _, _ in INVALID]


@pytest.mark.parametrize(("variable", "value", "field", "explanation"), INVALID, ids=INVALID_IDS)
def test_settings_refuse_an_invalid_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str, explanation: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert [error["loc"][0] for error in raised.value.errors()] == [field]
    assert explanation in str(raised.value)


@pytest.mark.parametrize("command", ["ls", "serve"])
@pytest.mark.parametrize(("variable", "value", "field", "explanation"), INVALID, ids=INVALID_IDS)
def test_an_invalid_environment_value_is_a_clean_usage_error(
    tmp_path: Path, command: str, variable: str, value: str, field: str, explanation: str
) -> None:
    # serve must refuse before it starts: a server that started would exit 0 when stdin closes (or hang).
    done = subprocess.run(
        [sys.executable, "-m", "promptshelf", command],
        stdin=subprocess.PIPE,
        capture_output=True,
        text=True,
        env={**os.environ, "PROMPTSHELF_DB": str(tmp_path / "p.db"), variable: value},
        timeout=30,
    )
    assert done.returncode == 2
    # The message names the setting as the user wrote it: the field, its flag and its variable.
    assert f"Error: invalid settings: {field} (--" in done.stderr and f" / {variable}): " in done.stderr
    assert explanation in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not (tmp_path / "p.db").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--cache-ttl", "-1"], "invalid settings: cache_ttl (--cache-ttl / PROMPTSHELF_CACHE_TTL): "),
        (
            ["--poll-interval", "0"],
            "invalid settings: poll_interval (--poll-interval / PROMPTSHELF_POLL_INTERVAL): ",
        ),
        (
            ["--label", "Bad Label"],
            "invalid settings: label (--label / PROMPTSHELF_LABEL): invalid label 'Bad Label'",
        ),
        (
            ["--protect-label", "Bad"],
            "invalid settings: protected_labels (--protect-label / PROMPTSHELF_PROTECTED_LABELS): "
            "invalid label 'Bad'",
        ),
        (
            ["--allow-label", "a b"],
            "invalid settings: allow_labels (--allow-label / PROMPTSHELF_ALLOW_LABELS): invalid label 'a b'",
        ),
        (["--backend", "mysql"], "'mysql' is not one of 'sqlite', 'postgres', 'posthog', 'statsig'"),
        (["--cache-ttl", "soon"], "'soon' is not a valid float"),
    ],
)
def test_an_invalid_flag_is_a_clean_usage_error(tmp_path: Path, flags: list[str], message: str) -> None:
    done = promptshelf("ls", "--db", str(tmp_path / "p.db"), *flags)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_a_vendor_backend_without_credentials_names_the_missing_variable(tmp_path: Path) -> None:
    posthog = promptshelf("ls", "--backend", "posthog")
    assert posthog.returncode == 2 and "POSTHOG_PROJECT_ID" in posthog.stderr
    missing_key = promptshelf("ls", "--backend", "posthog", env={"POSTHOG_PROJECT_ID": "1"})
    assert missing_key.returncode == 2 and "POSTHOG_PERSONAL_API_KEY" in missing_key.stderr
    statsig = promptshelf("ls", "--backend", "statsig")
    assert statsig.returncode == 2 and "STATSIG_CONSOLE_API_KEY" in statsig.stderr
    assert "Traceback" not in posthog.stderr + missing_key.stderr + statsig.stderr


# -- secrets ---------------------------------------------------------------------------------------


def assert_no_secret(text: str) -> None:
    for name, secret in SECRETS.items():
        assert secret not in text, f"{name} leaked"


@pytest.fixture
def secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, secret in SECRETS.items():
        monkeypatch.setenv(name, secret)
    yield


@pytest.mark.usefixtures("secrets_in_env")
def test_secrets_are_readable_but_hidden_from_repr_str_and_dumps() -> None:
    settings = Settings()
    assert settings.token is not None and settings.token.get_secret_value() == TOKEN
    for shown in (repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())):
        assert_no_secret(shown)
        assert "**********" in shown


@pytest.mark.usefixtures("secrets_in_env")
@pytest.mark.parametrize(("variable", "value", "field", "explanation"), INVALID, ids=INVALID_IDS)
def test_an_invalid_setting_does_not_echo_secrets(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str, explanation: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert_no_secret(str(raised.value))
    assert_no_secret(repr(raised.value.errors()))


@pytest.mark.usefixtures("secrets_in_env")
def test_cli_errors_never_print_a_secret(tmp_path: Path) -> None:
    failures = [
        promptshelf("ls", "--cache-ttl", "-1"),
        promptshelf("ls", env={"PROMPTSHELF_LABEL": "Bad Label"}),
        promptshelf("ls", "--backend", "posthog"),  # no POSTHOG_PROJECT_ID
        promptshelf("show", "missing", "--db", str(tmp_path / "p.db")),
        promptshelf("show", "missing", "--db", str(tmp_path / "p.db"), "--json"),
    ]
    assert [done.returncode for done in failures] == [2, 2, 2, 3, 3]
    for done in failures:
        assert_no_secret(done.stdout + done.stderr)


def test_posthog_variables_reach_the_vendor_and_a_wrong_key_is_not_printed() -> None:
    fake = FakePostHog(api_key=POSTHOG_KEY)
    with run_fake_posthog(fake) as url:
        env = {
            "POSTHOG_HOST": url,
            "POSTHOG_PROJECT_ID": fake.project_id,
            "POSTHOG_PERSONAL_API_KEY": POSTHOG_KEY,
        }
        ok(promptshelf("publish", "hello", "--backend", "posthog", env=env, stdin="Hi {{name}}"))
        listed = as_json(promptshelf("ls", "--json", env={**env, "PROMPTSHELF_BACKEND": "posthog"}))
        assert [p["name"] for p in listed["prompts"]] == ["hello"]

        wrong = "phx_wrong_key_must_not_be_printed"
        for extra in ([], ["--json"]):
            done = promptshelf(
                "ls", "--backend", "posthog", *extra, env={**env, "POSTHOG_PERSONAL_API_KEY": wrong}
            )
            assert done.returncode == 5, done.stderr
            assert wrong not in done.stdout + done.stderr and "Traceback" not in done.stderr


def test_statsig_variables_reach_the_vendor_and_a_wrong_key_is_not_printed() -> None:
    fake = FakeStatsig(api_key=STATSIG_KEY)
    with run_fake_statsig(fake) as url:
        env = {
            "STATSIG_API_URL": url,
            "STATSIG_CONSOLE_API_KEY": STATSIG_KEY,
            "PROMPTSHELF_BACKEND": "statsig",
        }
        ok(promptshelf("publish", "hello", env=env, stdin="Hi {{name}}"))
        assert [p["name"] for p in as_json(promptshelf("ls", "--json", env=env))["prompts"]] == ["hello"]

        wrong = "console-wrong-key-must-not-be-printed"
        for extra in ([], ["--json"]):
            done = promptshelf("ls", *extra, env={**env, "STATSIG_CONSOLE_API_KEY": wrong})
            assert done.returncode == 5, done.stderr
            assert wrong not in done.stdout + done.stderr and "Traceback" not in done.stderr


# -- read-only -------------------------------------------------------------------------------------


@pytest.fixture
def store_with_a_prompt(tmp_path: Path) -> dict[str, str]:
    """An environment pointing at a store holding ``p`` (v1, v2), and a prompt file to import."""
    env = {"PROMPTSHELF_DB": str(tmp_path / "prompts.db")}
    ok(promptshelf("publish", "p", env=env, stdin="one"))
    ok(promptshelf("publish", "p", env=env, stdin="two"))
    (tmp_path / "new.md").write_text("---\nname: new\n---\nA new prompt\n")
    return env


WRITES: list[list[str]] = [
    ["publish", "p"],
    ["publish", "brand-new"],
    ["label", "p", "staging", "1"],
    ["label", "p", "staging", "--remove"],
    ["archive", "p", "--yes"],
    ["import", "{tmp}/new.md"],
]


@pytest.mark.parametrize("value", ["1", "true", "yes"])
@pytest.mark.parametrize("command", WRITES, ids=[" ".join(c) for c in WRITES])
def test_promptshelf_read_only_makes_write_commands_refuse(
    store_with_a_prompt: dict[str, str], tmp_path: Path, value: str, command: list[str]
) -> None:
    env = {**store_with_a_prompt, "PROMPTSHELF_READ_ONLY": value}
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in command]
    done = promptshelf(*args, env=env, stdin="three")
    assert done.returncode == 2 and "read-only" in done.stderr and "Traceback" not in done.stderr
    # Nothing changed, and reads still work in read-only mode.
    listed = as_json(promptshelf("ls", "--json", env=env))["prompts"]
    assert [(p["name"], p["latest_version"], p["labels"]) for p in listed] == [("p", 2, {})]


def test_read_only_still_allows_reads_and_dry_runs(
    store_with_a_prompt: dict[str, str], tmp_path: Path
) -> None:
    env = {**store_with_a_prompt, "PROMPTSHELF_READ_ONLY": "1"}
    assert as_json(promptshelf("show", "p", "--json", env=env))["template"] == "two"
    ok(promptshelf("history", "p", env=env))
    ok(promptshelf("diff", "p", "1", env=env))
    ok(promptshelf("render", "p", env=env))
    ok(promptshelf("export", str(tmp_path / "out"), env=env))
    ok(promptshelf("import", str(tmp_path / "new.md"), "--dry-run", env=env))
    assert (tmp_path / "out" / "p.md").is_file()


def test_read_only_refuses_to_copy_into_a_store(store_with_a_prompt: dict[str, str], tmp_path: Path) -> None:
    env = {"PROMPTSHELF_READ_ONLY": "yes"}
    source = f"sqlite:{store_with_a_prompt['PROMPTSHELF_DB']}"
    destination = tmp_path / "copy.db"
    done = promptshelf("copy", "--from", source, "--to", f"sqlite:{destination}", env=env)
    assert done.returncode == 2 and "read-only" in done.stderr
    assert not destination.exists()
    ok(promptshelf("copy", "--from", source, "--to", f"sqlite:{destination}", "--dry-run", env=env))
