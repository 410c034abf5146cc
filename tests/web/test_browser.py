"""The web view in a real browser: Debian's Chromium, driven by Playwright, against a real
``promptshelf serve --transport http`` (one server for the module, one browser for the session, a fresh
browser context, so a fresh set of cookies, per test). Writes "from elsewhere" go through MCP with the SDK's
client. Each main page is checked with axe-core and its screenshot written to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.model import Message
from promptshelf.service import Policy, PromptService
from tests.server.conftest import MODERN, HttpServer, open_client, server_env, start_http_server
from tests.web.browser import check_accessible, chromium_path, launch_args, screenshot
from tests.web.conftest import READ_TOKEN, WRITE_TOKEN, XSS, seed

TIMEOUT_MS = 15_000
T = TypeVar("T")


async def _seed(path: Path) -> None:
    store = await SQLiteStore.open(path)
    try:
        service = PromptService(store, Policy(trusted=True, actor="seed"))
        await seed(service)
        for name in ("banner", "banner-cli", "edit-me", "race-me", "label-me"):
            await service.create_prompt(name, template=f"{name}: Hello {{{{who}}}}.\nSecond line.")
        await service.create_prompt("combine-me", template="one\ntwo\nthree\nfour")
        await service.create_prompt("blank-first", template="\nAfter a blank line, {{who}}.")
        await service.create_prompt("blank-chat", messages=[Message(role="user", content="\n\nHi {{who}}")])
    finally:
        await store.aclose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    folder = tmp_path_factory.mktemp("web-browser")
    db = folder / "prompts.db"
    in_thread(_seed, db)
    env = server_env(PROMPTSHELF_TOKEN=WRITE_TOKEN, PROMPTSHELF_READ_TOKEN=READ_TOKEN)
    running = start_http_server(db, folder, "--poll-interval", "0.2", env=env)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One browser for all the browser tests (they are all in this module). Not session-scoped: Playwright's
    sync API holds the main thread's event loop while it runs, which the async tests of other modules need."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=launch_args()
        )
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, server: HttpServer) -> Iterator[BrowserContext]:
    # bypass_csp: axe-core is injected as an inline script; it also means the XSS test checks the
    # escaping itself, not the Content-Security-Policy behind it.
    opened = browser.new_context(
        base_url=server.base, bypass_csp=True, viewport={"width": 1200, "height": 900}
    )
    opened.set_default_timeout(TIMEOUT_MS)
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def sign_in(page: Page, token: str, then: str = "/") -> None:
    page.goto(f"/signin?next={then}")
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{then}")


def mcp_call(server: HttpServer, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A tool call through MCP (the SDK's client over HTTP), from a thread of its own: Playwright's sync
    API owns this one's event loop."""

    async def call() -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {WRITE_TOKEN}"}
        async with open_client(MODERN, "http", url=server.url, headers=headers) as client:
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, result
            assert result.structured_content is not None
            return result.structured_content

    return in_thread(call)


def in_thread(function: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run async code from a test: in a thread of its own, since Playwright's sync API holds this thread's
    event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, function, *args).result(timeout=60)


