"""The official MCP conformance suite against ``promptshelf serve --transport http``.

Both versions run the whole server suite against a store seeded with the prompts its scenarios ask for.
Every scenario is classified by what its checks report: it passes only when every check is SUCCESS or
INFO; a WARNING or SKIPPED check is not a pass (the suite reports those when its substantive check did
not run). The expected classification below is exact: a scenario that fails, warns or skips where it
should pass, a new scenario, or a scenario that starts passing fails the test, with each check's message,
so the classification and the README section "MCP conformance" (checked below) stay true.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import HttpServer, start_http_server
from tests.server.node_tools import NODE, node_env, require

README = Path(__file__).resolve().parents[2] / "README.md"

Checks = list[dict[str, Any]]


@dataclass(frozen=True)
class Expected:
    passing: frozenset[str]
    """Every check SUCCESS or INFO."""
    partly: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Scenario -> the checks that do not pass and the status each reports; every other check passes."""
    not_applicable: frozenset[str] = frozenset()
    """Scenarios that need the suite's fixture tools, resources or prompts: none may pass."""


FIXTURE_TOOLS = {
    "tools-call-simple-text",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-embedded-resource",
    "tools-call-mixed-content",
    "tools-call-error",
    "tools-call-with-progress",
}
FIXTURE_TOOLS_01_ONLY = {
    "tools-call-sampling",
    "tools-call-elicitation",
    "elicitation-sep1034-defaults",
    "elicitation-sep1330-enums",
}
FIXTURE_RESOURCES = {"resources-read-text", "resources-read-binary", "resources-templates-read"}
FIXTURE_PROMPTS = {"prompts-get-embedded-resource", "prompts-get-with-image"}

EXPECTED_01 = Expected(
    passing=frozenset(
        {
            "server-initialize",
            "ping",
            "completion-complete",
            "tools-list",
            "server-sse-multiple-streams",
            "resources-list",
            "prompts-list",
            "prompts-get-simple",
            "prompts-get-with-args",
            "dns-rebinding-protection",
        }
    ),
    not_applicable=frozenset(
        FIXTURE_TOOLS
        | FIXTURE_TOOLS_01_ONLY
        | FIXTURE_RESOURCES
        | FIXTURE_PROMPTS
        | {"resources-subscribe", "resources-unsubscribe", "logging-set-level", "tools-call-with-logging"}
    ),
)

INPUT_REQUIRED_FIXTURES = {
    f"input-required-result-{name}"
    for name in (
        "basic-elicitation",
        "basic-sampling",
        "basic-list-roots",
        "request-state",
        "multiple-input-requests",
        "multi-round",
        "non-tool-request",
        "result-type",
        "tampered-state",
        "capability-check",
        # These two call the fixture tool test_input_required_result_elicitation; promptshelf answers
        # "unknown tool", which the suite reports as a WARNING: their substantive check never runs.
        "missing-input-response",
        "ignore-extra-params",
    )
}
TASKS = {
    f"tasks-{name}"
    for name in (
        "capability-negotiation",
        "dispatch-and-envelope",
        "lifecycle",
        "mrtr-composition",
        "mrtr-input",
        "request-headers",
        "request-state-removal",
        "required-task-error",
        "status-notifications",
        "wire-fields",
    )
}

EXPECTED_02 = Expected(
    passing=frozenset(
        {
            "completion-complete",
            "tools-list",
            "server-sse-multiple-streams",
            "resources-list",
            "sep-2164-resource-not-found",
            "prompts-list",
            "prompts-get-simple",
            "prompts-get-with-args",
            "dns-rebinding-protection",
            "caching",
            "http-header-validation",
            "input-required-result-unsupported-methods",
            "input-required-result-validate-input",
        }
    ),
    partly={
        "server-stateless": {
            # "Not testable": the suite's diagnostic tools test_missing_capability, test_streaming_elicitation
            # and test_logging_tool are not promptshelf's.
            "ServerRejectsUndeclaredCapability": "FAILURE",
            "MissingCapabilityHttp400": "FAILURE",
            "HttpServerNoIndependentRequestsOnStream": "FAILURE",
            "ServerNoLogWithoutLogLevel": "FAILURE",
            # The suite mutates the lists through its hooks test_trigger_prompt_change and
            # test_trigger_tool_change; promptshelf answers "unknown tool", nothing changes, and no
            # notification is due. tests/server/test_notifications.py covers promptshelf's own.
            "ServerSendsPromptsListChangedOnSubscription": "WARNING",
            "ServerSendsToolsListChangedOnSubscription": "WARNING",
        }
    },
    not_applicable=frozenset(
        FIXTURE_TOOLS
        | FIXTURE_RESOURCES
        | FIXTURE_PROMPTS
        | INPUT_REQUIRED_FIXTURES
        | TASKS
        | {"json-schema-2020-12", "http-custom-header-server-validation"}
    ),
)


