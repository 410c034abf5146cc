"""``promptshelf copy``: every version's content, config, variables, author and labels arrive, through
the real PostHog fake over HTTP and back to SQLite; an interrupted copy resumes without duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.files.copying import (
    CopyObserver,
    PromptHistory,
    VersionSpec,
    align,
    copy_prompts,
    plan_sync,
    read_history,
)
from promptshelf.model import Message, Variable
from promptshelf.service import Policy, PromptService
from tests.fakes.posthog import FakePostHog, run_fake_posthog
from tests.support.posthog_store import open_posthog
from tests.support.terminal import run_on_terminal

pytestmark = pytest.mark.anyio


async def sqlite_service(path: Path) -> PromptService:
    return PromptService(await SQLiteStore.open(path), Policy(trusted=True, actor="copier"))


async def seed(service: PromptService) -> None:
    """Prompts with several versions, chat and text, config, variables, authors and labels."""
    for index in range(3):
        name = f"prompt_{index}"
        author = PromptService(service.store, Policy(trusted=True, actor=f"author-{index}"))
        await author.create_prompt(
            name,
            template=f"Version one of {name}: {{{{topic}}}}",
            description=f"Prompt {index}",
            tags=["copy", f"n{index}"],
            config={"model": "gpt-4o-mini", "temperature": 0.1 * index},
            variables=[Variable(name="topic", description="What about", default="cats")],
            labels=["production"],
            commit_message="first",
        )
        await service.update_prompt(
            name,
            base_version=1,
            messages=[
                Message(role="system", content=f"You write about {{{{topic}}}} ({name})."),
                Message(role="user", content="Go, {{tone}}."),
            ],
            variables=[Variable(name="tone", enum=["calm", "loud"], required=False)],
            config={"model": "gpt-4o", "max_tokens": 200},
            labels=["staging"],
            commit_message="to chat",
        )
        await service.update_prompt(
            name, base_version=2, template=f"Version three of {name}", config={}, variables=[]
        )


def essence(history: PromptHistory) -> dict[str, Any]:
    """What a copy must preserve: per version content, config, variables, labels, message, author."""
    return {
        "description": history.description,
        "tags": history.tags,
        "versions": [
            {
                **v.model_dump(exclude={"created_at"}),
                "variables": [x.model_dump() for x in v.variables],
            }
            for v in history.versions
        ],
    }


async def everything(service: PromptService) -> dict[str, dict[str, Any]]:
    listing = await service.list_prompts(limit=200)
    return {p.name: essence(await read_history(service, p.name)) for p in listing.prompts}


@pytest.fixture
async def source(tmp_path: Path) -> AsyncIterator[PromptService]:
    service = await sqlite_service(tmp_path / "source.db")
    await seed(service)
    yield service
    await service.store.aclose()


def spec(text: str) -> VersionSpec:
    return VersionSpec(type="text", template=text)


def test_align_finds_the_longest_run_of_the_history_already_there() -> None:
    assert align(["a", "b", "c"], []) == (0, 0)
    assert align(["a", "b", "c"], ["a", "b"]) == (2, 0)
    assert align(["a", "b", "c"], ["x", "y", "a", "b"]) == (2, 2)
    assert align(["a", "b"], ["a", "b", "x"]) == (2, 0)
    assert align(["a", "b"], ["a", "x", "a", "b"]) == (2, 2)
    assert align(["q"], ["a", "b"]) == (0, 2)


def test_plans_cover_fresh_resumed_appended_and_moved_on_destinations() -> None:
    wanted = PromptHistory(
        name="p", versions=[spec("a"), spec("b"), spec("c").model_copy(update={"labels": ["prod"]})]
    )
    fresh = plan_sync(wanted, None)
    assert (fresh.action, len(fresh.publish), fresh.versions) == ("create", 3, {1: 1, 2: 2, 3: 3})
    resumed = plan_sync(wanted, PromptHistory(name="p", versions=[spec("a")]))
    assert ([v.template for v in resumed.publish], resumed.versions) == (["b", "c"], {1: 1, 2: 2, 3: 3})
    other = plan_sync(wanted, PromptHistory(name="p", versions=[spec("x"), spec("y")]))
    assert other.versions == {1: 3, 2: 4, 3: 5}
    assert [(m.label, m.version) for m in other.labels] == [("prod", 5)]
    moved_on = plan_sync(
        wanted, PromptHistory(name="p", versions=[spec("a"), spec("b"), spec("c"), spec("d")])
    )
    assert ([v.template for v in moved_on.publish], moved_on.versions) == (["c"], {1: 1, 2: 2, 3: 5})
    done = plan_sync(
        wanted,
        PromptHistory(name="p", versions=[spec("a"), spec("b"), spec("c")], labels={"prod": 3}),
    )
    assert (done.action, done.publish, done.labels) == ("unchanged", [], [])


async def test_sqlite_to_posthog_to_sqlite_preserves_every_version(
    source: PromptService, tmp_path: Path
) -> None:
    expected = await everything(source)
    async with open_posthog() as (posthog_store, _fake):
        posthog = PromptService(posthog_store, Policy(trusted=True, actor="copier"))
        there = await copy_prompts(
            source, posthog, source_name="sqlite:source.db", destination_name="posthog"
        )
        assert (there.complete, there.count("create"), there.versions_written) == (True, 3, 9)
        assert all(p.versions == {1: 1, 2: 2, 3: 3} for p in there.prompts)
        assert await everything(posthog) == expected
        back_service = await sqlite_service(tmp_path / "back.db")
        try:
            back = await copy_prompts(
                posthog, back_service, source_name="posthog", destination_name="sqlite:back"
            )
            assert back.versions_written == 9
            assert await everything(back_service) == expected
            again = await copy_prompts(
                posthog, back_service, source_name="posthog", destination_name="sqlite:back"
            )
            assert (again.count("unchanged"), again.versions_written) == (3, 0)
        finally:
            await back_service.store.aclose()


class StopAfter(CopyObserver):
    """Interrupts the copy (as Ctrl-C would) once ``limit`` versions have been written."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.written = 0

    def version_written(self, name: str, version: int) -> None:
        self.written += 1
        if self.written == self.limit:
            raise KeyboardInterrupt


