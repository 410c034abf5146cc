"""The MCP server: the SDK's low-level ``Server`` with promptshelf's handlers, one per method.

The handlers are thin: arguments in, a service call, the service's result out. Tools are data
(``tools.TOOLS``); MCP prompts, resources and completions are backed by the store through the service;
``ChangeHub`` (``notifications``) watches for changes. The low-level server is used rather than
``MCPServer`` because the listings must paginate from the store, unknown prompts and bad arguments must be
``-32602``, and both eras must advertise ``listChanged`` and ``subscribe``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, cast

import mcp.types as types
from mcp.server import Server
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.caching import CacheHint
from mcp.server.connection import Connection
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.models import InitializationOptions
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS
from mcp_types.methods import CACHEABLE_METHODS, CacheableMethod
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from promptshelf import __version__
from promptshelf.errors import ForbiddenError, InvalidArgumentError, NotFoundError, PromptshelfError
from promptshelf.model import LATEST, Role, validate_label, validate_name
from promptshelf.server import uris
from promptshelf.server.notifications import ChangeHub
from promptshelf.server.tools import TOOLS, TOOLS_BY_NAME, ToolSpec
from promptshelf.service import PromptService

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
"""Items per page of prompts/list and resources/list."""
MAX_COMPLETIONS = 100
MAX_SUBSCRIPTIONS = 1000
"""Resource subscriptions per session: each costs a digest kept and a read on every change."""
"""The spec's cap on completion values."""
WRITE_SCOPE = "promptshelf:write"
READ_SCOPE = "promptshelf:read"

INSTRUCTIONS = (
    "promptshelf is a versioned prompt registry. Use list_prompts to find prompts, get_prompt to read one, "
    "render_prompt to fill its variables. Publishing a new version needs base_version (the version you "
    "read). Labels such as 'production' are movable pointers to versions."
)


_NO_CACHE = CacheHint(ttl_ms=0, scope="private")
"""Prompts change at any time (and what a caller may see depends on its token): results are never fresh."""


