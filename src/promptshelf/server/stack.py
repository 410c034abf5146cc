"""The HTTP server stack: which event loop and which HTTP/1.1 parser uvicorn runs promptshelf on.

``--http-stack`` / ``PROMPTSHELF_HTTP_STACK``:

- ``auto`` (default): uvloop and httptools when they are installed (they are dependencies, so normally
  they are), else the pure-Python stack;
- ``uvloop``: uvloop and httptools, refused clearly when either is missing;
- ``httptools``: asyncio's own loop with httptools;
- ``h11``: asyncio's own loop with h11, the pure-Python stack (what promptshelf ran on before).

``serve`` starts through ``anyio.run``, which makes its own event loop, so uvicorn's ``loop="auto"``
never applies: the loop is chosen here and handed to anyio as its ``loop_factory``. Either parser gets
the same connection deadlines and cap (``connections.timed_protocol``).
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from promptshelf.errors import InvalidArgumentError

HttpStackName = Literal["auto", "uvloop", "httptools", "h11"]
HTTP_STACKS: tuple[HttpStackName, ...] = ("auto", "uvloop", "httptools", "h11")


@dataclass(frozen=True)
class HttpStack:
    loop: Literal["uvloop", "asyncio"]
    parser: Literal["httptools", "h11"]

    def describe(self) -> str:
        return f"{self.loop} + {self.parser}"

    def loop_factory(self) -> Callable[[], asyncio.AbstractEventLoop] | None:
        if self.loop == "asyncio":
            return None
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory

    def protocol_base(self) -> type[Any]:
        """uvicorn's protocol class for this parser (``timed_protocol`` subclasses it)."""
        if self.parser == "httptools":
            from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

            return HttpToolsProtocol
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def resolve_stack(name: str) -> HttpStack:
    """The stack ``name`` stands for on this installation; a clear error for one it cannot have."""
    if name == "auto":
        return HttpStack(
            "uvloop" if _installed("uvloop") else "asyncio", "httptools" if _installed("httptools") else "h11"
        )
    if name == "h11":
        return HttpStack("asyncio", "h11")
    wanted = {"uvloop": ("uvloop", "httptools"), "httptools": ("httptools",)}.get(name)
    if wanted is None:
        raise InvalidArgumentError(
            f"unknown HTTP stack {name!r}: use one of {', '.join(HTTP_STACKS)}", argument="http_stack"
        )
    missing = [module for module in wanted if not _installed(module)]
    if missing:
        raise InvalidArgumentError(
            f"--http-stack {name} needs {' and '.join(missing)}, which is not installed "
            f"(pip install {' '.join(missing)}), or use --http-stack h11",
            argument="http_stack",
        )
    return HttpStack("uvloop" if name == "uvloop" else "asyncio", "httptools")


def run(main: Callable[[], Awaitable[None]], stack: HttpStack) -> None:
    """``anyio.run`` on the stack's event loop."""
    import anyio

    factory = stack.loop_factory()
    anyio.run(main, backend="asyncio", backend_options={"loop_factory": factory} if factory else {})


def running_loop_name() -> str:
    """The event loop actually running (``uvloop`` or ``asyncio``), from its class, for the startup log."""
    loop_type = type(asyncio.get_running_loop())
    return "uvloop" if loop_type.__module__.startswith("uvloop") else "asyncio"


def parser_name(protocol: type[Any]) -> str:
    """The HTTP parser a uvicorn protocol class (or a subclass of one) actually uses, for the startup log."""
    modules = {cls.__module__ for cls in protocol.__mro__}
    if "uvicorn.protocols.http.httptools_impl" in modules:
        return "httptools"
    return "h11" if "uvicorn.protocols.http.h11_impl" in modules else protocol.__name__