@pytest.mark.parametrize("limit", [1, 4, 8])
async def test_an_interrupted_copy_resumes_to_exactly_one_copy(source: PromptService, limit: int) -> None:
    expected = await everything(source)
    async with open_posthog() as (posthog_store, _fake):
        posthog = PromptService(posthog_store, Policy(trusted=True))
        with pytest.raises(KeyboardInterrupt):
            await copy_prompts(
                source, posthog, source_name="a", destination_name="b", observer=StopAfter(limit)
            )
        resumed = await copy_prompts(source, posthog, source_name="a", destination_name="b")
        assert resumed.versions_written == 9 - limit
        assert await everything(posthog) == expected


async def test_a_destination_with_its_own_versions_gets_the_copy_after_them(
    source: PromptService, tmp_path: Path
) -> None:
    destination = await sqlite_service(tmp_path / "dest.db")
    try:
        await destination.create_prompt("prompt_1", template="Someone else's prompt", labels=["production"])
        report = await copy_prompts(source, destination, source_name="a", destination_name="b")
        [result] = [p for p in report.prompts if p.name == "prompt_1"]
        assert (result.action, result.versions) == ("update", {1: 2, 2: 3, 3: 4})
        copied = await read_history(destination, "prompt_1")
        assert copied.versions[0].template == "Someone else's prompt"
        assert copied.labels == {"production": 2, "staging": 3}
        again = await copy_prompts(source, destination, source_name="a", destination_name="b")
        assert again.versions_written == 0
    finally:
        await destination.store.aclose()