def test_refused_without_a_token(page: Page) -> None:
    page.goto("/p/greet")
    expect(page).to_have_url("/signin?next=%2Fp%2Fgreet")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_text("Greets someone")).to_have_count(0)
    page.get_by_label("Token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("That token is not valid here")).to_be_visible()
    check_accessible(page)
    screenshot(page, "signin")


def test_list_and_search(page: Page) -> None:
    sign_in(page, READ_TOKEN)
    rows = page.locator("table.prompts tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 9
    greet = rows.filter(has=page.get_by_role("link", name="greet", exact=True))
    expect(greet).to_contain_text("v2")
    expect(greet).to_contain_text("production → v1")
    check_accessible(page)
    screenshot(page, "list")
    page.get_by_label("Search").fill("gree")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Greets someone")
    page.get_by_label("Label").fill("production")
    page.get_by_label("Search").fill("")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)


def test_open_a_prompt_and_render_it_with_a_missing_value(page: Page) -> None:
    sign_in(page, READ_TOKEN)
    page.get_by_role("link", name="greet", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("greet")
    expect(page.locator("pre.template")).to_contain_text("Hi {{name}}, in {{lang}}!")
    expect(page.get_by_role("cell", name="who to greet")).to_be_visible()
    check_accessible(page)
    screenshot(page, "prompt")
    page.get_by_label("name (required)").fill("Ada")
    page.get_by_role("button", name="Render").click()
    lang = page.get_by_label("lang (required)")
    expect(lang).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#" + lang.get_attribute("aria-describedby").split()[0])).to_have_text(  # type: ignore[union-attr]
        "Required: give a value."
    )
    expect(page.get_by_label("name (required)")).to_have_value("Ada")
    check_accessible(page)
    screenshot(page, "prompt-render-error")
    lang.select_option("fr")
    page.get_by_role("button", name="Render").click()
    expect(page.locator("pre.rendered")).to_have_text("Hi Ada, in fr!\nSee you, Ada.")


def test_chat_messages_and_includes(page: Page) -> None:
    sign_in(page, READ_TOKEN, "/p/team/review")
    expect(page.locator("li.message .role")).to_have_text(["system", "user"])
    page.goto("/p/letter")
    page.get_by_role("link", name="{{> footer}}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("footer")


def test_open_a_diff_from_the_history(page: Page) -> None:
    sign_in(page, READ_TOKEN, "/history/greet")
    expect(page.get_by_role("cell", name="shorter")).to_be_visible()
    expect(page.get_by_role("cell", name="first words")).to_be_visible()
    check_accessible(page)
    screenshot(page, "history")
    page.get_by_role("button", name="Compare the chosen versions").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("greet: v1 → v2")
    expect(page.locator("td.text.del mark").first).to_be_visible()
    expect(page.locator("td.text.add mark").first).to_be_visible()
    expect(page.get_by_role("cell", name="temperature")).to_be_visible()
    check_accessible(page)
    screenshot(page, "diff-split")
    page.get_by_label("View").select_option("unified")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("table.diff.unified tr.del")).to_have_count(1)
    check_accessible(page)
    screenshot(page, "diff-unified")


def test_an_xss_attempt_shows_as_text(page: Page) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, READ_TOKEN, "/p/xss")
    expect(page.locator("pre.template")).to_contain_text(XSS)
    expect(page.locator("p.lead")).to_have_text(f"Described as {XSS}")
    assert page.locator("script:not([src])").count() == 0
    page.get_by_role("textbox", name="v (required)").fill(XSS)
    page.get_by_role("button", name="Render").click()
    expect(page.locator("pre.rendered")).to_have_text(f"Before {XSS} after {XSS}")
    page.goto("/?q=xss")
    expect(page.locator("table.prompts")).to_contain_text(XSS)
    assert dialogs == []


def test_no_write_controls_with_a_read_token(page: Page) -> None:
    sign_in(page, READ_TOKEN, "/p/greet")
    expect(page.get_by_text("read only")).to_be_visible()
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    expect(page.get_by_role("link", name="Archive")).to_have_count(0)
    expect(page.get_by_role("button", name="Review the move")).to_have_count(0)
    page.goto("/edit/greet")
    expect(page.get_by_text("Your token grants read access only")).to_be_visible()


def test_move_a_label_with_a_write_token(page: Page, server: HttpServer) -> None:
    sign_in(page, WRITE_TOKEN, "/p/label-me")
    mcp_call(server, "update_prompt", {"name": "label-me", "base_version": 1, "template": "Two {{who}}"})
    page.reload()
    page.get_by_label("Label", exact=True).fill("staging")
    page.get_by_label("to version").fill("1")
    page.get_by_role("button", name="Review the move").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Move the label staging of label-me to v1?")
    check_accessible(page)
    screenshot(page, "label-confirm")
    page.get_by_role("button", name="Move staging to v1").click()
    expect(page.get_by_text("The label was moved.")).to_be_visible()
    page.get_by_label("Label", exact=True).fill("staging")
    page.get_by_label("to version").fill("2")
    page.get_by_role("button", name="Review the move").click()
    expect(page.get_by_text("It points at v1 now.")).to_be_visible()
    expect(page.locator("td.text.add").first).to_contain_text("Two")
    page.get_by_role("button", name="Move staging to v2").click()
    row = page.locator("table.labels tr", has=page.get_by_text("staging", exact=True))
    expect(row).to_contain_text("v2")


