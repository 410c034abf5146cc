"""Reaching PostgreSQL: the URL, the connection pool, and its failures as promptshelf errors.

The URL is handed to libpq as it is (psycopg is libpq), so everything libpq users expect works: the
``postgresql://`` and ``postgres://`` forms and ``key=value`` strings, the password from the URL,
``PGPASSWORD``, ``~/.pgpass`` or ``PGPASSFILE``, ``PGSERVICE``, ``sslmode`` and the other ``PG*`` variables.
What promptshelf adds, only where the URL and the environment say nothing: a connect timeout (the pool
timeout) and ``application_name=promptshelf`` (so a DBA sees who is connected).

A password never reaches an error message or a log line: messages name the server as
``user@host:port/database``, and any text that came from libpq or the URL is scrubbed of the password.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import conninfo
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from promptshelf.errors import InvalidArgumentError, PromptshelfError, UnavailableError

RECONNECT_TIMEOUT = 10.0
"""Seconds the pool retries (backing off: 1, 2, 4 s...) to replace a lost connection before it leaves the
slot to the next request. Short, so that a long outage does not leave it waiting out a minute-long backoff
once PostgreSQL is back: the next request then connects at once."""

_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    """A PostgreSQL database as promptshelf connects to it, and as its messages name it."""

    url: str
    where: str
    """``user@host:port/database``: what messages show (never the password)."""
    password: str | None

    @classmethod
    def parse(cls, url: str) -> Target:
        try:
            params = conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            # libpq quotes the part it could not parse, which may be the password itself.
            guessed = _password_in(url)
            raise InvalidArgumentError(
                f"invalid PostgreSQL URL {scrub(url, guessed)!r}: {scrub(str(exc), guessed)} "
                "(expected postgresql://USER@HOST:PORT/DATABASE)",
                argument="database_url",
            ) from None
        password = params.get("password")
        return cls(url=url, where=_describe(params), password=str(password) if password else None)

    def scrub(self, text: str) -> str:
        return scrub(text, self.password)

    def connect_kwargs(self, pool_timeout: float, application_name: str = "promptshelf") -> dict[str, Any]:
        """What promptshelf adds to the URL's parameters (never overriding them), for every connection."""
        params = conninfo.conninfo_to_dict(self.url)
        extra: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in params and "PGCONNECT_TIMEOUT" not in os.environ:
            extra["connect_timeout"] = max(2, math.ceil(pool_timeout))  # libpq: whole seconds, 2 at least
        if "application_name" not in params and "PGAPPNAME" not in os.environ:
            extra["application_name"] = application_name
        return extra


def scrub(text: str, password: str | None) -> str:
    """``text`` without the password: the known one, and whatever stands where a URL or a keyword string
    would carry one."""
    if password:
        text = text.replace(password, "***")
    text = _URL_PASSWORD.sub(r"\1***@", text)
    return _KEYWORD_PASSWORD.sub(r"\1***", text)


def _password_in(url: str) -> str | None:
    """The password of a URL libpq refused, read the lenient way (``user:pass@`` before the host)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


def _describe(params: dict[str, Any]) -> str:
    user = params.get("user") or os.environ.get("PGUSER") or _login_name()
    host = params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST") or "localhost"
    port = params.get("port") or os.environ.get("PGPORT") or "5432"
    database = params.get("dbname") or os.environ.get("PGDATABASE") or user
    return f"{user}@{host}:{port}/{database}"


def _login_name() -> str:
    try:
        import getpass

        return getpass.getuser()
    except (KeyError, OSError):
        return "?"


def unavailable(exc: BaseException, target: Target, doing: str) -> PromptshelfError:
    """A driver or pool failure as the error promptshelf's callers get."""
    if isinstance(exc, PromptshelfError):
        return exc
    if isinstance(exc, PoolTimeout):
        return UnavailableError(
            f"PostgreSQL at {target.where} is unavailable: no connection could be had for {doing} "
            "within the pool timeout (--pool-timeout); is the server up and accepting connections?"
        )
    reason = target.scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    return UnavailableError(f"PostgreSQL at {target.where} is unavailable ({doing} failed): {reason}")


async def connect(target: Target, pool_timeout: float, application_name: str) -> psycopg.AsyncConnection[Any]:
    """One connection outside the pool (migrations, LISTEN), its failure an ``UnavailableError``."""
    try:
        return await psycopg.AsyncConnection.connect(
            target.url, **target.connect_kwargs(pool_timeout, application_name)
        )
    except psycopg.Error as exc:
        raise unavailable(exc, target, "connecting") from None


async def open_pool(
    target: Target, *, min_size: int, max_size: int, wait_timeout: float
) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
        target.url,
        min_size=min_size,
        max_size=max_size,
        timeout=wait_timeout,
        reconnect_timeout=RECONNECT_TIMEOUT,
        kwargs=target.connect_kwargs(wait_timeout),
        open=False,
        name="promptshelf",
    )
    try:
        await pool.open(wait=min_size > 0, timeout=wait_timeout)
    except (PoolTimeout, psycopg.Error) as exc:
        await pool.close()
        raise unavailable(exc, target, "opening the connection pool") from None
    return pool