async def test_a_name_the_destination_cannot_store_fails_alone(tmp_path: Path) -> None:
    source = await sqlite_service(tmp_path / "s.db")
    try:
        await source.create_prompt("team/summarize", template="Folders are fine in SQLite")
        await source.create_prompt("plain", template="This one copies")
        async with open_posthog() as (posthog_store, _fake):
            posthog = PromptService(posthog_store, Policy(trusted=True))
            report = await copy_prompts(source, posthog, source_name="a", destination_name="posthog")
            failed, copied = report.prompts[1], report.prompts[0]
            assert (copied.name, copied.action) == ("plain", "create")
            assert failed.action == "failed" and failed.error is not None
            assert failed.error["code"] == "invalid_argument"
            assert "PostHog cannot store a prompt named 'team/summarize'" in failed.error["message"]
    finally:
        await source.store.aclose()


async def test_a_dry_run_reports_and_writes_nothing(source: PromptService, tmp_path: Path) -> None:
    destination = await sqlite_service(tmp_path / "dest.db")
    try:
        report = await copy_prompts(source, destination, source_name="a", destination_name="b", dry_run=True)
        assert (report.count("create"), report.versions_written) == (3, 9)
        assert (await destination.list_prompts()).prompts == []
    finally:
        await destination.store.aclose()


# -- the command, as a process ---------------------------------------------------------------------


def promptshelf(*args: str, env: dict[str, str], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "promptshelf", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def posthog_env(url: str, fake: FakePostHog) -> dict[str, str]:
    return {
        **os.environ,
        "POSTHOG_HOST": url,
        "POSTHOG_PROJECT_ID": fake.project_id,
        "POSTHOG_PERSONAL_API_KEY": fake.api_key,
    }


def writes(fake: FakePostHog) -> int:
    return sum(1 for r in list(fake.requests) if r.method in ("POST", "PATCH") and r.status < 300)


async def test_copy_killed_mid_run_then_run_again_copies_everything_once(
    source: PromptService, tmp_path: Path
) -> None:
    expected = await everything(source)
    fake = FakePostHog(publish_limit=None, latency=0.05)
    with run_fake_posthog(fake) as url:
        env = posthog_env(url, fake)
        args = ("copy", "--from", f"sqlite:{tmp_path / 'source.db'}", "--to", "posthog", "--json")
        process = promptshelf(*args, env=env)
        deadline = time.monotonic() + 60
        # The fake records requests in its own thread: poll its log.
        while writes(fake) < 4 and time.monotonic() < deadline and process.poll() is None:  # noqa: ASYNC110
            await anyio.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert 4 <= writes(fake) < 9 + 6  # killed part way: some, not all, versions and labels written
        fake.latency = 0.0
        rerun = promptshelf(*args, env=env)
        out, err = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, err
        report = json.loads(out)
        assert report["complete"] is True
        assert report["totals"]["failed"] == 0
        async with open_posthog(fake) as (posthog_store, _):
            assert await everything(PromptService(posthog_store)) == expected


async def test_the_command_prints_a_summary_and_exits_non_zero_on_failures(tmp_path: Path) -> None:
    service = await sqlite_service(tmp_path / "s.db")
    try:
        await service.create_prompt("ok", template="fine")
        await service.create_prompt("a/b", template="PostHog refuses folders")
    finally:
        await service.store.aclose()
    fake = FakePostHog(publish_limit=None)
    with run_fake_posthog(fake) as url:
        process = promptshelf(
            "copy", "--from", f"sqlite:{tmp_path / 's.db'}", "--to", "posthog", env=posthog_env(url, fake)
        )
        out, err = process.communicate(timeout=120)
    assert process.returncode == 2, err
    assert "create ok: 1 versions" in out
    assert "failed a/b: PostHog cannot store a prompt named 'a/b'" in out
    assert "2 prompts, 1 created, 0 updated, 0 unchanged, 1 failed; 1 versions written" in out


def test_a_progress_bar_is_drawn_on_a_terminal(tmp_path: Path) -> None:
    async def make() -> None:
        service = await sqlite_service(tmp_path / "s.db")
        try:
            await seed(service)
        finally:
            await service.store.aclose()

    anyio.run(make)
    run = run_on_terminal(
        "copy", "--from", f"sqlite:{tmp_path / 's.db'}", "--to", f"sqlite:{tmp_path / 'd.db'}"
    )
    assert run.returncode == 0
    assert b"copy" in run.drawn and b"3/3" in run.drawn
    assert "3 prompts, 3 created" in run.stdout