class _Server(Server[Any]):
    """The SDK server, advertising change notifications on the handshake era too (its default is off)."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(prompts_changed=True, resources_changed=True),
            experimental_capabilities,
            extensions,
        )

    @cached_property
    def _server_info_stamp_is_text(self) -> bool:
        return all(type(value) is str for value in self._server_info_stamp_source.values())

    @property
    def server_info_stamp(self) -> dict[str, Any]:
        """The SDK's fresh copy of the ``serverInfo`` dump that every 2026-era result carries, without
        ``copy.deepcopy`` when the dump holds only text (promptshelf's: its name and version): a new dict
        of the same immutable values is then already a deep copy. The deep copy was a fourteenth of the
        Python a ``prompts/get`` runs."""
        if self._server_info_stamp_is_text:
            return dict(self._server_info_stamp_source)
        return super().server_info_stamp


@dataclass
class PromptshelfMCP:
    """The handlers, and the ``Server`` they are registered on (``.server``)."""

    service: PromptService
    read_only: bool = False

    def __post_init__(self) -> None:
        self.hub = ChangeHub(self.service, self._document_text)
        self.tools: tuple[ToolSpec[Any], ...] = tuple(
            tool for tool in TOOLS if tool.read_only or not self.read_only
        )
        self._tools_by_name = {tool.name: tool for tool in self.tools}
        self.server = _Server(
            "promptshelf",
            version=__version__,
            instructions=INSTRUCTIONS,
            cache_hints={
                cast(CacheableMethod, method): CacheHint(ttl_ms=0, scope="private")
                for method in CACHEABLE_METHODS
            },
            get_tool_input_schema=self._input_schema,
            on_list_tools=self.list_tools,
            # These two answer with the result's wire form, a plain dict holding what the model's dump
            # would (its defaults included), which the SDK's kernel takes as well as a model
            # (``HandlerResult``) and validates against the same per-version surface: the models would
            # only be built to be dumped straight away (about a twentieth of a prompts/get).
            on_call_tool=cast(Any, self.call_tool),
            on_list_prompts=self.list_prompts,
            on_get_prompt=cast(Any, self.get_prompt),
            on_list_resources=self.list_resources,
            on_list_resource_templates=self.list_resource_templates,
            on_read_resource=self.read_resource,
            on_subscribe_resource=self.subscribe,
            on_unsubscribe_resource=self.unsubscribe,
            on_subscriptions_listen=self.hub.listen,
            on_completion=self.complete,
        )
        # The SDK's default middleware is an OpenTelemetry span per message; promptshelf does not export
        # traces, and it costs latency on every request.
        self.server.middleware = [self._middleware]

    # -- tools ---------------------------------------------------------------------------------------

    def _input_schema(self, name: str) -> dict[str, Any] | None:
        tool = self._tools_by_name.get(name)
        return tool.input_schema if tool else None

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[tool.definition for tool in self.tools])

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | dict[str, Any]:
        tool = self._tools_by_name.get(params.name)
        if tool is None:
            hint = " (the server is read-only)" if params.name in TOOLS_BY_NAME else ""
            raise MCPError(INVALID_PARAMS, f"unknown tool {params.name!r}{hint}")
        try:
            if not tool.read_only and not can_write(ctx):
                raise ForbiddenError(
                    f"{tool.name} changes the registry; this caller's token grants read access only"
                )
            result = await tool.call(self.service, params.arguments)
        except PromptshelfError as exc:
            return tool_error(exc)
        except Exception:
            logger.exception("tool %s failed", tool.name)
            return tool_error(PromptshelfError(f"{tool.name} failed unexpectedly; see the server log"))
        if not tool.read_only:
            await self._after_write()
        return {
            "content": [_text(result.json_text)],
            "structuredContent": result.to_json(),
            "isError": False,
            "resultType": "complete",
        }

    async def _after_write(self) -> None:
        try:
            await self.hub.check()
        except Exception:
            logger.exception("notifying a change failed")

    # -- MCP prompts ---------------------------------------------------------------------------------

    async def list_prompts(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        listing = await self._listing(params)
        prompts = []
        for summary in listing.prompts:
            try:
                resolved = await self.service.resolve(summary.name)
            except NotFoundError as exc:
                if exc.details.get("name") != summary.name:  # not archived meanwhile: a missing include
                    logger.warning("prompt %r is not listed: %s", summary.name, exc.message)
                continue  # else archived or its label removed between the two reads
            except PromptshelfError as exc:
                logger.warning("prompt %r is not listed: %s", summary.name, exc.message)
                continue
            arguments = [
                types.PromptArgument(name=var.name, description=var.description, required=_required(var))
                for var in resolved.variables
            ]
            prompts.append(
                types.Prompt(name=summary.name, description=summary.description, arguments=arguments)
            )
        return types.ListPromptsResult(prompts=prompts, next_cursor=listing.next_cursor)

    async def get_prompt(
        self, ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> dict[str, Any]:
        try:
            resolved = await self.service.resolve(params.name)
            texts, _ = self.service.render_texts(resolved, params.arguments or {}, strict=True)
        except NotFoundError as exc:
            raise invalid_params(f"unknown prompt {params.name!r}: {exc.message}", exc) from None
        except InvalidArgumentError as exc:
            raise invalid_params(f"prompt {params.name!r}: {exc.message}", exc) from None
        except PromptshelfError as exc:
            raise internal_error(exc) from None
        found = resolved.version
        if found.type == "text":
            messages = [_user_message(texts[0])]
        else:
            chat = list(zip((message.role for message in found.messages or []), texts, strict=True))
            messages = [_user_message(text) for role, text in chat if role == "system"]
            messages += [_message(role, text) for role, text in chat if role != "system"]
        return {"description": found.description, "messages": messages, "resultType": "complete"}

    # -- resources -----------------------------------------------------------------------------------

    async def list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        listing = await self._listing(params)
        resources = [
            types.Resource(
                name=summary.name,
                uri=uris.prompt_uri(summary.name),
                description=summary.description,
                mime_type="application/json",
            )
            for summary in listing.prompts
        ]
        return types.ListResourcesResult(resources=resources, next_cursor=listing.next_cursor)

    async def list_resource_templates(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    name="prompt",
                    uri_template=uris.PROMPT_TEMPLATE,
                    description="A prompt at the server's default label, as get_prompt returns it.",
                    mime_type="application/json",
                ),
                types.ResourceTemplate(
                    name="prompt-version",
                    uri_template=uris.VERSION_TEMPLATE,
                    description="One exact version of a prompt.",
                    mime_type="application/json",
                ),
                types.ResourceTemplate(
                    name="prompt-label",
                    uri_template=uris.LABEL_TEMPLATE,
                    description="The version of a prompt that a label points at.",
                    mime_type="application/json",
                ),
            ]
        )

    async def read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        try:
            text = await self._document_text(uri)
        except (NotFoundError, InvalidArgumentError) as exc:
            raise invalid_params(f"resource {uri!r}: {exc.message}", exc, uri=uri) from None
        except PromptshelfError as exc:
            raise internal_error(exc, uri=uri) from None
        if text is None:
            raise invalid_params(f"unknown resource {uri!r}: not a prompt:// URI of a prompt", None, uri=uri)
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type="application/json", text=text)]
        )

    async def _document_text(self, uri: str) -> str | None:
        target = uris.parse(uri)
        if target is None:
            return None
        document = await self.service.get_prompt(target.name, version=target.version, label=target.label)
        return json.dumps(document.to_json(), ensure_ascii=False)

    async def subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        uri = str(params.uri)
        target = uris.parse(uri)
        if target is None:
            raise invalid_params(f"cannot subscribe to {uri[:300]!r}: not a prompt:// URI", None)
        validate_name(target.name)  # the same rules as resources/read: no URI a prompt could never have
        if target.label is not None:
            validate_label(target.label, allow_latest=True)
        connection = connection_of(ctx)
        if uri not in self.hub.subscriptions(connection) and len(self.hub.subscriptions(connection)) >= (
            MAX_SUBSCRIPTIONS
        ):
            raise InvalidArgumentError(
                f"this session already has {MAX_SUBSCRIPTIONS} subscriptions, the limit; unsubscribe first",
                argument="uri",
            )
        await self.hub.subscribe(connection, uri)
        return types.EmptyResult()

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        self.hub.unsubscribe(connection_of(ctx), str(params.uri))
        return types.EmptyResult()

    # -- completions ---------------------------------------------------------------------------------

    async def complete(
        self, ctx: ServerRequestContext[Any, Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        value = params.argument.value
        context = dict(params.context.arguments or {}) if params.context else {}
        try:
            if isinstance(params.ref, types.PromptReference):
                values = await self._complete_prompt_argument(params.ref.name, params.argument.name, value)
            else:
                values = await self._complete_template(params.ref.uri, params.argument.name, value, context)
        except NotFoundError:
            values = []
        except InvalidArgumentError as exc:
            raise invalid_params(exc.message, exc) from None
        except PromptshelfError as exc:
            raise internal_error(exc) from None
        return types.CompleteResult(
            completion=types.Completion(
                values=values[:MAX_COMPLETIONS], total=len(values), has_more=len(values) > MAX_COMPLETIONS
            )
        )

    async def _complete_prompt_argument(self, prompt: str, argument: str, value: str) -> list[str]:
        try:
            resolved = await self.service.resolve(prompt)
        except NotFoundError as exc:
            raise invalid_params(f"unknown prompt {prompt!r}", exc) from None
        for variable in resolved.variables:
            if variable.name == argument and variable.enum:
                return [option for option in variable.enum if option.startswith(value)]
        return []

    async def _complete_template(
        self, template: str, argument: str, value: str, context: dict[str, str]
    ) -> list[str]:
        if template not in (uris.PROMPT_TEMPLATE, uris.VERSION_TEMPLATE, uris.LABEL_TEMPLATE):
            raise invalid_params(f"unknown resource template {template!r}", None)
        if argument == "name":
            return await self._prompt_names(value)
        name = context.get("name")
        if not name:
            return []
        try:
            validate_name(name)
        except InvalidArgumentError:  # no prompt has that name: nothing to complete or to ask the store
            return []
        if argument == "version" and template == uris.VERSION_TEMPLATE:
            summary = await self.service.store.get_summary(name)
            versions = [str(v) for v in range(summary.latest_version, 0, -1)]
            return [version for version in versions if version.startswith(value)]
        if argument == "label" and template == uris.LABEL_TEMPLATE:
            summary = await self.service.store.get_summary(name)
            labels = sorted({LATEST, *summary.labels})
            return [label for label in labels if label.startswith(value)]
        return []

    async def _prompt_names(self, prefix: str) -> list[str]:
        names: list[str] = []
        cursor: str | None = None
        while len(names) <= MAX_COMPLETIONS:
            page = await self.service.list_prompts(search=prefix or None, cursor=cursor, limit=200)
            names += [summary.name for summary in page.prompts if summary.name.startswith(prefix)]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        return names

    # -- shared --------------------------------------------------------------------------------------

    async def _listing(self, params: types.PaginatedRequestParams | None) -> Any:
        cursor = params.cursor if params else None
        label = self.service.policy.default_label
        try:
            return await self.service.list_prompts(cursor=cursor, limit=PAGE_SIZE, label=label)
        except InvalidArgumentError as exc:
            raise invalid_params(f"invalid cursor: {exc.message}", exc) from None
        except PromptshelfError as exc:
            raise internal_error(exc) from None

    async def _middleware(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """The one middleware (each layer costs every request a coroutine): errors mapped, then each
        handshake-era connection remembered once it is initialized (so that it hears of changes)."""
        result = await _map_errors(ctx, call_next)
        if ctx.method != "initialize" and ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            connection = connection_of(ctx)
            if connection.initialize_accepted:
                self.hub.track(connection)
        return result


async def _map_errors(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Whatever a handler raises reaches the client as a JSON-RPC error with a real code.

    Handlers map the errors they expect themselves; this is the net under them. Left to the SDK, any other
    exception would answer code 0 with the exception's text (handshake eras): a library's message, or a
    path, on the wire. A promptshelf error keeps its code (the caller's mistake is -32602); anything else is
    logged here, with its traceback, and the client only hears that it failed.
    """
    try:
        return await call_next(ctx)
    except (MCPError, ValidationError):  # already a wire error (the SDK answers -32602 for the latter)
        raise
    except (InvalidArgumentError, NotFoundError) as exc:
        raise invalid_params(exc.message, exc) from None
    except PromptshelfError as exc:
        raise internal_error(exc) from None
    except Exception:
        logger.exception("%s failed", ctx.method)
        raise MCPError(INTERNAL_ERROR, f"{ctx.method} failed unexpectedly; see the server log") from None


def connection_of(ctx: ServerRequestContext[Any, Any]) -> Connection:
    """The connection a request arrived on (the SDK keeps it on the session without a public accessor)."""
    connection: Connection = ctx.session._connection
    return connection


def can_write(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether the caller may use write tools: always on stdio and without auth; with the write token on
    HTTP when tokens are configured."""
    request = ctx.request
    scope = getattr(request, "scope", None)
    user = scope.get("user") if isinstance(scope, dict) else None
    if isinstance(user, AuthenticatedUser):
        return WRITE_SCOPE in user.scopes
    return True


def tool_error(exc: PromptshelfError) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=f"{exc.code}: {exc.message}")],
        structured_content={"error": exc.to_dict()},
        is_error=True,
    )


def invalid_params(message: str, exc: PromptshelfError | None, **extra: Any) -> MCPError:
    """JSON-RPC -32602; its data is the structured error a tool result would carry."""
    data: dict[str, Any] = (
        exc.to_dict() if exc is not None else {"code": "invalid_argument", "message": message}
    )
    return MCPError(INVALID_PARAMS, message, data={**data, **extra})


def internal_error(exc: PromptshelfError, **extra: Any) -> MCPError:
    """JSON-RPC -32603 for a failure that is not the caller's (the vendor is down, say), with the
    structured error a tool result would carry. Without it the SDK answers code 0 (handshake eras) or a
    bare "Internal server error" (2026-07-28)."""
    return MCPError(INTERNAL_ERROR, exc.message, data={**exc.to_dict(), **extra})


def _required(variable: Any) -> bool:
    return bool(variable.required and variable.default is None)


def _text(text: str) -> dict[str, Any]:
    """A ``TextContent``, in its wire form."""
    return {"type": "text", "text": text}


def _user_message(text: str) -> dict[str, Any]:
    """A ``PromptMessage`` from the user, in its wire form."""
    return {"role": "user", "content": _text(text)}


def _message(role: Role, text: str) -> dict[str, Any]:
    """A ``PromptMessage`` in its wire form (MCP knows the roles user and assistant)."""
    mcp_role: Literal["user", "assistant"] = "assistant" if role == "assistant" else "user"
    return {"role": mcp_role, "content": _text(text)}