def outcome(checks: Checks) -> str:
    """pass (every check SUCCESS or INFO), else fail, warning or skipped: the worst status reported."""
    statuses = {str(check.get("status")) for check in checks}
    for status, name in (("FAILURE", "fail"), ("WARNING", "warning"), ("SKIPPED", "skipped")):
        if status in statuses:
            return name
    unknown = statuses - {"SUCCESS", "INFO"}
    return "pass" if checks and not unknown else f"unrecognised statuses {sorted(unknown) or 'none'}"


def describe(checks: Checks) -> str:
    return "; ".join(
        f"{check.get('name')} {check.get('status')}: {check.get('errorMessage') or check.get('description')}"
        for check in checks
        if check.get("status") not in ("SUCCESS", "INFO")
    )


def judge(results: Mapping[str, Checks], expected: Expected) -> list[str]:
    """Every way the results differ from the expected classification, each with the checks' messages."""
    problems = []
    for scenario in sorted(expected.passing | set(expected.partly) | expected.not_applicable):
        if scenario not in results:
            problems.append(f"{scenario} did not run")
    for scenario, checks in sorted(results.items()):
        got = outcome(checks)
        if scenario in expected.passing:
            if got != "pass":
                problems.append(f"{scenario} should pass but is {got}: {describe(checks)}")
        elif scenario in expected.partly:
            allowed = expected.partly[scenario]
            reported = {str(c.get("name")): str(c.get("status")) for c in checks}
            for name, status in sorted(reported.items()):
                if status not in ("SUCCESS", "INFO") and allowed.get(name) != status:
                    problems.append(f"{scenario}: {name} is {status}, expected to pass: {describe(checks)}")
            for name, status in sorted(allowed.items()):
                if reported.get(name, "missing") != status:
                    problems.append(
                        f"{scenario}: {name} was {status} and is now {reported.get(name, 'missing')}: "
                        "update the classification here and in the README"
                    )
        elif scenario in expected.not_applicable:
            if got == "pass":
                problems.append(f"{scenario} now passes: classify it as passing here and in the README")
        else:
            problems.append(f"new scenario {scenario} ({got}): classify it here and in the README")
    return problems


@pytest.fixture(scope="module")
def conformance_server(seeded_db: Path, module_tmp: Path) -> Iterator[HttpServer]:
    server = start_http_server(seeded_db, module_tmp, "--poll-interval", "0.2")
    yield server
    server.stop()


def run_suite(package: str, server: HttpServer, out: Path, *extra: str) -> dict[str, Checks]:
    cli = require(package, "dist/index.js")
    run = subprocess.run(
        [str(NODE), str(cli), "server", "--url", server.url, "-o", str(out), *extra],
        env=node_env(out.parent),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,  # non-zero when any scenario fails; the checks are judged below
    )
    results: dict[str, Checks] = {}
    for checks in out.glob("*/checks.json"):
        scenario = re.sub(r"-\d{4}-\d\d-\d\dT.*$", "", checks.parent.name.removeprefix("server-"))
        results[scenario] = json.loads(checks.read_text())
    assert results, (
        f"the conformance suite produced no results in {out} (exit {run.returncode})\n"
        f"stdout: {run.stdout[-3000:]}\nstderr: {run.stderr[-3000:]}\n"
        f"server log: {server.log.read_text()[-3000:]}"
    )
    return results


