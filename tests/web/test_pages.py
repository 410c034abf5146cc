"""The web view's pages over HTTP (the transport's real ASGI app, in-process): what each page shows,
escaping, rendering errors next to their fields, history paging and diffs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from promptshelf.model import Variable
from promptshelf.service import Policy
from tests.web.conftest import XSS, web_client

pytestmark = pytest.mark.anyio


def rows(html: str) -> list[str]:
    """The prompt names a list page shows, in order."""
    return re.findall(r'<td><a href="/p/[^"]+">([^<]+)</a>', html)


async def test_the_list_shows_each_prompt_with_latest_version_labels_and_last_change(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        page = await web.page("/")
        assert page.status_code == 200
        assert rows(page.text) == ["footer", "greet", "letter", "team/review", "xss"]
        greet = page.text.split('href="/p/greet"')[1].split("</tr>")[0]
        assert "v2" in greet and "production → v1" in greet and "demo" in greet
        assert "<time datetime=" in greet and "just now" in greet


async def test_search_and_filters_narrow_the_list(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        assert rows((await web.page("/", params={"q": "GREE"})).text) == ["greet"]
        assert rows((await web.page("/", params={"q": "chat prompt"})).text) == ["team/review"]
        assert rows((await web.page("/", params={"tag": "demo"})).text) == ["greet"]
        assert rows((await web.page("/", params={"label": "production"})).text) == ["greet"]
        none = await web.page("/", params={"q": "nothing like this"})
        assert rows(none.text) == [] and "No prompt matches these filters" in none.text


async def test_a_bad_filter_is_named_next_to_its_field(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        page = await web.page("/", params={"label": "Not A Label"})
        assert page.status_code == 200
        assert 'id="label" name="label" value="Not A Label"' in page.text
        assert 'aria-invalid="true" aria-describedby="label-error"' in page.text
        assert re.search(r'id="label-error" class="field-error">invalid label', page.text)


async def test_the_list_pages_with_a_cursor(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        for index in range(60):
            await web.service.create_prompt(f"bulk/{index:03d}", template="x")
        first = await web.page("/", params={"q": "bulk"})
        assert rows(first.text) == [f"bulk/{index:03d}" for index in range(50)]
        next_url = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', first.text)
        assert next_url
        second = await web.page(next_url.group(1).replace("&amp;", "&"))
        assert rows(second.text) == [f"bulk/{index:03d}" for index in range(50, 60)]
        assert "Next page" not in second.text and "First page" in second.text
        stale = await web.page("/", params={"after": "not-a-cursor"})
        assert "invalid cursor" in stale.text and "First page" in stale.text
        assert "No prompts yet" not in stale.text  # there are: only the cursor is wrong


async def test_a_prompt_page_shows_content_variables_config_and_labels(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        page = await web.page("/p/greet")
        assert page.status_code == 200
        text = page.text
        assert '<span class="ph">{{name}}</span>' in text  # placeholders marked
        assert "<td>who to greet</td>" in text and "en, fr, de" in text
        assert "&#34;temperature&#34;: 0.7" in text  # config, escaped JSON
        assert "“shorter” · by seed" in text
        assert '<a href="/p/greet?version=1">v1</a>' in text  # production -> v1
        old = await web.page("/p/greet", params={"version": "1"})
        assert "Hello <span" in old.text and "latest is v2" in old.text
        by_label = await web.page("/p/greet", params={"label": "production"})
        assert "Hello <span" in by_label.text


async def test_with_a_default_label_a_prompt_without_it_still_has_a_page(tmp_path: Path) -> None:
    """``serve --label production``: agents get the production version by default; a person opening a
    prompt that has no such label sees its latest version, told why, not an error page."""
    async with web_client(tmp_path, policy=Policy(actor="mcp", default_label="production")) as web:
        labelled = await web.page("/p/greet")
        assert labelled.status_code == 200 and '<h2 id="version-heading">Version 1' in labelled.text
        unlabelled = await web.page("/p/team/review")
        assert unlabelled.status_code == 200 and '<h2 id="version-heading">Version 1' in unlabelled.text
        assert "has no label production" in unlabelled.text
        assert "You are a careful reviewer." in unlabelled.text
        rendered = await web.post("/p/team/review", {"var:code": "x = 1"})
        assert rendered.status_code == 200 and "<pre>\nReview x = 1</pre>" in rendered.text
        missing = await web.page("/p/team/review", params={"label": "production"})
        assert missing.status_code == 404  # asked for by name: no such label


async def test_chat_messages_show_as_messages_and_includes_as_links(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        chat = await web.page("/p/team/review")
        assert re.search(r'class="message role-system">\s*<span class="role">system</span>', chat.text)
        assert "You are a careful reviewer." in chat.text
        letter = await web.page("/p/letter")
        assert '<a class="include" href="/p/footer">{{&gt; footer}}</a>' in letter.text
        assert '<a href="/p/footer?version=1">footer v1</a>' in letter.text
        assert "<code>signature</code>" in letter.text  # the included prompt's variable


async def test_everything_from_the_store_is_escaped(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        for path in ("/", "/p/xss", "/history/xss", "/edit/xss"):
            page = await web.page(path)
            assert page.status_code == 200, path
            assert "<script>alert" not in page.text, path
            assert "&lt;script&gt;alert(" in page.text, path
        rendered = await web.post("/p/xss", {"var:v": XSS})
        assert "<script>alert" not in rendered.text
        assert "after &lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in rendered.text
        assert "script-src 'self'" in rendered.headers["content-security-policy"]


async def test_rendering_uses_strict_rendering_with_errors_next_to_the_fields(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        missing = await web.post("/p/greet", {"var:name": "Ada", "var:lang": ""})
        assert missing.status_code == 400
        assert re.search(
            r'id="var-2" name="var:lang" aria-invalid="true" aria-describedby="var-2-error"', missing.text
        )
        assert 'id="var-2-error" class="field-error">Required: give a value.' in missing.text
        assert "missing required variable: lang" in missing.text
        assert ">\nAda</textarea>" in missing.text  # what was typed is kept
        wrong = await web.post("/p/greet", {"var:name": "Ada", "var:lang": "xx"})
        assert wrong.status_code == 400 and "Not allowed: &#39;xx&#39; (allowed: &#39;en&#39;" in wrong.text
        done = await web.post("/p/greet", {"var:name": "Ada", "var:lang": "fr", "var:extra": "1"})
        assert done.status_code == 200
        assert '<pre class="rendered">\nHi Ada, in fr!\nSee you, Ada.</pre>' in done.text
        old = await web.post(
            "/p/greet?version=1", {"var:name": "Ada", "var:lang": "de"}, csrf_from="/p/greet"
        )
        assert '<pre class="rendered">\nHello Ada, in de.</pre>' in old.text
        chat = await web.post("/p/team/review", {"var:code": "x = 1"})
        assert "<pre>\nReview x = 1</pre>" in chat.text


async def test_history_is_paged_with_commit_messages_and_authors(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        await web.service.create_prompt("long", template="v1")
        for version in range(1, 30):
            await web.service.update_prompt(
                "long",
                base_version=version,
                template=f"v{version + 1}",
                commit_message=f"change {version + 1}",
            )
        first = await web.page("/history/long")
        versions = re.findall(r'<td><a href="/p/long\?version=(\d+)">', first.text)
        assert versions == [str(v) for v in range(30, 5, -1)]
        assert "<td>change 30</td>" in first.text and "<td>elsewhere</td>" in first.text
        older = re.search(r'<a href="([^"]+)" rel="next">Older versions</a>', first.text)
        assert older and older.group(1) == "/history/long?before=6"
        rest = await web.page(older.group(1))
        assert re.findall(r'<td><a href="/p/long\?version=(\d+)">', rest.text) == ["5", "4", "3", "2", "1"]
        assert "Older versions" not in rest.text and "Newest" in rest.text


async def test_a_diff_shows_text_variables_and_config_changes(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        await web.service.update_prompt(
            "greet",
            base_version=2,
            template="Hi {{name}} from {{place}}!\nSee you, {{name}}.",
            variables=[Variable(name="name", description="who")],
            config={"model": "gpt-4o-mini", "temperature": 0.7},
        )
        split = await web.page("/diff/greet", params={"from": "2", "to": "3"})
        assert split.status_code == 200
        assert 'class="diff split"' in split.text
        # changed words marked
        assert (
            '<td class="text del">Hi {{name}}<mark>,</mark> <mark>in</mark> {{<mark>lang</mark>}}!</td>'
            in split.text
        )
        assert '<td class="text add">Hi {{name}} <mark>from</mark> {{<mark>place</mark>}}!</td>' in split.text
        assert '<li class="add">added <code>place</code></li>' in split.text
        assert '<li class="del">removed <code>lang</code></li>' in split.text
        assert '<td><code>model</code></td><td class="del">&#34;gpt-4o&#34;</td>' in split.text
        unified = await web.page("/diff/greet", params={"from": "2", "to": "3", "view": "unified"})
        assert 'class="diff unified"' in unified.text
        assert re.search(r'<tr class="context"><td class="num">2</td><td class="num">2</td>', unified.text)
        default = await web.page("/diff/greet")  # the latest against the one before
        assert "greet: v2 → v3" in default.text


async def test_unknown_prompts_and_bad_numbers_are_clear_error_pages(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        missing = await web.page("/p/nope")
        assert missing.status_code == 404 and "nope" in missing.text
        assert (await web.page("/p/greet", params={"version": "9"})).status_code == 404
        bad = await web.page("/p/greet", params={"version": "two"})
        assert bad.status_code == 400 and "version must be a whole number, not &#39;two&#39;" in bad.text
        assert (await web.page("/diff/greet", params={"from": "1", "to": "7"})).status_code == 404
        assert (await web.page("/static/nothing.css")).status_code == 404


async def test_a_prompt_whose_include_is_missing_shows_as_written_with_the_error(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        await web.service.create_prompt("broken", template="Top {{x}}\n{{> nowhere}}")
        page = await web.page("/p/broken")
        assert page.status_code == 200
        assert '<a class="include" href="/p/nowhere">{{&gt; nowhere}}</a>' in page.text
        assert 'class="error" role="alert">include {{&gt; nowhere}} in prompt &#39;broken&#39;' in page.text
        rendered = await web.post("/p/broken", {"var:x": "1"})
        assert rendered.status_code == 400 and '<pre class="rendered">' not in rendered.text
