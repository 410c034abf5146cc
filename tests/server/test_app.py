"""The SDK server promptshelf registers its handlers on (server/app.py, ``_Server``)."""

from __future__ import annotations

import copy

import mcp.types as types

from promptshelf import __version__
from promptshelf.server.app import _Server


def test_the_server_info_stamp_is_the_sdks_dump_and_a_fresh_dict_each_time() -> None:
    server = _Server("promptshelf", version=__version__)
    first = server.server_info_stamp
    assert first == {"name": "promptshelf", "version": __version__}
    assert first == copy.deepcopy(server._server_info_stamp_source)
    first["name"] = "changed by a caller"
    assert server.server_info_stamp == {"name": "promptshelf", "version": __version__}
    assert server.server_info_stamp is not server.server_info_stamp


def test_a_stamp_holding_more_than_text_is_still_copied_deeply() -> None:
    icon = types.Icon(src="https://example.com/icon.png", mime_type="image/png")
    server = _Server("promptshelf", version=__version__, icons=[icon])
    first = server.server_info_stamp
    assert first["icons"] == [{"src": "https://example.com/icon.png", "mimeType": "image/png"}]
    first["icons"][0]["src"] = "changed by a caller"
    assert server.server_info_stamp["icons"][0]["src"] == "https://example.com/icon.png"