def test_the_change_banner_after_a_write_through_mcp(page: Page, server: HttpServer) -> None:
    sign_in(page, READ_TOKEN, "/p/banner")
    notice = page.locator("#change-notice")
    expect(notice).to_be_hidden()
    mcp_call(server, "update_prompt", {"name": "banner", "base_version": 1, "template": "Changed {{who}}"})
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Version 2 of this prompt was published")
    screenshot(page, "change-notice")
    notice.get_by_role("link", name="Reload to see it").click()
    expect(page.locator("pre.template")).to_contain_text("Changed")


def test_the_change_banner_after_a_label_move_by_the_cli_in_another_process(
    page: Page, server: HttpServer
) -> None:
    sign_in(page, READ_TOKEN, "/p/banner-cli")
    notice = page.locator("#change-notice")
    command = [
        sys.executable,
        "-m",
        "promptshelf",
        "label",
        "banner-cli",
        "staging",
        "1",
        "--db",
        str(server.db),
    ]
    subprocess.run(command, env=server_env(), check=True, capture_output=True, timeout=60)
    expect(notice).to_contain_text("labels or details changed")


def test_edit_and_publish_with_the_diff_shown_first(page: Page) -> None:
    sign_in(page, WRITE_TOKEN, "/edit/edit-me")
    expect(page.get_by_role("button", name="Publish as v2")).to_have_count(0)
    check_accessible(page)
    page.get_by_label("Template").fill("edit-me: Hello {{who}}, welcome.\nSecond line.")
    page.get_by_label("Commit message").fill("warmer welcome")
    page.get_by_role("button", name="Review changes").click()
    expect(page.get_by_role("heading", name="Your edit against v1")).to_be_visible()
    expect(page.locator("td.text.add mark")).to_contain_text([", welcome"])
    check_accessible(page)
    screenshot(page, "edit-review")
    page.get_by_role("button", name="Publish as v2").click()
    expect(page.get_by_text("Published.")).to_be_visible()
    expect(page.locator("pre.template")).to_contain_text("Hello {{who}}, welcome.")
    expect(page.get_by_text("“warmer welcome” · by web")).to_be_visible()


def test_publish_over_a_concurrent_change_made_through_mcp(page: Page, server: HttpServer) -> None:
    sign_in(page, WRITE_TOKEN, "/edit/race-me")
    mine = "race-me: Hello {{who}}, mine.\nSecond line."
    page.get_by_label("Template").fill(mine)
    page.get_by_role("button", name="Review changes").click()
    mcp_call(
        server,
        "update_prompt",
        {
            "name": "race-me",
            "base_version": 1,
            "template": "race-me: Hello {{who}}.\nTheirs.",
            "commit_message": "theirs",
        },
    )
    page.get_by_role("button", name="Publish as v2").click()
    expect(page.get_by_text("v2 was published since you started from v1")).to_be_visible()
    expect(page.get_by_label("Template")).to_have_value(mine)
    expect(page.get_by_role("heading", name="Your edit against v2")).to_be_visible()
    expect(page.get_by_role("heading", name="What changed between v1 and v2")).to_be_visible()
    check_accessible(page)
    screenshot(page, "edit-conflict")
    merged = "race-me: Hello {{who}}, mine.\nTheirs."
    page.get_by_label("Template").fill(merged)
    page.get_by_role("button", name="Review changes").click()
    page.get_by_role("button", name="Publish as v3").click()
    expect(page.get_by_text("Published.")).to_be_visible()
    document = mcp_call(server, "get_prompt", {"name": "race-me"})
    assert document["version"] == 3 and document["template"] == merged


