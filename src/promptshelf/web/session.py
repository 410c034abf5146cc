"""Browser sessions: a token given once on the sign-in page, then a signed cookie; CSRF tokens per session.

The cookie holds no token. It holds ``{credential, session id, expiry}`` signed with HMAC-SHA256 under a
key derived from the token it was issued for (``write`` or ``read``), so that it survives a restart of the
server (or another replica with the same tokens), and rotating a token signs every browser of it out.
Without tokens configured (a loopback bind, or ``--no-auth``), every browser gets an ``anonymous`` session
signed with a key made when the server starts. Before signing in, a browser holds a ``guest`` session of
the same kind, so that the sign-in form has a CSRF token too.

CSRF: every form carries ``HMAC(key, "csrf:" + session id)``; the server recomputes it for each POST.
The cookie is HttpOnly and SameSite=Strict (and Secure over https), which already keeps other sites'
forms from sending it; the token is the second, independent check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Literal, Protocol

from mcp.server.auth.provider import AccessToken

from promptshelf.server.app import WRITE_SCOPE

COOKIE = "promptshelf_session"


def cookie_name(port: int | None) -> str:
    """The session cookie's name for a server reached at ``port``: a browser sends a host's cookies to every
    port of it, so two servers on one host would otherwise replace each other's session."""
    return f"{COOKIE}_{port}" if port else COOKIE


SESSION_SECONDS = 12 * 3600
"""A browser signs in again after this long (the cookie's Max-Age, and the expiry it carries)."""

Credential = Literal["write", "read", "anonymous", "guest"]


class TokenCheck(Protocol):
    """What the web view needs of the HTTP transport's tokens (``server.http.Tokens``)."""

    @property
    def write(self) -> str | None: ...

    @property
    def read(self) -> str | None: ...

    @property
    def enabled(self) -> bool: ...

    async def verify_token(self, token: str) -> AccessToken | None: ...


@dataclass(frozen=True)
class Session:
    credential: Credential
    session_id: str
    csrf_token: str
    may_write: bool
    new: bool = False
    """Minted for this request: the response must set the cookie."""

    @property
    def signed_in(self) -> bool:
        return self.credential != "guest"


class Sessions:
    """Issues and checks session cookies and CSRF tokens for one server."""

    def __init__(self, tokens: TokenCheck, *, read_only: bool) -> None:
        self.tokens = tokens
        self.read_only = read_only
        self._process_key = secrets.token_bytes(32)
        self._now = time.time

    @property
    def enabled(self) -> bool:
        return self.tokens.enabled

    def _key(self, credential: Credential) -> bytes | None:
        token = {"write": self.tokens.write, "read": self.tokens.read}.get(credential)
        if credential in ("write", "read"):
            if not token:
                return None
            return hmac.new(token.encode(), b"promptshelf web session", hashlib.sha256).digest()
        return self._process_key

    def _may_write(self, credential: Credential) -> bool:
        if self.read_only:
            return False
        return credential == "write" or (credential == "anonymous" and not self.tokens.enabled)

    def _session(self, credential: Credential, session_id: str, *, new: bool) -> Session | None:
        key = self._key(credential)
        if key is None:
            return None
        csrf = hmac.new(key, f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()
        return Session(credential, session_id, csrf, self._may_write(credential), new)

    def mint(self, credential: Credential) -> Session:
        session = self._session(credential, secrets.token_urlsafe(18), new=True)
        if session is None:
            raise ValueError(f"no key for a {credential} session")
        return session

    def cookie_value(self, session: Session) -> str:
        key = self._key(session.credential)
        assert key is not None  # a Session exists only for a credential with a key
        payload = json.dumps(
            {"c": session.credential, "s": session.session_id, "e": int(self._now()) + SESSION_SECONDS},
            separators=(",", ":"),
        ).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        signature = base64.urlsafe_b64encode(hmac.new(key, body.encode(), hashlib.sha256).digest())
        return f"{body}.{signature.decode().rstrip('=')}"

    def read(self, cookie: str | None) -> Session | None:
        """The session a cookie carries, if it is intact, unexpired and of a credential still valid here."""
        if not cookie or cookie.count(".") != 1 or len(cookie) > 512:
            return None
        body, signature = cookie.split(".")
        try:
            payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            return None
        if not isinstance(payload, dict):
            return None
        credential, session_id, expiry = payload.get("c"), payload.get("s"), payload.get("e")
        if credential not in ("write", "read", "anonymous", "guest") or not isinstance(session_id, str):
            return None
        if not isinstance(expiry, int) or expiry < self._now():
            return None
        if credential == "anonymous" and self.tokens.enabled:
            return None  # tokens were configured since: sign in
        key = self._key(credential)
        if key is None:
            return None
        expected = base64.urlsafe_b64encode(hmac.new(key, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected.decode().rstrip("="), signature):
            return None
        return self._session(credential, session_id, new=False)

    def current(self, cookie: str | None) -> Session:
        """The request's session, or a new one: anonymous without tokens, guest (signed out) with them."""
        session = self.read(cookie)
        if session is not None:
            return session
        return self.mint("guest" if self.tokens.enabled else "anonymous")

    async def sign_in(self, token: str) -> Session | None:
        access = await self.tokens.verify_token(token.strip())
        if access is None:
            return None
        return self.mint("write" if WRITE_SCOPE in access.scopes else "read")

    def csrf_ok(self, session: Session, submitted: str | None) -> bool:
        return (
            not session.new
            and submitted is not None
            and hmac.compare_digest(session.csrf_token.encode(), submitted.encode())
        )