def assert_classified(results: Mapping[str, Checks], expected: Expected, server: HttpServer) -> None:
    problems = judge(results, expected)
    assert not problems, "\n".join([*problems, f"server log: {server.log.read_text()[-3000:]}"])


def test_conformance_0_1(conformance_server: HttpServer, tmp_path: Path) -> None:
    results = run_suite("conformance-01", conformance_server, tmp_path / "results")
    assert_classified(results, EXPECTED_01, conformance_server)


def test_conformance_0_2_requirements_2026_07_28(conformance_server: HttpServer, tmp_path: Path) -> None:
    results = run_suite(
        "conformance-02", conformance_server, tmp_path / "results", "--requirements", "2026-07-28"
    )
    assert_classified(results, EXPECTED_02, conformance_server)


def check(name: str, status: str, message: str = "") -> dict[str, Any]:
    return {"name": name, "status": status, "errorMessage": message}


SAMPLE = Expected(
    passing=frozenset({"a"}),
    partly={"p": {"Untestable": "FAILURE"}},
    not_applicable=frozenset({"n"}),
)
SAMPLE_RESULTS: dict[str, Checks] = {
    "a": [check("A", "SUCCESS"), check("Note", "INFO")],
    "p": [check("Real", "SUCCESS"), check("Untestable", "FAILURE", "Not testable")],
    "n": [check("Fixture", "FAILURE", "unknown tool")],
}


def test_the_sample_results_are_as_classified() -> None:
    assert judge(SAMPLE_RESULTS, SAMPLE) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"a": [check("A", "WARNING", "substantive check did not run")]}, "a should pass but is warning"),
        ({"a": [check("A", "SKIPPED")]}, "a should pass but is skipped"),
        ({"a": []}, "a should pass but is unrecognised statuses none"),
        ({"n": [check("Fixture", "SUCCESS")]}, "n now passes"),
        ({"x": [check("X", "FAILURE")]}, "new scenario x (fail)"),
        ({"x": [check("X", "SUCCESS")]}, "new scenario x (pass)"),
        ({"p": [check("Real", "SUCCESS"), check("Untestable", "SUCCESS")]}, "p: Untestable was FAILURE"),
        ({"p": [check("Real", "WARNING"), check("Untestable", "FAILURE")]}, "p: Real is WARNING"),
    ],
)
def test_the_judge_refuses_what_is_not_as_classified(change: dict[str, Checks], problem: str) -> None:
    problems = judge({**SAMPLE_RESULTS, **change}, SAMPLE)
    assert any(found.startswith(problem) for found in problems), problems


def test_the_judge_notices_a_scenario_that_did_not_run() -> None:
    assert judge({"a": SAMPLE_RESULTS["a"], "p": SAMPLE_RESULTS["p"]}, SAMPLE) == ["n did not run"]


def readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## MCP conformance\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, "README has no '## MCP conformance' section"
    return match.group(1)


def listed_after(paragraph_start: str, marker: str) -> set[str]:
    """The code spans after ``marker`` in the README paragraph that starts with ``paragraph_start``."""
    [paragraph] = [p for p in readme_section().split("\n\n") if p.startswith(paragraph_start)]
    return set(re.findall(r"`([^`]+)`", paragraph.split(marker, 1)[1]))


@pytest.mark.parametrize(("version", "expected"), [("**0.1", EXPECTED_01), ("**0.2", EXPECTED_02)])
def test_the_readme_lists_what_passes(version: str, expected: Expected) -> None:
    assert listed_after(version, "pass:") == set(expected.passing)


def test_the_readme_names_every_check_of_the_partly_passing_scenarios() -> None:
    [(scenario, checks)] = EXPECTED_02.partly.items()
    assert set(checks) <= listed_after(f"`{scenario}`", "passes every check")


def test_the_readme_explains_every_scenario_that_does_not_apply() -> None:
    section = readme_section()
    spans = set(re.findall(r"`([^`]+)`", section))
    prefixes = [span.removesuffix("*") for span in spans if span.endswith("-*")]
    unexplained = [
        scenario
        for scenario in sorted(EXPECTED_01.not_applicable | EXPECTED_02.not_applicable)
        if scenario not in spans and not any(scenario.startswith(prefix) for prefix in prefixes)
    ]
    assert unexplained == []