def test_an_overtaken_edit_is_combined_with_the_other_change(page: Page, server: HttpServer) -> None:
    sign_in(page, WRITE_TOKEN, "/edit/combine-me")
    page.get_by_label("Template").fill("one\ntwo\nthree\nfour, mine")
    page.get_by_role("button", name="Review changes").click()
    mcp_call(
        server,
        "update_prompt",
        {"name": "combine-me", "base_version": 1, "template": "ONE\ntwo\nthree\nfour"},
    )
    page.get_by_role("button", name="Publish as v2").click()
    expect(page.get_by_text("they can be combined")).to_be_visible()
    check_accessible(page)
    screenshot(page, "edit-combine")
    page.get_by_role("button", name="Use the combined text").click()
    expect(page.get_by_label("Template")).to_have_value("ONE\ntwo\nthree\nfour, mine")
    expect(page.get_by_role("heading", name="Your edit against v2")).to_be_visible()
    page.get_by_role("button", name="Publish as v3").click()
    expect(page.get_by_text("Published.")).to_be_visible()
    assert mcp_call(server, "get_prompt", {"name": "combine-me"})["template"] == "ONE\ntwo\nthree\nfour, mine"


def test_focus_is_visible_when_tabbing(page: Page) -> None:
    sign_in(page, READ_TOKEN, "/p/greet")
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => { const e = document.activeElement; const s = getComputedStyle(e);"
        " return [e.textContent, s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    )
    assert focused[0] == "Skip to content" and focused[1] != "none" and focused[2] >= 2
    page.keyboard.press("Tab")
    style = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert style != "none"


def test_serve_prints_the_web_address(server: HttpServer) -> None:
    assert f"web view at http://127.0.0.1:{server.port}/" in server.log.read_text()


def test_enter_in_an_edit_form_reviews_and_adds_no_message(page: Page) -> None:
    sign_in(page, WRITE_TOKEN, "/edit/team/review")
    page.get_by_label("Message 2 content").fill("Review {{code}} closely")
    page.get_by_label("Commit message").fill("closer")
    page.get_by_label("Commit message").press("Enter")
    expect(page.get_by_role("heading", name="Your edit against v1")).to_be_visible()
    expect(page.get_by_label("Message 3 content")).to_have_count(0)
    check_accessible(page)


def test_a_link_from_another_site_keeps_the_browser_signed_in(page: Page, server: HttpServer) -> None:
    """A SameSite=Strict cookie is not sent when another site (a chat, a mail, a review) links here: the
    page must not answer with a fresh signed-out cookie that replaces the session."""
    sign_in(page, WRITE_TOKEN)
    page.goto(f'data:text/html,<a href="{server.base}/p/greet">the prompt</a>')
    page.get_by_role("link", name="the prompt").click()
    expect(page).to_have_url(f"{server.base}/p/greet")
    expect(page.get_by_role("heading", level=1)).to_have_text("greet")
    expect(page.get_by_text("read and write")).to_be_visible()
    page.goto("/edit/greet")
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit greet")


def text_of(page: Page, selector: str) -> str:
    """The element's text exactly (``to_have_text`` would normalise its white space)."""
    text: str = page.locator(selector).evaluate("node => node.textContent")
    return text


def test_text_that_starts_with_a_blank_line_keeps_it_when_shown_and_edited(page: Page) -> None:
    """An HTML parser drops the first newline after <textarea> and <pre>: the pages must not lose it."""
    sign_in(page, WRITE_TOKEN, "/p/blank-first")
    assert text_of(page, "pre.template") == "\nAfter a blank line, {{who}}."
    page.get_by_label("who").fill("\nyou")
    page.get_by_role("button", name="Render").click()
    assert text_of(page, "pre.rendered") == "\nAfter a blank line, \nyou."
    expect(page.get_by_label("who")).to_have_value("\nyou")
    page.goto("/edit/blank-first")
    expect(page.get_by_label("Template")).to_have_value("\nAfter a blank line, {{who}}.")
    page.get_by_label("Commit message").fill("nothing but a message")
    page.get_by_role("button", name="Review changes").click()
    expect(page.get_by_text("The text is the same.")).to_be_visible()
    page.goto("/edit/blank-chat")
    expect(page.get_by_label("Message 1 content")).to_have_value("\n\nHi {{who}}")
