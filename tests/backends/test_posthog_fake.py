"""The fake PostHog against PostHog's own API tests, over real HTTP.

Each test ports the assertions of one test of ``posthog/api/test/test_llm_prompt.py`` in ``PostHog/posthog``
@ ``0037ddf4caa956b3fca7cb03ce6aa861321a7795`` (named in its docstring) for a route promptshelf uses: list,
create, get by name, publish (PATCH), resolve, archive, and label PUT/DELETE. Where PostHog's test seeds
rows in its database, these write them through the API. Every answer the fake gives is also checked
against PostHog's schemas (``tests/contracts/posthog/``); the last tests prove that check fails on a wrong
field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.contracts.posthog_contract import REQUESTS, RESPONSES, PostHogContract, problems
from tests.fakes.posthog import MAX_PROMPT_BYTES, Exchange, FakePostHog, label_name_problem, run_fake_posthog


@dataclass
class Api:
    client: httpx.Client
    fake: FakePostHog
    contract: PostHogContract

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params)

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return self.client.post(path, json=body)

    def patch(self, path: str, body: Any) -> httpx.Response:
        return self.client.patch(path, json=body)

    def put(self, path: str, body: Any) -> httpx.Response:
        return self.client.put(path, json=body)

    def delete(self, path: str) -> httpx.Response:
        return self.client.delete(path)

    def make(self, name: str, *prompts: Any) -> None:
        """Version 1 from the first prompt, then one published version per further prompt."""
        assert self.post("", {"name": name, "prompt": prompts[0]}).status_code == 201
        for base, prompt in enumerate(prompts[1:], start=1):
            assert self.patch(f"name/{name}/", {"prompt": prompt, "base_version": base}).status_code == 200

    def set_label(self, name: str, label: str, version: int) -> httpx.Response:
        return self.put(f"name/{name}/labels/{label}/", {"version": version})

    def labels_by_version(self, name: str) -> dict[int, list[str]]:
        response = self.get(f"resolve/name/{name}/")
        assert response.status_code == 200
        return {entry["version"]: entry["labels"] for entry in response.json()["versions"]}

    def version_id(self, name: str, version: int) -> str:
        return str(next(r["id"] for r in self.fake.rows if r["name"] == name and r["version"] == version))


def serve(fake: FakePostHog) -> Iterator[Api]:
    contract = PostHogContract()
    fake.observer = contract.observe
    with (
        run_fake_posthog(fake) as url,
        httpx.Client(
            base_url=f"{url}/api/environments/{fake.project_id}/llm_prompts/",
            headers={"Authorization": f"Bearer {fake.api_key}"},
        ) as client,
    ):
        yield Api(client, fake, contract)
    # Requests here are PostHog's tests' own (some deliberately outside the schema); answers never are.
    assert contract.checked > 0
    assert not [v for v in contract.violations if " answer" in v], contract.violations


@pytest.fixture
def api() -> Iterator[Api]:
    yield from serve(FakePostHog(publish_limit=None))


# -- create --------------------------------------------------------------------------------------------


def test_create_prompt_with_unique_name_succeeds(api: Api) -> None:
    """``TestLLMPromptAPI.test_create_prompt_with_unique_name_succeeds``"""
    response = api.post(
        "",
        {
            "name": "my-prompt",
            "prompt": "You are a helpful assistant.",
            "version_description": "Initial version",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["version"], body["is_latest"], body["latest_version"], body["version_count"]) == (
        1,
        True,
        1,
        1,
    )
    assert body["version_description"] == "Initial version"


def test_create_prompt_with_duplicate_active_name_fails(api: Api) -> None:
    """``TestLLMPromptAPI.test_create_prompt_with_duplicate_active_name_fails``"""
    api.make("my-prompt", "Prompt content")
    response = api.post("", {"name": "my-prompt", "prompt": "Duplicate prompt"})
    assert response.status_code == 400
    assert response.json()["attr"] == "name"
    assert response.json()["detail"] == "A prompt with this name already exists."


def test_create_prompt_with_same_name_as_archived_versions_restarts_at_version_one(api: Api) -> None:
    """``TestLLMPromptAPI.test_create_prompt_with_same_name_as_archived_versions_restarts_at_version_one``"""
    api.make("archived-prompt", "v1", "v2")
    assert api.post("name/archived-prompt/archive/").status_code == 204
    response = api.post("", {"name": "archived-prompt", "prompt": "New active prompt"})
    assert response.status_code == 201
    assert (response.json()["version"], response.json()["latest_version"]) == (1, 1)


def test_create_prompt_ignores_deleted_field(api: Api) -> None:
    """``TestLLMPromptAPI.test_create_prompt_ignores_deleted_field``"""
    response = api.post("", {"name": "my-prompt", "prompt": "Prompt content", "deleted": True})
    assert response.status_code == 201
    assert response.json()["deleted"] is False


def test_create_ignores_labels_which_are_read_only() -> None:
    """Not a PostHog test: ``labels`` is ``readonly`` in ``LLMPromptApi`` (api.schemas.ts @ 00f6238b) and
    absent from ``LlmPromptsCreateBody`` (MCP api.ts @ 02aa25dc); DRF ignores read-only input."""
    for api in serve(FakePostHog(publish_limit=None)):
        response = api.post("", {"name": "p", "prompt": "x", "labels": ["production"]})
        assert response.status_code == 201 and response.json()["labels"] == []
        published = api.patch("name/p/", {"prompt": "y", "base_version": 1, "labels": ["production"]})
        assert published.status_code == 200 and published.json()["labels"] == []
        assert api.fake.labels["p"] == {}
        # The contract sees both requests as what they are: fields PostHog drops.
        assert [v for v in api.contract.violations if "labels" in v and "request" in v]


def test_create_prompt_rejects_payload_above_max_size(api: Api) -> None:
    """``TestLLMPromptAPI.test_create_prompt_rejects_payload_above_max_size``"""
    response = api.post("", {"name": "oversized-prompt", "prompt": "x" * (MAX_PROMPT_BYTES + 1)})
    assert response.status_code == 400
    assert response.json()["attr"] == "prompt"
    assert "bytes or fewer" in response.json()["detail"]


def test_create_prompt_with_reserved_name_new_fails(api: Api) -> None:
    """``TestLLMPromptAPI.test_create_prompt_with_reserved_name_new_fails``"""
    response = api.post("", {"name": "new", "prompt": "Content"})
    assert response.status_code == 400
    assert response.json()["attr"] == "name"
    assert "'new' is a reserved name" in response.json()["detail"]


def test_create_prompt_with_invalid_name_fails(api: Api) -> None:
    """``TestLLMPromptAPI.test_create_prompt_with_invalid_name_fails``"""
    response = api.post("", {"name": "invalid name with spaces", "prompt": "Content"})
    assert response.status_code == 400
    assert response.json()["attr"] == "name"
    assert "Only letters, numbers, hyphens (-) and underscores (_) are allowed" in response.json()["detail"]


def test_create_prompt_with_config_persists_it_and_fetch_returns_it(api: Api) -> None:
    """``TestLLMPromptConfigAPI.test_create_prompt_with_config_persists_it_and_fetch_returns_it``"""
    config = {"model": "gpt-4o", "temperature": 0}
    response = api.post("", {"name": "with-config", "prompt": "content", "config": config})
    assert response.status_code == 201 and response.json()["config"] == config
    fetched = api.get("name/with-config/")
    assert fetched.status_code == 200 and fetched.json()["config"] == config


def test_create_rejects_non_object_config(api: Api) -> None:
    """``TestLLMPromptConfigAPI.test_create_rejects_non_object_config``"""
    response = api.post("", {"name": "bad-config", "prompt": "content", "config": ["gpt-4o"]})
    assert response.status_code == 400 and response.json()["attr"] == "config"


# -- list ----------------------------------------------------------------------------------------------


def test_list_returns_only_latest_rows_for_active_version_histories(api: Api) -> None:
    """``TestLLMPromptAPI.test_list_returns_only_latest_rows_for_active_version_histories``"""
    api.make("prompt-a", "v1", "v2")
    api.make("prompt-b", "only")
    response = api.get("")
    assert response.status_code == 200
    results = response.json()["results"]
    assert {prompt["name"] for prompt in results} == {"prompt-a", "prompt-b"}
    prompt_a = next(prompt for prompt in results if prompt["name"] == "prompt-a")
    assert (prompt_a["version"], prompt_a["latest_version"], prompt_a["version_count"]) == (2, 2, 2)
    assert prompt_a["prompt"] == "v2" and prompt_a["prompt_size_bytes"] > 0


def test_list_includes_outline_parsed_from_prompt_markdown(api: Api) -> None:
    """``TestLLMPromptAPI.test_list_includes_outline_parsed_from_prompt_markdown``"""
    api.make("outlined", "# Role\nYou are helpful.\n## Tools\nsearch")
    outline = api.get("").json()["results"][0]["outline"]
    assert outline == [{"level": 1, "text": "Role"}, {"level": 2, "text": "Tools"}]


def test_list_all_labels_includes_labels_on_non_latest_versions_in_one_query(api: Api) -> None:
    """``TestLLMPromptLabelsAPI.test_list_all_labels_includes_labels_on_non_latest_versions_in_one_query``"""
    api.make("prompt-a", "v1", "v2")
    api.make("prompt-b", "v1")
    assert api.set_label("prompt-a", "production", 1).status_code == 201
    assert api.set_label("prompt-b", "staging", 1).status_code == 201
    labels_by_prompt = {entry["name"]: entry["all_labels"] for entry in api.get("").json()["results"]}
    assert labels_by_prompt == {
        "prompt-a": [{"name": "production", "version": 1}],
        "prompt-b": [{"name": "staging", "version": 1}],
    }


def test_list_with_label_returns_labeled_versions_and_omits_unlabeled_prompts(api: Api) -> None:
    """``TestLLMPromptLabelsAPI.test_list_with_label_returns_labeled_versions_and_omits_unlabeled_prompts``"""
    api.make("prompt-a", "Prompt content", "v2")
    api.make("prompt-b", "Prompt content")
    api.make("prompt-c", "Prompt content")
    assert api.set_label("prompt-a", "production", 1).status_code == 201
    assert api.set_label("prompt-b", "production", 1).status_code == 201
    assert api.set_label("prompt-c", "staging", 1).status_code == 201
    results = api.get("", label="production", order_by="name").json()["results"]
    assert [(entry["name"], entry["version"]) for entry in results] == [("prompt-a", 1), ("prompt-b", 1)]
    assert results[0]["is_latest"] is False and results[0]["latest_version"] == 2
    assert results[0]["prompt"] == "Prompt content"


# -- get by name ---------------------------------------------------------------------------------------


def test_fetch_prompt_by_name_returns_latest_by_default(api: Api) -> None:
    """``TestLLMPromptAPI.test_fetch_prompt_by_name_returns_latest_by_default``"""
    api.make("test-prompt", "v1", "v2")
    response = api.get("name/test-prompt/")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == api.version_id("test-prompt", 2)
    assert (body["prompt"], body["version"], body["latest_version"], body["version_count"]) == ("v2", 2, 2, 2)
    first = next(r for r in api.fake.rows if r["name"] == "test-prompt" and r["version"] == 1)
    assert body["first_version_created_at"] == first["created_at"]
    assert "created_by" not in body
    # LLMPromptPublicApi carries none of these either (api.schemas.ts @ 00f6238b).
    assert not {"version_description", "labels", "all_labels"} & set(body)


def test_fetch_prompt_by_name_includes_outline(api: Api) -> None:
    """``TestLLMPromptAPI.test_fetch_prompt_by_name_includes_outline``"""
    api.make("outlined", "# Role\n## Tools")
    body = api.get("name/outlined/").json()
    assert body["prompt"] == "# Role\n## Tools"
    assert body["outline"] == [{"level": 1, "text": "Role"}, {"level": 2, "text": "Tools"}]


def test_fetch_prompt_by_name_with_explicit_version_returns_historical_version(api: Api) -> None:
    """``TestLLMPromptAPI.test_fetch_prompt_by_name_with_explicit_version_returns_historical_version``"""
    api.make("test-prompt", "v1", "v2")
    body = api.get("name/test-prompt/", version=1).json()
    assert body["id"] == api.version_id("test-prompt", 1)
    assert (body["prompt"], body["version"], body["is_latest"]) == ("v1", 1, False)
    assert (body["latest_version"], body["version_count"]) == (2, 2)


def test_fetch_prompt_by_name_not_found(api: Api) -> None:
    """``TestLLMPromptAPI.test_fetch_prompt_by_name_not_found``"""
    response = api.get("name/non-existent/")
    assert response.status_code == 404
    assert "non-existent" in response.json()["detail"]
    assert "list the project's prompts" in response.json()["detail"].lower()


def test_fetch_prompt_at_unknown_version_points_at_the_version_not_the_name(api: Api) -> None:
    """``TestLLMPromptAPI.test_fetch_prompt_at_unknown_version_points_at_the_version_not_the_name``"""
    api.make("my-prompt", "x")
    response = api.get("name/my-prompt/", version=7)
    assert response.status_code == 404
    assert "version 7" in response.json()["detail"]
    assert "list the project's prompts" not in response.json()["detail"].lower()


@pytest.mark.parametrize("version", [2, 1])
def test_fetch_prompt_by_version_id_resolves_to_the_prompt(api: Api, version: int) -> None:
    """``TestLLMPromptAPI.test_fetch_prompt_by_version_id_resolves_to_the_prompt``"""
    api.make("by-id", "v1", "v2")
    response = api.get(f"name/{api.version_id('by-id', version)}/")
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["version"]) == ("by-id", 2)


def test_fetch_prompt_by_unknown_version_id_is_not_found(api: Api) -> None:
    """``TestLLMPromptAPI.test_fetch_prompt_by_unknown_version_id_is_not_found``"""
    api.make("by-id", "x")
    assert api.get("name/019f5632-6df1-0000-5093-46d18b1bc987/").status_code == 404


def test_fetch_prompt_named_like_a_uuid_wins_over_the_id_lookup(api: Api) -> None:
    """``TestLLMPromptAPI.test_fetch_prompt_named_like_a_uuid_wins_over_the_id_lookup``"""
    api.make("other", "other content")
    other_id = api.version_id("other", 1)
    api.make(other_id, "named like a uuid")
    response = api.get(f"name/{other_id}/")
    assert response.status_code == 200 and response.json()["prompt"] == "named like a uuid"


def test_fetch_by_label_returns_resolved_version_and_survives_label_move(api: Api) -> None:
    """``TestLLMPromptLabelsAPI.test_fetch_by_label_returns_resolved_version_and_survives_label_move``"""
    api.make("my-prompt", "v1 content", "v2 content")
    api.set_label("my-prompt", "production", 1)
    first = api.get("name/my-prompt/", label="production")
    assert first.status_code == 200
    assert (first.json()["version"], first.json()["prompt"], first.json()["label"]) == (
        1,
        "v1 content",
        "production",
    )
    api.set_label("my-prompt", "production", 2)
    second = api.get("name/my-prompt/", label="production")
    assert (second.json()["version"], second.json()["prompt"]) == (2, "v2 content")


def test_fetch_by_label_after_cached_miss_sees_newly_created_label(api: Api) -> None:
    """``TestLLMPromptLabelsAPI.test_fetch_by_label_after_cached_miss_sees_newly_created_label``"""
    api.make("my-prompt", "x")
    assert api.get("name/my-prompt/", label="production").status_code == 404
    api.set_label("my-prompt", "production", 1)
    response = api.get("name/my-prompt/", label="production")
    assert response.status_code == 200 and response.json()["version"] == 1


def test_fetch_rejects_invalid_label_params(api: Api) -> None:
    """``TestLLMPromptLabelsAPI.test_fetch_rejects_invalid_label_params``"""
    api.make("my-prompt", "x")
    api.set_label("my-prompt", "production", 1)
    assert api.get("name/my-prompt/", label="production", version=1).status_code == 400
    assert api.get("name/my-prompt/", label="Production").status_code == 400


def test_fetch_by_label_404s_after_label_delete_and_prompt_archive(api: Api) -> None:
    """``TestLLMPromptLabelsAPI.test_fetch_by_label_404s_after_label_delete_and_prompt_archive``"""
    api.make("my-prompt", "x")
    api.set_label("my-prompt", "production", 1)
    assert api.get("name/my-prompt/", label="production").status_code == 200
    api.delete("name/my-prompt/labels/production/")
    assert api.get("name/my-prompt/", label="production").status_code == 404
    api.set_label("my-prompt", "production", 1)
    assert api.get("name/my-prompt/", label="production").status_code == 200
    api.post("name/my-prompt/archive/")
    assert api.get("name/my-prompt/", label="production").status_code == 404


# -- publish -------------------------------------------------------------------------------------------


def test_update_prompt_by_name_creates_new_immutable_row(api: Api) -> None:
    """``TestLLMPromptAPI.test_update_prompt_by_name_creates_new_immutable_row``"""
    api.make("publish-prompt", "v1")
    response = api.patch("name/publish-prompt/", {"prompt": "v2", "base_version": 1})
    assert response.status_code == 200
    original = next(r for r in api.fake.rows if r["name"] == "publish-prompt" and r["version"] == 1)
    assert original["prompt"] == "v1" and original["is_latest"] is False
    assert response.json()["id"] == api.version_id("publish-prompt", 2)
    assert (response.json()["latest_version"], response.json()["version_count"]) == (2, 2)


def test_publish_persists_version_description_and_returns_it_in_version_summaries(api: Api) -> None:
    """``TestLLMPromptAPI.test_publish_persists_version_description_and_returns_it_in_version_summaries``"""
    api.make("publish-prompt", "v1")
    response = api.patch(
        "name/publish-prompt/",
        {"prompt": "v2", "base_version": 1, "version_description": "Tightened the refusal criteria"},
    )
    assert response.status_code == 200
    assert response.json()["version_description"] == "Tightened the refusal criteria"
    versions = api.get("resolve/name/publish-prompt/").json()["versions"]
    assert [v["version_description"] for v in versions] == ["Tightened the refusal criteria", None]


def test_update_prompt_by_name_returns_conflict_for_stale_base_version(api: Api) -> None:
    """``TestLLMPromptAPI.test_update_prompt_by_name_returns_conflict_for_stale_base_version``"""
    api.make("publish-prompt", "v1", "v2")
    response = api.patch("name/publish-prompt/", {"prompt": "stale", "base_version": 1})
    assert response.status_code == 409 and response.json()["current_version"] == 2


def test_stale_base_version_is_checked_before_edits(api: Api) -> None:
    """Not a PostHog test: ``publish_prompt_version`` (``posthog/api/services/llm_prompt.py`` @ 02730896)
    raises the version conflict before it applies edits, so a stale edit is a 409, not an edit error."""
    api.make("p", "Hello world", "Hello there")
    response = api.patch("name/p/", {"edits": [{"old": "world", "new": "you"}], "base_version": 1})
    assert response.status_code == 409 and response.json()["current_version"] == 2


@pytest.mark.parametrize("version", [2, 1])
def test_update_prompt_by_version_id_publishes_against_the_prompt(api: Api, version: int) -> None:
    """``TestLLMPromptAPI.test_update_prompt_by_version_id_publishes_against_the_prompt``"""
    api.make("publish-prompt", "v1", "v2")
    response = api.patch(
        f"name/{api.version_id('publish-prompt', version)}/", {"prompt": "v3", "base_version": 2}
    )
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["version"]) == ("publish-prompt", 3)


def test_update_prompt_by_name_rejects_payload_above_max_size(api: Api) -> None:
    """``TestLLMPromptAPI.test_update_prompt_by_name_rejects_payload_above_max_size``"""
    api.make("publish-prompt", "v1")
    response = api.patch("name/publish-prompt/", {"prompt": "x" * (MAX_PROMPT_BYTES + 1), "base_version": 1})
    assert response.status_code == 400
    assert response.json()["attr"] == "prompt" and "bytes or fewer" in response.json()["detail"]


def test_update_prompt_by_name_rejects_publish_when_version_limit_reached() -> None:
    """``TestLLMPromptAPI.test_update_prompt_by_name_rejects_publish_when_version_limit_reached``"""
    for api in serve(FakePostHog(publish_limit=None, max_versions=2)):
        api.make("publish-prompt", "v1", "v-limit")
        response = api.patch("name/publish-prompt/", {"prompt": "v-over-limit", "base_version": 2})
        assert response.status_code == 400 and "2" in response.json()["detail"]
        assert len([r for r in api.fake.rows if r["name"] == "publish-prompt"]) == 2


def test_update_prompt_by_name_with_edits_applies_find_replace(api: Api) -> None:
    """``TestLLMPromptAPI.test_update_prompt_by_name_with_edits_applies_find_replace``"""
    api.make("edit-prompt", "You are a helpful assistant.")
    response = api.patch(
        "name/edit-prompt/",
        {"edits": [{"old": "helpful assistant", "new": "expert coding assistant"}], "base_version": 1},
    )
    assert response.status_code == 200 and response.json()["version"] == 2
    assert response.json()["prompt"] == "You are a expert coding assistant."


def test_update_prompt_by_name_with_multiple_edits_applies_sequentially(api: Api) -> None:
    """``TestLLMPromptAPI.test_update_prompt_by_name_with_multiple_edits_applies_sequentially``"""
    api.make("multi-edit", "Hello world. Goodbye world.")
    edits = [{"old": "Hello world", "new": "Hi there"}, {"old": "Goodbye world", "new": "See you later"}]
    response = api.patch("name/multi-edit/", {"edits": edits, "base_version": 1})
    assert response.status_code == 200 and response.json()["prompt"] == "Hi there. See you later."


@pytest.mark.parametrize(
    ("prompt", "edits", "expected"),
    [
        ("Hello world.", [{"old": "nonexistent text", "new": "replacement"}], "not found"),
        ("foo bar foo", [{"old": "foo", "new": "baz"}], "matches 2 times"),
    ],
)
def test_update_prompt_by_name_with_edits_rejects_bad_edit(
    api: Api, prompt: str, edits: list[dict[str, str]], expected: str
) -> None:
    """``TestLLMPromptAPI.test_update_prompt_by_name_with_edits_rejects_bad_edit``"""
    api.make("edit-error", prompt)
    response = api.patch("name/edit-error/", {"edits": edits, "base_version": 1})
    assert response.status_code == 400
    assert expected in response.json()["detail"] and response.json()["edit_index"] == 0


@pytest.mark.parametrize(
    "data",
    [{"prompt": "v2", "edits": [{"old": "v1", "new": "v2"}], "base_version": 1}, {"base_version": 1}],
)
def test_update_prompt_by_name_rejects_invalid_prompt_edits_combo(api: Api, data: dict[str, Any]) -> None:
    """``TestLLMPromptAPI.test_update_prompt_by_name_rejects_invalid_prompt_edits_combo``"""
    api.make("combo-edit", "v1")
    assert api.patch("name/combo-edit/", data).status_code == 400


def test_update_prompt_by_name_with_edits_rejects_oversized_result(api: Api) -> None:
    """``TestLLMPromptAPI.test_update_prompt_by_name_with_edits_rejects_oversized_result``"""
    api.make("size-edit", "small")
    edits = [{"old": "small", "new": "x" * (MAX_PROMPT_BYTES + 1)}]
    response = api.patch("name/size-edit/", {"edits": edits, "base_version": 1})
    assert response.status_code == 400 and "size limit" in response.json()["detail"]


def test_update_prompt_by_name_with_edits_on_json_prompt(api: Api) -> None:
    """``TestLLMPromptAPI.test_update_prompt_by_name_with_edits_on_json_prompt``"""
    api.make("json-edit", {"system": "You are helpful.", "temperature": 0.7})
    response = api.patch(
        "name/json-edit/",
        {"edits": [{"old": "You are helpful.", "new": "You are an expert."}], "base_version": 1},
    )
    assert response.status_code == 200
    stored = next(r for r in api.fake.rows if r["name"] == "json-edit" and r["version"] == 2)
    assert stored["prompt"] == {"system": "You are an expert.", "temperature": 0.7}


def test_update_prompt_by_name_forbidden_for_personal_api_key_auth() -> None:
    """``TestLLMPromptAPI.test_update_prompt_by_name_forbidden_for_personal_api_key_auth`` (read-only key)"""
    fake = FakePostHog(publish_limit=None)
    for api in serve(fake):
        api.make("publish-prompt", "v1")
        fake.scopes = {"llm_prompt:read"}
        assert api.get("name/publish-prompt/").status_code == 200
        assert api.patch("name/publish-prompt/", {"prompt": "v2", "base_version": 1}).status_code == 403


@pytest.mark.parametrize("payload", [{"prompt": "v2"}, {"edits": [{"old": "v1", "new": "v2"}]}])
def test_publish_without_config_key_carries_config_forward(api: Api, payload: dict[str, Any]) -> None:
    """``TestLLMPromptConfigAPI.test_publish_without_config_key_carries_config_forward``"""
    assert (
        api.post("", {"name": "carry-prompt", "prompt": "v1", "config": {"temperature": 0.7}}).status_code
        == 201
    )
    response = api.patch("name/carry-prompt/", {**payload, "base_version": 1})
    assert response.status_code == 200 and response.json()["config"] == {"temperature": 0.7}
    assert response.json()["prompt"] == "v2"


def test_publish_with_null_config_clears_it(api: Api) -> None:
    """``TestLLMPromptConfigAPI.test_publish_with_null_config_clears_it``"""
    api.post("", {"name": "clear-prompt", "prompt": "v1", "config": {"temperature": 0.7}})
    response = api.patch("name/clear-prompt/", {"prompt": "v2", "config": None, "base_version": 1})
    assert response.status_code == 200 and response.json()["config"] is None


def test_config_only_publish_creates_version_with_prompt_carried_forward(api: Api) -> None:
    """``TestLLMPromptConfigAPI.test_config_only_publish_creates_version_with_prompt_carried_forward``"""
    api.post("", {"name": "config-only", "prompt": "unchanged", "config": {"temperature": 0.2}})
    response = api.patch("name/config-only/", {"config": {"temperature": 0.9}, "base_version": 1})
    assert response.status_code == 200
    assert (response.json()["version"], response.json()["config"]) == (2, {"temperature": 0.9})
    assert (response.json()["prompt"], response.json()["is_latest"]) == ("unchanged", True)


def test_publish_rejects_non_object_config(api: Api) -> None:
    """``TestLLMPromptConfigAPI.test_publish_rejects_non_object_config``"""
    api.make("bad-config", "v1")
    response = api.patch("name/bad-config/", {"prompt": "v2", "config": "gpt-4o", "base_version": 1})
    assert response.status_code == 400 and response.json()["attr"] == "config"
    assert [r["version"] for r in api.fake.rows if r["name"] == "bad-config"] == [1]


# -- resolve -------------------------------------------------------------------------------------------


def test_resolve_prompt_by_name_returns_selected_prompt_and_versions(api: Api) -> None:
    """``TestLLMPromptAPI.test_resolve_prompt_by_name_returns_selected_prompt_and_versions``"""
    api.make("versions-prompt", "v1", "v2")
    data = api.get("resolve/name/versions-prompt/", version=1).json()
    assert data["prompt"]["id"] == api.version_id("versions-prompt", 1)
    assert (data["prompt"]["version"], data["prompt"]["latest_version"]) == (1, 2)
    assert [prompt["version"] for prompt in data["versions"]] == [2, 1]
    assert data["versions"][0]["id"] == api.version_id("versions-prompt", 2)
    assert data["versions"][0]["is_latest"] is True and data["has_more"] is False


def test_resolve_prompt_by_name_supports_paged_versions_with_has_more(api: Api) -> None:
    """``TestLLMPromptAPI.test_resolve_prompt_by_name_supports_paged_versions_with_has_more``"""
    api.make("paged-prompt", "v1", "v2", "v3")
    data = api.get("resolve/name/paged-prompt/", limit=2).json()
    assert [prompt["version"] for prompt in data["versions"]] == [3, 2] and data["has_more"] is True


def test_resolve_prompt_by_name_keeps_versions_page_order_and_limit_for_old_selected_version(
    api: Api,
) -> None:
    """``TestLLMPromptAPI.test_resolve_prompt_by_name_keeps_versions_page_order_and_limit_for_old_selected_version``"""
    api.make("paged-prompt", "v1", "v2", "v3", "v4")
    data = api.get("resolve/name/paged-prompt/", version=1, limit=2).json()
    assert data["prompt"]["version"] == 1 and data["prompt"]["id"] == api.version_id("paged-prompt", 1)
    assert [prompt["version"] for prompt in data["versions"]] == [4, 3] and data["has_more"] is True


def test_resolve_prompt_by_name_supports_before_version_cursor(api: Api) -> None:
    """``TestLLMPromptAPI.test_resolve_prompt_by_name_supports_before_version_cursor``"""
    api.make("paged-prompt", "v1", "v2", "v3")
    data = api.get("resolve/name/paged-prompt/", before_version=2, limit=2).json()
    assert [prompt["version"] for prompt in data["versions"]] == [1] and data["has_more"] is False


def test_resolve_prompt_by_name_rejects_offset_with_before_version(api: Api) -> None:
    """``TestLLMPromptAPI.test_resolve_prompt_by_name_rejects_offset_with_before_version``"""
    api.make("paged-prompt", "v1")
    response = api.get("resolve/name/paged-prompt/", offset=0, before_version=1)
    assert response.status_code == 400 and "offset or before_version" in response.json()["detail"]


def test_resolve_prompt_by_name_supports_explicit_version_for_session_auth(api: Api) -> None:
    """``TestLLMPromptAPI.test_resolve_prompt_by_name_supports_explicit_version_for_session_auth``"""
    api.make("resolve-prompt", "v1", "v2")
    body = api.get("resolve/name/resolve-prompt/", version=1).json()
    assert body["prompt"]["id"] == api.version_id("resolve-prompt", 1) and body["prompt"]["version"] == 1
    assert "created_by" in body["prompt"]


def test_resolve_prompt_by_name_supports_exact_version_id_for_session_auth(api: Api) -> None:
    """``TestLLMPromptAPI.test_resolve_prompt_by_name_supports_exact_version_id_for_session_auth``"""
    api.make("resolve-prompt", "v1", "v2")
    historical = api.version_id("resolve-prompt", 1)
    body = api.get("resolve/name/resolve-prompt/", version=1, version_id=historical).json()
    assert (body["prompt"]["id"], body["prompt"]["version"]) == (historical, 1)


def test_resolve_prompt_by_name_returns_404_for_archived_version_id_after_name_reuse(api: Api) -> None:
    """``TestLLMPromptAPI.test_resolve_prompt_by_name_returns_404_for_archived_version_id_after_name_reuse``"""
    api.make("resolve-prompt", "old")
    historical = api.version_id("resolve-prompt", 1)
    api.post("name/resolve-prompt/archive/")
    api.make("resolve-prompt", "new")
    response = api.get("resolve/name/resolve-prompt/", version=1, version_id=historical)
    assert response.status_code == 404


def test_resolve_prompt_by_name_allowed_for_personal_api_key_auth() -> None:
    """``TestLLMPromptAPI.test_resolve_prompt_by_name_allowed_for_personal_api_key_auth`` (a read-only key)"""
    fake = FakePostHog(publish_limit=None)
    for api in serve(fake):
        api.make("test-prompt", "x")
        fake.scopes = {"llm_prompt:read"}
        assert api.get("resolve/name/test-prompt/").status_code == 200


def test_resolve_returns_all_labels_including_versions_beyond_loaded_page(api: Api) -> None:
    """``TestLLMPromptLabelsAPI.test_resolve_returns_all_labels_including_versions_beyond_loaded_page``"""
    api.make("my-prompt", "v1", "v2", "v3")
    assert api.set_label("my-prompt", "production", 1).status_code == 201
    data = api.get("resolve/name/my-prompt/", limit=1).json()
    assert [entry["version"] for entry in data["versions"]] == [3]
    assert [(label["name"], label["version"]) for label in data["labels"]] == [("production", 1)]


# -- archive -------------------------------------------------------------------------------------------


def test_archive_endpoint_archives_all_active_versions_for_name(api: Api) -> None:
    """``TestLLMPromptAPI.test_archive_endpoint_archives_all_active_versions_for_name``"""
    api.make("archive-prompt", "v1", "v2")
    assert api.post("name/archive-prompt/archive/").status_code == 204
    assert not [r for r in api.fake.rows if r["name"] == "archive-prompt" and not r["deleted"]]
    recreated = api.post("", {"name": "archive-prompt", "prompt": "fresh"})
    assert recreated.status_code == 201 and recreated.json()["version"] == 1


def test_archive_endpoint_invalidates_latest_and_version_fetches(api: Api) -> None:
    """``TestLLMPromptAPI.test_archive_endpoint_invalidates_latest_and_version_fetches``"""
    api.make("archive-prompt", "v1", "v2")
    assert api.get("name/archive-prompt/").status_code == 200
    assert api.get("name/archive-prompt/", version=1).status_code == 200
    assert api.post("name/archive-prompt/archive/").status_code == 204
    assert api.get("name/archive-prompt/").status_code == 404
    assert api.get("name/archive-prompt/", version=1).status_code == 404


def test_archive_prompt_deletes_its_labels(api: Api) -> None:
    """``TestLLMPromptLabelsAPI.test_archive_prompt_deletes_its_labels``"""
    api.make("my-prompt", "x")
    assert api.set_label("my-prompt", "production", 1).status_code == 201
    assert api.post("name/my-prompt/archive/").status_code == 204
    assert api.fake.labels.get("my-prompt", {}) == {}


# -- labels --------------------------------------------------------------------------------------------


def test_set_label_creates_pointer_and_exposes_it_on_versions(api: Api) -> None:
    """``TestLLMPromptLabelsAPI.test_set_label_creates_pointer_and_exposes_it_on_versions``"""
    api.make("my-prompt", "v1", "v2")
    response = api.set_label("my-prompt", "production", 1)
    assert response.status_code == 201
    data = response.json()
    assert (data["name"], data["prompt_name"], data["version"]) == ("production", "my-prompt", 1)
    assert "previous_version" not in data  # LLMPromptLabelApi has none
    assert api.labels_by_version("my-prompt") == {1: ["production"], 2: []}


def test_set_label_moves_existing_label_instead_of_duplicating(api: Api) -> None:
    """``TestLLMPromptLabelsAPI.test_set_label_moves_existing_label_instead_of_duplicating``"""
    api.make("my-prompt", "v1", "v2")
    assert api.set_label("my-prompt", "production", 1).status_code == 201
    response = api.set_label("my-prompt", "production", 2)
    assert response.status_code == 200 and response.json()["version"] == 2
    assert api.labels_by_version("my-prompt") == {1: [], 2: ["production"]}
    assert len(api.fake.labels["my-prompt"]) == 1


def test_version_can_hold_multiple_labels(api: Api) -> None:
    """``TestLLMPromptLabelsAPI.test_version_can_hold_multiple_labels``"""
    api.make("my-prompt", "v1")
    assert api.set_label("my-prompt", "production", 1).status_code == 201
    assert api.set_label("my-prompt", "staging", 1).status_code == 201
    assert api.labels_by_version("my-prompt") == {1: ["production", "staging"]}


def test_set_label_unknown_version_returns_404(api: Api) -> None:
    """``TestLLMPromptLabelsAPI.test_set_label_unknown_version_returns_404``"""
    api.make("my-prompt", "v1")
    assert api.set_label("my-prompt", "production", 7).status_code == 404


def test_set_label_rejects_invalid_name(api: Api) -> None:
    """``TestLLMPromptLabelsAPI.test_set_label_rejects_invalid_name``"""
    api.make("my-prompt", "v1")
    assert api.set_label("my-prompt", "latest", 1).status_code == 400


def test_set_label_limit_blocks_creates_but_not_moves() -> None:
    """``TestLLMPromptLabelsAPI.test_set_label_limit_blocks_creates_but_not_moves`` (the cap patched to 1)"""
    for api in serve(FakePostHog(publish_limit=None, max_labels=1)):
        api.make("my-prompt", "v1", "v2")
        assert api.set_label("my-prompt", "production", 1).status_code == 201
        assert api.set_label("my-prompt", "staging", 1).status_code == 400
        assert api.set_label("my-prompt", "production", 2).status_code == 200


def test_delete_label_removes_pointer(api: Api) -> None:
    """``TestLLMPromptLabelsAPI.test_delete_label_removes_pointer``"""
    api.make("my-prompt", "v1")
    assert api.set_label("my-prompt", "production", 1).status_code == 201
    assert api.delete("name/my-prompt/labels/production/").status_code == 204
    assert api.labels_by_version("my-prompt") == {1: []}
    assert api.delete("name/my-prompt/labels/production/").status_code == 404


def test_label_writes_forbidden_for_read_only_personal_api_key() -> None:
    """``TestLLMPromptLabelsAPI.test_label_writes_forbidden_for_read_only_personal_api_key``"""
    fake = FakePostHog(publish_limit=None)
    for api in serve(fake):
        api.make("my-prompt", "v1")
        fake.scopes = {"llm_prompt:read"}
        assert api.set_label("my-prompt", "production", 1).status_code == 403
        assert api.delete("name/my-prompt/labels/production/").status_code == 403


def test_label_writes_allowed_for_write_scoped_personal_api_key() -> None:
    """``TestLLMPromptLabelsAPI.test_label_writes_allowed_for_write_scoped_personal_api_key``"""
    fake = FakePostHog(publish_limit=None)
    for api in serve(fake):
        api.make("my-prompt", "v1")
        fake.scopes = {"llm_prompt:write"}
        assert api.set_label("my-prompt", "production", 1).status_code == 201
        assert api.delete("name/my-prompt/labels/production/").status_code == 204


BAD_LABELS = [
    "Production",
    "latest",
    "LATEST",
    "3",
    "42",
    "my label",
    "prod/eu",
    "-prod",
    "prod.",
    "",
    "a" * 129,
    "café",
]
GOOD_LABELS = ["production", "a", "v2.rollout", "staging-eu", "tenant_b", "a" * 128]


@pytest.mark.parametrize("label", BAD_LABELS)
def test_rejects_invalid_label_name(label: str) -> None:
    """``TestLLMPromptLabelNameValidationNoDB.test_rejects_invalid_label_name``"""
    assert label_name_problem(label) is not None


@pytest.mark.parametrize("label", GOOD_LABELS)
def test_accepts_valid_label_name(label: str) -> None:
    """``TestLLMPromptLabelNameValidationNoDB.test_accepts_valid_label_name``"""
    assert label_name_problem(label) is None


def test_label_rule_holds_on_the_put_route(api: Api) -> None:
    """``test_set_label_rejects_invalid_name`` for the whole matrix above, through the endpoint."""
    api.make("my-prompt", "v1")
    for label in BAD_LABELS:
        if label and "/" not in label and label.strip() == label:  # an empty or slashed label is no route
            assert api.set_label("my-prompt", label, 1).status_code == 400, label
    for label in GOOD_LABELS:
        assert api.set_label("my-prompt", label, 1).status_code == 201, label


# -- the contract check itself -------------------------------------------------------------------------


def test_the_contract_check_fails_on_a_wrong_field() -> None:
    good_public = {
        "id": "0",
        "name": "p",
        "prompt": "x",
        "config": None,
        "outline": [],
        "version": 1,
        "created_at": "t",
        "updated_at": "t",
        "deleted": False,
        "is_latest": True,
        "latest_version": 1,
        "version_count": 1,
        "first_version_created_at": "t",
    }
    assert problems(RESPONSES, "LLMPromptPublicApi", good_public) == []
    # The fields the old fake put on get by name, which hid audit finding P3.
    for extra in ({"all_labels": []}, {"labels": []}, {"version_description": None}, {"created_by": {}}):
        assert problems(RESPONSES, "LLMPromptPublicApi", {**good_public, **extra}), extra
    assert problems(RESPONSES, "LLMPromptPublicApi", {**good_public, "version": "1"})
    assert problems(REQUESTS, "LlmPromptsCreateBody", {"name": "p", "prompt": "x"}) == []
    assert problems(REQUESTS, "LlmPromptsCreateBody", {"name": "p", "prompt": "x", "labels": ["production"]})
    assert problems(REQUESTS, "LlmPromptsNameLabelsUpdateBody", {"label": "production", "version": 1})
    assert problems(REQUESTS, "LlmPromptsNameLabelsUpdateBody", {"version": 0})
    # And the checker reports an exchange with a wrong answer.
    contract = PostHogContract()
    contract.observe(Exchange("get", "GET", {}, None, 200, {**good_public, "all_labels": []}))
    assert contract.violations and "all_labels" in contract.violations[0]
    with pytest.raises(AssertionError, match="all_labels"):
        contract.assert_clean()


def test_the_fake_answers_the_labels_route_promptshelf_used_to_guess_with_404(api: Api) -> None:
    """Audit finding P1: ``POST name/{name}/labels/`` does not exist in PostHog."""
    api.make("p", "x")
    assert api.post("name/p/labels/", {"label": "production", "version": 1}).status_code == 404
