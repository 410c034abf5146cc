"""The web view's guards: sign-in with a token kept in an HttpOnly SameSite=Strict cookie, read tokens
without write controls and refused writes, CSRF tokens on every form, Host/Origin checks, safe redirects."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from promptshelf.server.http import Tokens
from promptshelf.web.context import GUEST_FORM_BYTES, MAX_FORM_BYTES, MAX_FORM_FIELDS
from tests.web.conftest import READ_TOKEN, WRITE_TOKEN, WebClient, csrf_of, web_client

pytestmark = pytest.mark.anyio

TOKENS = Tokens(write=WRITE_TOKEN, read=READ_TOKEN)


async def test_without_a_token_every_page_sends_to_sign_in(tmp_path: Path) -> None:
    async with web_client(tmp_path, tokens=TOKENS) as web:
        for path in ("/", "/p/greet", "/history/greet", "/diff/greet", "/edit/greet"):
            response = await web.page(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/signin?next=")
        assert (await web.page("/-/changes", params={"name": "greet"})).status_code == 401
        signin = await web.page("/signin")
        assert signin.status_code == 200 and 'type="password"' in signin.text
        assert "greet" not in signin.text
        refused = await web.http.post("/p/greet", data={"csrf": csrf_of(signin.text)})
        assert refused.status_code == 401


async def test_a_wrong_token_is_refused_and_a_right_one_kept_in_a_strict_cookie(tmp_path: Path) -> None:
    async with web_client(tmp_path, tokens=TOKENS) as web:
        wrong = await web.sign_in("not-the-token")
        assert wrong.status_code == 401 and "not valid" in wrong.text
        assert (await web.page("/")).status_code == 303
        right = await web.sign_in(WRITE_TOKEN)
        assert right.status_code == 303 and right.headers["location"] == "/"
        cookie = right.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
        assert WRITE_TOKEN not in cookie  # the cookie is signed, it does not carry the token
        page = await web.page("/")
        assert page.status_code == 200 and "read and write" in page.text


async def test_the_cookie_is_secure_over_https(tmp_path: Path) -> None:
    async with web_client(tmp_path, tokens=TOKENS, base_url="https://127.0.0.1:8000") as web:
        assert "Secure" in (await web.sign_in(READ_TOKEN)).headers["set-cookie"]


async def test_a_forged_or_tampered_cookie_is_not_a_session(tmp_path: Path) -> None:
    async with web_client(tmp_path, tokens=TOKENS) as web:
        await web.sign_in(READ_TOKEN)
        cookie = web.http.cookies["promptshelf_session_8000"]
        body, signature = cookie.split(".")
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        payload["c"] = "write"  # a read session claiming to write
        forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
        web.http.cookies.set("promptshelf_session_8000", f"{forged}.{signature}")
        assert (await web.page("/")).status_code == 303


async def test_a_read_token_shows_no_write_controls_and_every_write_is_refused(tmp_path: Path) -> None:
    async with web_client(tmp_path, tokens=TOKENS) as web:
        await web.sign_in(READ_TOKEN)
        page = await web.page("/p/greet")
        assert page.status_code == 200 and "read only" in page.text
        for control in ("/edit/greet", "/archive/greet", "Review the move", 'value="review-remove"'):
            assert control not in page.text
        csrf = csrf_of(page.text)  # a real session's token: the scope check must still refuse
        writes = [
            ("/label/greet", {"label": "staging", "version": "2", "action": "apply", "current": ""}),
            ("/edit/greet", {"base_version": "2", "template": "changed", "action": "publish"}),
            ("/archive/greet", {}),
        ]
        for path, data in writes:
            refused = await web.http.post(path, data={"csrf": csrf, **data})
            assert refused.status_code == 403, path
            assert "read access only" in refused.text
        assert (await web.page("/edit/greet")).status_code == 403
        summary = await web.service.get_summary("greet")
        assert summary.latest_version == 2 and "staging" not in summary.labels


async def test_a_post_without_the_sessions_csrf_token_changes_nothing(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        form = {"label": "staging", "version": "2", "action": "apply", "current": ""}
        missing = await web.http.post("/label/greet", data=form)
        assert missing.status_code == 403 and "CSRF" in missing.text
        wrong = await web.http.post("/label/greet", data={**form, "csrf": "0" * 64})
        assert wrong.status_code == 403
        # A forged form from another site: its browser session is not this one, so neither is its token.
        async with web_client(tmp_path / "other", seeded=True) as attacker:
            their_token = await attacker.csrf("/p/greet")
        forged = await web.http.post("/label/greet", data={**form, "csrf": their_token})
        assert forged.status_code == 403
        assert "staging" not in (await web.service.get_summary("greet")).labels
        allowed = await web.post("/label/greet", form, csrf_from="/p/greet")
        assert allowed.status_code == 303
        assert (await web.service.get_summary("greet")).labels["staging"] == 2


async def test_sign_in_and_sign_out_forms_are_csrf_checked_too(tmp_path: Path) -> None:
    async with web_client(tmp_path, tokens=TOKENS) as web:
        await web.page("/signin")
        refused = await web.http.post("/signin", data={"token": WRITE_TOKEN})
        assert refused.status_code == 403
        await web.sign_in(WRITE_TOKEN)
        assert (await web.http.post("/signout", data={})).status_code == 403
        out = await web.post("/signout", {}, csrf_from="/")
        assert out.status_code == 303 and 'promptshelf_session_8000=""' in out.headers["set-cookie"]
        assert (await web.page("/")).status_code == 303


async def test_sign_in_only_redirects_within_the_site(tmp_path: Path) -> None:
    async with web_client(tmp_path, tokens=TOKENS) as web:
        targets = [("//evil.example/x", "/"), ("https://evil.example", "/"), ("/p/greet", "/p/greet")]
        for target, expected in targets:
            web.http.cookies.clear()
            form = await web.page("/signin", params={"next": target})
            response = await web.http.post(
                "/signin", data={"csrf": csrf_of(form.text), "token": READ_TOKEN, "next": target}
            )
            assert response.headers["location"] == expected


async def test_foreign_hosts_and_origins_are_refused_as_for_mcp(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        assert (await web.page("/", headers={"Host": "evil.example"})).status_code == 421
        csrf = await web.csrf("/p/greet")
        cross = await web.http.post(
            "/p/greet", data={"csrf": csrf}, headers={"Origin": "http://evil.example"}
        )
        assert cross.status_code == 403
        same = await web.http.post(
            "/p/greet", data={"csrf": csrf}, headers={"Origin": "http://127.0.0.1:8000"}
        )
        assert same.status_code == 400  # through to the page: the render misses its values


async def test_a_read_only_server_offers_no_writes(tmp_path: Path) -> None:
    async with web_client(tmp_path, read_only=True) as web:
        page = await web.page("/p/greet")
        assert "/edit/greet" not in page.text and "read only" in page.text
        assert (await web.post("/archive/greet", {}, csrf_from="/p/greet")).status_code == 403


async def test_a_form_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    async with web_client(tmp_path) as web:
        csrf = await web.csrf("/p/greet")
        huge = await web.http.post("/p/greet", data={"csrf": csrf, "var:name": "x" * MAX_FORM_BYTES})
        assert huge.status_code == 413 and f"at most {MAX_FORM_BYTES:,} bytes" in huge.text
        many = {"csrf": csrf, **{f"var:v{index}": "1" for index in range(MAX_FORM_FIELDS + 1)}}
        crowded = await web.http.post("/p/greet", data=many)
        assert crowded.status_code == 413 and f"at most {MAX_FORM_FIELDS:,} fields" in crowded.text
        assert "CSRF" not in crowded.text  # the problem named is the real one


async def test_before_signing_in_a_form_may_be_small_only(tmp_path: Path) -> None:
    async with web_client(tmp_path, tokens=TOKENS) as web:
        csrf = csrf_of((await web.page("/signin")).text)
        big = await web.http.post("/signin", data={"csrf": csrf, "token": "x" * GUEST_FORM_BYTES})
        assert big.status_code == 413 and f"at most {GUEST_FORM_BYTES:,} bytes" in big.text
        assert (await web.sign_in(WRITE_TOKEN)).status_code == 303


async def test_a_link_from_another_site_is_reloaded_from_here_not_signed_out(tmp_path: Path) -> None:
    """The browser keeps its SameSite=Strict cookie back on a navigation from another site: answering it
    with a new signed-out cookie would replace the session."""
    cross_site = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    async with web_client(tmp_path, tokens=TOKENS) as web:
        await web.sign_in(WRITE_TOKEN)
        session = web.http.cookies["promptshelf_session_8000"]
        web.http.cookies.clear()  # what the browser leaves out
        bounce = await web.page("/p/greet?version=1", headers=cross_site)
        assert bounce.status_code == 200 and "set-cookie" not in bounce.headers
        assert '<meta http-equiv="refresh" content="0">' in bounce.text
        assert 'href="/p/greet?version=1"' in bounce.text and "Greets someone" not in bounce.text
        web.http.cookies.set("promptshelf_session_8000", session)  # the reload, from this site
        again = await web.page("/p/greet?version=1", headers={**cross_site, "Sec-Fetch-Site": "same-origin"})
        assert again.status_code == 200 and "Greets someone" in again.text
        # With the cookie sent anyway (a same-site link), and without one from this site, nothing changes.
        assert "Greets someone" in (await web.page("/p/greet", headers=cross_site)).text
        web.http.cookies.clear()
        fresh = await web.page("/p/greet", headers={**cross_site, "Sec-Fetch-Site": "same-origin"})
        assert fresh.status_code == 303 and "set-cookie" in fresh.headers


async def test_two_servers_on_one_host_keep_their_own_sessions(tmp_path: Path) -> None:
    """A browser sends a host's cookies to every port of it: signing in to (or just opening) a second
    promptshelf on another port must not replace the first one's session."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with (
        web_client(tmp_path / "a", tokens=TOKENS) as first,
        web_client(tmp_path / "b", base_url="http://127.0.0.1:8001") as second,
    ):
        await first.sign_in(WRITE_TOKEN)
        assert (await first.page("/p/greet")).status_code == 200

        def share(source: WebClient, target: WebClient) -> None:
            # One cookie jar for the host, as a browser has.
            for cookie in source.http.cookies.jar:
                target.http.cookies.jar.set_cookie(cookie)

        share(first, second)
        assert (await second.page("/p/greet")).status_code == 200
        share(second, first)
        assert (await first.page("/p/greet")).status_code == 200
