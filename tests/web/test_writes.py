"""Writes from the web view: edit, review the diff, publish (and publish over someone else's change),
label moves and removals behind a confirmation with the diff, archive; and the change notice's answers."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from promptshelf.limits import MAX_TEMPLATE_LENGTH
from promptshelf.model import Message, Variable
from promptshelf.service import Policy
from tests.support.posthog_store import open_posthog
from tests.web.conftest import web_client

pytestmark = pytest.mark.anyio


def reviewed(page: str) -> str:
    found = re.search(r'name="reviewed" value="([^"]+)"', page)
    assert found, "no reviewed draft on the page"
    return found.group(1)


def hidden(page: str, field: str) -> str:
    found = re.search(rf'name="{field}" value="([^"]*)"', page)
    assert found, f"no field {field}"
    return html.unescape(found.group(1))


def textarea(page: str, field: str) -> str:
    """The textarea's value, as a browser reads it: without the newline right after the tag."""
    found = re.search(rf'<textarea[^>]*name="{field}"[^>]*>\n?(.*?)</textarea>', page, re.S)
    assert found, f"no textarea {field}"
    return html.unescape(found.group(1))


async def test_an_edit_is_reviewed_as_a_diff_before_it_is_published(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        start = await web.page("/edit/greet")
        assert start.status_code == 200 and 'name="base_version" value="2"' in start.text
        assert "Publish" not in start.text  # nothing is published before a review
        edit = {
            "base_version": "2",
            "template": "Hi {{name}}!\nSee you, {{name}}.",
            "config": '{"model": "x"}',
        }
        edit |= {"variables": "[]", "commit_message": "drop lang", "description": "Greets someone"}
        review = await web.post("/edit/greet", {**edit, "action": "review"})
        assert review.status_code == 200
        assert "Your edit against v2" in review.text
        assert '<td class="text del">Hi {{name}}<mark>, in {{lang}}</mark>!</td>' in review.text
        assert '<li class="del">removed <code>lang</code></li>' in review.text
        assert "Publish as v3" in review.text
        assert (await web.service.get_summary("greet")).latest_version == 2
        published = await web.post(
            "/edit/greet",
            {**edit, "action": "publish", "reviewed": reviewed(review.text)},
            csrf_from="/edit/greet",
        )
        assert (
            published.status_code == 303
            and published.headers["location"] == "/p/greet?version=3&notice=published"
        )
        version = await web.service.get_prompt("greet", version=3)
        assert version.template == "Hi {{name}}!\nSee you, {{name}}."
        assert version.commit_message == "drop lang" and version.created_by == "web"
        assert version.config == {"model": "x"}


async def test_an_edit_changed_after_its_review_is_shown_again_not_published(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        edit = {"base_version": "2", "template": "first idea", "config": "{}", "variables": "[]"}
        review = await web.post("/edit/greet", {**edit, "action": "review"})
        later = {**edit, "template": "second idea", "action": "publish", "reviewed": reviewed(review.text)}
        again = await web.post("/edit/greet", later, csrf_from="/edit/greet")
        assert again.status_code == 200 and "changed after its review" in again.text
        assert "second idea" in again.text
        assert (await web.service.get_summary("greet")).latest_version == 2


async def test_bad_json_is_named_next_to_its_field_and_the_edit_kept(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        edit = {"base_version": "2", "template": "kept text", "config": "{nope", "variables": '[{"nam": 1}]'}
        page = await web.post("/edit/greet", {**edit, "action": "review"})
        assert page.status_code == 400
        assert 'id="config-error" class="field-error">Not valid JSON' in page.text
        assert 'id="variables-error" class="field-error">' in page.text
        assert textarea(page.text, "template") == "kept text" and "Publish" not in page.text


async def test_a_publish_overtaken_by_another_keeps_the_edit_against_the_new_latest(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        mine = "Hi {{name}}, in {{lang}}!\nSee you soon, {{name}}."
        edit = {"base_version": "2", "template": mine, "config": '{"model": "gpt-4o", "temperature": 0.7}'}
        edit |= {"variables": "[]", "commit_message": "warmer"}
        review = await web.post("/edit/greet", {**edit, "action": "review"})
        # Meanwhile someone else publishes v3 (through MCP here: the same service as the tools).
        await web.mcp.service.update_prompt(
            "greet",
            base_version=2,
            template="Hi {{name}}, in {{lang}}!!\nSee you, {{name}}.",
            commit_message="louder",
        )
        conflict = await web.post(
            "/edit/greet",
            {**edit, "action": "publish", "reviewed": reviewed(review.text)},
            csrf_from="/edit/greet",
        )
        assert conflict.status_code == 409
        assert "v3 was published since you started from v2" in conflict.text and "louder" in conflict.text
        assert textarea(conflict.text, "template") == mine  # the edit is kept
        assert 'name="base_version" value="3"' in conflict.text
        assert "What changed between v2 and v3" in conflict.text
        assert "Your edit against v3" in conflict.text and "Publish as v4" in conflict.text
        assert (await web.service.get_prompt("greet")).version == 3  # nothing was overwritten
        merged = mine.replace("!\n", "!!\n")
        second = {**edit, "base_version": "3", "template": merged, "action": "review"}
        review = await web.post("/edit/greet", second, csrf_from="/edit/greet")
        publish = {**second, "action": "publish", "reviewed": reviewed(review.text)}
        assert (await web.post("/edit/greet", publish, csrf_from="/edit/greet")).status_code == 303
        assert (await web.service.get_prompt("greet")).template == merged


async def test_a_chat_prompt_is_edited_message_by_message(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        form = {"base_version": "1", "count": "2", "config": "{}", "variables": "[]"}
        form |= {
            "role_0": "system",
            "content_0": "You are terse.",
            "role_1": "user",
            "content_1": "Review {{code}}",
        }
        added = await web.post("/edit/team/review", {**form, "action": "add-message"})
        assert 'name="count" value="3"' in added.text and 'id="content-2"' in added.text
        form |= {"count": "3", "role_2": "assistant", "content_2": "Send it."}
        review = await web.post("/edit/team/review", {**form, "action": "review"})
        assert '<td class="text add">[assistant]</td>' in review.text
        publish = {**form, "action": "publish", "reviewed": reviewed(review.text)}
        assert (await web.post("/edit/team/review", publish, csrf_from="/p/team/review")).status_code == 303
        latest = await web.service.get_prompt("team/review")
        assert latest.messages == [
            Message(role="system", content="You are terse."),
            Message(role="user", content="Review {{code}}"),
            Message(role="assistant", content="Send it."),
        ]


async def test_a_label_move_is_confirmed_with_the_diff_then_applied(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        await web.service.set_label("greet", "staging", 1)
        confirm = await web.post("/label/greet", {"label": "staging", "version": "2", "action": "review"})
        assert confirm.status_code == 200 and "Move the label staging of greet to v2?" in confirm.text
        assert "v1 (now)" in confirm.text and "v2 (after)" in confirm.text
        assert '<td class="text del">' in confirm.text and '<td class="text add">' in confirm.text
        assert (await web.service.get_summary("greet")).labels["staging"] == 1  # not yet
        apply = {"label": "staging", "version": "2", "current": "1", "action": "apply"}
        done = await web.post("/label/greet", apply, csrf_from="/p/greet")
        assert done.status_code == 303 and "notice=label-moved" in done.headers["location"]
        assert (await web.service.get_summary("greet")).labels["staging"] == 2
        remove = await web.post(
            "/label/greet", {"label": "staging", "action": "review-remove"}, csrf_from="/p/greet"
        )
        assert "Remove the label staging from greet?" in remove.text
        gone = {"label": "staging", "current": "2", "action": "apply-remove"}
        assert (await web.post("/label/greet", gone, csrf_from="/p/greet")).status_code == 303
        assert "staging" not in (await web.service.get_summary("greet")).labels


async def test_a_confirmation_overtaken_by_another_move_is_shown_again(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        await web.service.set_label("greet", "staging", 1)
        await web.post("/label/greet", {"label": "staging", "version": "2", "action": "review"})
        await web.service.set_label("greet", "staging", 2)  # someone else moved it meanwhile
        await web.service.update_prompt("greet", base_version=2, template="v3 {{name}}")
        apply = {"label": "staging", "version": "3", "current": "1", "action": "apply"}
        again = await web.post("/label/greet", apply, csrf_from="/p/greet")
        assert again.status_code == 200 and "moved since this confirmation was shown" in again.text
        assert "v2 (now)" in again.text
        assert (await web.service.get_summary("greet")).labels["staging"] == 2


async def test_protected_labels_follow_the_mcp_policy(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        page = await web.page("/p/greet")
        assert 'aria-label="Remove label production"' not in page.text  # no control that would be refused
        refused = await web.post("/label/greet", {"label": "production", "version": "2", "action": "review"})
        assert refused.status_code == 403 and "--allow-label production" in refused.text
        forced = {"label": "production", "version": "2", "current": "1", "action": "apply"}
        assert (await web.post("/label/greet", forced, csrf_from="/p/greet")).status_code == 403
        assert (await web.service.get_summary("greet")).labels["production"] == 1
        latest = await web.post("/label/greet", {"label": "latest", "version": "1", "action": "review"})
        assert latest.status_code == 400 and "reserved" in latest.text
    allowed = Policy(actor="mcp", allowed_labels=frozenset({"production"}))
    async with web_client(tmp_path / "allowed", policy=allowed) as web:
        confirm = await web.post("/label/greet", {"label": "production", "version": "2", "action": "review"})
        assert confirm.status_code == 200 and "protected label: the operator allowed" in confirm.text
        apply = {"label": "production", "version": "2", "current": "1", "action": "apply"}
        assert (await web.post("/label/greet", apply, csrf_from="/p/greet")).status_code == 303
        assert (await web.service.get_summary("greet")).labels["production"] == 2


async def test_archive_is_confirmed_then_the_prompt_leaves_the_list(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        confirm = await web.page("/archive/greet")
        assert "Archive greet?" in confirm.text and "stay in the store" in confirm.text
        done = await web.post("/archive/greet", {})
        assert done.status_code == 303 and done.headers["location"] == "/?notice=archived&name=greet"
        listing = await web.page(done.headers["location"])
        assert "Archived greet" in listing.text and 'href="/p/greet"' not in listing.text
        assert (await web.page("/p/greet")).status_code == 404


async def test_the_change_notice_answers_from_the_hubs_reports(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        page = await web.page("/p/greet")
        watch = re.search(r'data-url="([^"]+)"', page.text)
        assert watch
        url = html.unescape(watch.group(1))
        assert (await web.page(url)).json()["changed"] is False
        await web.mcp.service.update_prompt(
            "team/review", base_version=1, messages=[Message(role="user", content="x")]
        )
        await web.mcp.hub.check()  # what the hub does on its next poll, or after a write through MCP
        other = (await web.page(url)).json()
        assert other["changed"] is False  # another prompt changed
        await web.mcp.service.update_prompt("greet", base_version=2, template="new {{name}}")
        unseen = (await web.page(url)).json()
        assert unseen["changed"] is False  # the hub has not reported it yet
        await web.mcp.hub.check()
        seen = (await web.page(url)).json()
        assert seen["changed"] is True and "Version 3 of this prompt was published" in seen["message"]


async def test_a_page_from_before_a_server_restart_still_hears_of_changes(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        page = await web.page("/p/greet")
        url = html.unescape(re.search(r'data-url="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
        old = re.sub(r"since=\d+", "since=1000", url)  # the previous process had counted further
        assert (await web.page(old)).json() == {"changed": False, "since": 0}
        await web.service.update_prompt("greet", base_version=2, template="after the restart")
        answer = (await web.page(old)).json()
        assert answer["changed"] is True and "Version 3" in answer["message"]


async def test_a_page_written_through_the_web_tells_the_hub_at_once(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        page = await web.page("/p/greet")
        url = html.unescape(re.search(r'data-url="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
        await web.post("/label/greet", {"label": "beta", "version": "2", "current": "", "action": "apply"})
        answer = (await web.page(url)).json()
        assert answer["changed"] is True and "labels or details changed" in answer["message"]


async def test_a_vendor_page_served_stale_from_the_cache_says_so(tmp_path: Path) -> None:
    async with open_posthog(ttl=0) as (store, fake), web_client(tmp_path, store=store, seeded=False) as web:
        await web.service.create_prompt("greeting", template="Hello {{name}}")
        fresh = await web.page("/p/greeting")
        assert fresh.status_code == 200 and "Possibly out of date" not in fresh.text
        fake.fail_next(100, status=503)
        stale = await web.page("/p/greeting")
        assert stale.status_code == 200 and "Possibly out of date" in stale.text
        assert "posthog could not be reached" in stale.text and "Hello" in stale.text


async def test_an_overtaken_edit_to_other_lines_is_offered_combined(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        await web.service.create_prompt("lines", template="one\ntwo\nthree\nfour\n")
        mine = "one\ntwo\nthree\nFOUR (mine)\n"
        edit = {
            "base_version": "1",
            "template": mine,
            "config": "{}",
            "variables": "[]",
            "commit_message": "m",
        }
        review = await web.post("/edit/lines", {**edit, "action": "review"})
        await web.service.update_prompt("lines", base_version=1, template="ONE (theirs)\ntwo\nthree\nfour\n")
        publish = {**edit, "action": "publish", "reviewed": reviewed(review.text)}
        conflict = await web.post("/edit/lines", publish)
        assert conflict.status_code == 409 and "they can be combined" in conflict.text
        assert textarea(conflict.text, "template") == mine  # the edit itself is untouched
        combined = re.search(r'name="merged_template" value="([^"]*)"', conflict.text)
        assert combined and html.unescape(combined.group(1)) == "ONE (theirs)\ntwo\nthree\nFOUR (mine)\n"
        use = {**edit, "base_version": "2", "merged_template": html.unescape(combined.group(1))}
        merged_review = await web.post("/edit/lines", {**use, "action": "use-merge"})
        assert merged_review.status_code == 200 and "Your edit against v2" in merged_review.text
        assert textarea(merged_review.text, "template") == "ONE (theirs)\ntwo\nthree\nFOUR (mine)\n"
        final = {**use, "template": textarea(merged_review.text, "template"), "action": "publish"}
        final["reviewed"] = reviewed(merged_review.text)
        assert (await web.post("/edit/lines", final)).status_code == 303
        assert (await web.service.get_prompt("lines")).template == "ONE (theirs)\ntwo\nthree\nFOUR (mine)\n"


async def test_an_overtaken_edit_to_the_same_lines_is_not_combined(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        edit = {"base_version": "2", "template": "Mine {{name}}", "config": "{}", "variables": "[]"}
        review = await web.post("/edit/greet", {**edit, "action": "review"})
        await web.service.update_prompt("greet", base_version=2, template="Theirs {{name}}")
        conflict = await web.post(
            "/edit/greet", {**edit, "action": "publish", "reviewed": reviewed(review.text)}
        )
        assert conflict.status_code == 409 and "combined" not in conflict.text


async def test_an_overtaken_edit_keeps_their_changes_to_the_parts_it_did_not_touch(tmp_path: Path) -> None:
    """They changed the config, description and variables; the edit only the template: publishing the
    edit must not quietly put back what they replaced."""
    async with web_client(tmp_path) as web:
        start = await web.page("/edit/greet")
        edit = {
            "base_version": "2",
            "template": "Hi {{name}}, in {{lang}}!\nSee you soon, {{name}}.",  # mine: the text only
            "config": textarea(start.text, "config"),
            "variables": textarea(start.text, "variables"),
            "description": "Greets someone",
            "description_start": hidden(start.text, "description_start"),
            "commit_message": "warmer",
        }
        review = await web.post("/edit/greet", {**edit, "action": "review"})
        await web.mcp.service.update_prompt(
            "greet",
            base_version=2,
            template="Hi {{name}}, in {{lang}}!\nSee you, {{name}}.",
            config={"model": "gpt-5", "temperature": 0.1},
            variables=[Variable(name="name", description="their words")],
            description="Their description",
        )
        conflict = await web.post(
            "/edit/greet",
            {**edit, "action": "publish", "reviewed": reviewed(review.text)},
            csrf_from="/p/greet",
        )
        assert conflict.status_code == 409
        assert textarea(conflict.text, "template") == edit["template"]  # mine, kept
        assert json.loads(textarea(conflict.text, "config")) == {"model": "gpt-5", "temperature": 0.1}
        assert json.loads(textarea(conflict.text, "variables")) == [
            {"name": "name", "description": "their words", "required": True}
        ]
        assert 'name="description" value="Their description"' in conflict.text
        again = {
            **edit,
            "base_version": "3",
            "config": textarea(conflict.text, "config"),
            "variables": textarea(conflict.text, "variables"),
            "description": "Their description",
            "description_start": hidden(conflict.text, "description_start"),
            "action": "publish",
            "reviewed": reviewed(conflict.text),
        }
        assert (await web.post("/edit/greet", again, csrf_from="/p/greet")).status_code == 303
        final = await web.service.get_prompt("greet", version=4)
        assert final.template == edit["template"]
        assert final.config == {"model": "gpt-5", "temperature": 0.1}
        assert final.variables[0].name == "name" and final.variables[0].description == "their words"
        assert final.description == "Their description"


async def test_an_overtaken_edit_of_the_config_keeps_their_new_text(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        start = await web.page("/edit/greet")
        edit = {
            "base_version": "2",
            "template": textarea(start.text, "template"),
            "config": '{"model": "mine"}',
            "variables": textarea(start.text, "variables"),
            "description": "Greets someone",
        }
        review = await web.post("/edit/greet", {**edit, "action": "review"})
        await web.mcp.service.update_prompt("greet", base_version=2, template="Their {{name}} {{lang}}")
        conflict = await web.post(
            "/edit/greet",
            {**edit, "action": "publish", "reviewed": reviewed(review.text)},
            csrf_from="/p/greet",
        )
        assert conflict.status_code == 409
        assert textarea(conflict.text, "template") == "Their {{name}} {{lang}}"
        assert json.loads(textarea(conflict.text, "config")) == {"model": "mine"}


async def test_a_description_changed_in_the_edit_is_published(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        start = await web.page("/edit/greet")
        edit = {
            "base_version": "2",
            "template": textarea(start.text, "template"),
            "config": textarea(start.text, "config"),
            "variables": textarea(start.text, "variables"),
            "description": "Says hello",
            "description_start": hidden(start.text, "description_start"),
        }
        assert edit["description_start"] == "Greets someone"
        review = await web.post("/edit/greet", {**edit, "action": "review"})
        publish = {**edit, "action": "publish", "reviewed": reviewed(review.text)}
        assert (await web.post("/edit/greet", publish, csrf_from="/p/greet")).status_code == 303
        assert (await web.service.get_summary("greet")).description == "Says hello"


async def test_a_prompt_of_the_largest_size_in_any_script_can_be_edited(tmp_path: Path) -> None:
    """A browser percent-encodes each byte of UTF-8: 9 bytes a character for CJK text. The edit form of a
    template at the size limit must still be accepted, with the combined text it may carry beside it."""
    line = "漢字のテキスト" * 10 + "\n"
    template = line * (MAX_TEMPLATE_LENGTH // len(line))
    async with web_client(tmp_path) as web:
        await web.service.create_prompt("big", template=template)
        edit = {"base_version": "1", "template": template + "x", "config": "{}", "variables": "[]"}
        edit["merged_template"] = template
        review = await web.post("/edit/big", {**edit, "action": "review"})
        assert review.status_code == 200 and "Your edit against v1" in review.text
