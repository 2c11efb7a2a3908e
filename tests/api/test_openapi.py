"""The OpenAPI schema at /api/schema/, and the Swagger UI and ReDoc pages that show it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import URLPattern
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from api import urls as api_urls
from memories.models import Agent, Memory
from tests.api.conftest import BASE, Api

API_KEY_SCHEMES = {"ApiKeyAuth", "BearerAuth"}
ERROR_REF = "#/components/schemas/Error"
DOC_PAGES = ["/api/docs/", "/api/redoc/"]


@pytest.fixture
def schema(client: Client) -> dict[str, Any]:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content
    return response.json()


def path_template(route: URLPattern) -> str:
    """`^agents/(?P<agent_id>[^/]+)/recall/?$` -> `/api/v1/agents/{agent_id}/recall`."""
    regex = str(route.pattern.regex.pattern)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", regex)
    return "/api/v1/" + path.removeprefix("^").removesuffix("$").removesuffix("/?")


def allowed_methods(route: URLPattern) -> set[str]:
    view_class = route.callback.view_class  # type: ignore[attr-defined]
    return {
        method
        for method in view_class.http_method_names
        if hasattr(view_class, method) and method not in {"options", "head"}
    }


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def resolved(node: Any, schema: dict[str, Any]) -> Any:
    """A schema with its $refs inlined, and objects closed to fields it does not name,
    so that a field the code adds without the schema fails validation too."""
    if isinstance(node, list):
        return [resolved(item, schema) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/components/schemas/")
        return resolved(schema["components"]["schemas"][name], schema)
    result = {key: resolved(value, schema) for key, value in node.items()}
    if "properties" in result and "additionalProperties" not in result:
        result["additionalProperties"] = False
    return result


def response_schema(schema: dict[str, Any], path: str, method: str, status: int) -> Any:
    response = schema["paths"][path][method]["responses"][str(status)]
    return resolved(response["content"]["application/json"]["schema"], schema)


def assert_matches(body: Any, body_schema: Any) -> None:
    errors = [error.message for error in OAS30Validator(body_schema).iter_errors(body)]
    assert errors == []


def test_schema_is_public_and_valid_openapi(client: Client, schema: dict[str, Any]) -> None:
    validate(schema)
    assert schema["openapi"].startswith("3.")
    # The schema ignores API keys: a wrong one does not turn it into a 401.
    response = client.get("/api/schema/", {"format": "json"}, HTTP_X_API_KEY="kv-wrong")
    assert response.status_code == 200


def test_schema_is_yaml_by_default(client: Client) -> None:
    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert response.content.startswith(b"openapi: 3.")


def test_schema_holds_only_the_public_api_without_trailing_slashes(schema: dict[str, Any]) -> None:
    assert schema["paths"]
    for path in schema["paths"]:
        assert path.startswith("/api/v1/")
        assert not path.endswith("/")


@pytest.mark.parametrize("route", api_urls.urlpatterns, ids=lambda route: route.name)
def test_every_route_and_method_is_in_the_schema(route: URLPattern, schema: dict[str, Any]) -> None:
    path = path_template(route)

    assert path in schema["paths"]
    documented = set(schema["paths"][path]) & {"get", "post", "put", "patch", "delete"}
    assert documented == allowed_methods(route)


def test_operation_ids_are_unique_and_readable(schema: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(schema)]

    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)+", operation_id) for operation_id in ids)
    assert {"agents_create", "memories_recall", "memories_inject_context"} <= set(ids)


def test_every_operation_documents_auth_errors_and_success(schema: dict[str, Any]) -> None:
    for path, method, operation in operations(schema):
        where = f"{method.upper()} {path}"
        schemes = {name for requirement in operation["security"] for name in requirement}
        assert schemes == API_KEY_SCHEMES, where
        assert {} not in operation["security"], where
        assert operation["summary"] and operation["description"], where

        responses = operation["responses"]
        error_refs = [
            responses[status]["content"]["application/json"]["schema"].get("$ref")
            for status in responses
            if status.startswith("4")
        ]
        assert ERROR_REF in error_refs, where
        assert all(ref == ERROR_REF for ref in error_refs), where
        assert "401" in responses, where
        successes = [status for status in responses if status.startswith("2")]
        assert successes, where
        for status in successes:
            assert responses[status]["content"]["application/json"]["schema"], where


def test_every_operation_has_an_example(schema: dict[str, Any]) -> None:
    for path, method, operation in operations(schema):
        bodies = [operation.get("requestBody", {}), *operation["responses"].values()]
        examples = [
            example
            for body in bodies
            for content in body.get("content", {}).values()
            for example in content.get("examples", {}).values()
        ]
        assert examples, f"{method.upper()} {path}"


def test_examples_match_their_schemas(schema: dict[str, Any]) -> None:
    for path, method, operation in operations(schema):
        for status, response in operation["responses"].items():
            content = response["content"]["application/json"]
            for example in content.get("examples", {}).values():
                assert_matches(example["value"], resolved(content["schema"], schema))
        request = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if request:
            for example in request.get("examples", {}).values():
                assert_matches(example["value"], resolved(request["schema"], schema))


def test_path_and_list_parameters_are_typed_and_described(schema: dict[str, Any]) -> None:
    for path, _, operation in operations(schema):
        declared = {
            parameter["name"]: parameter
            for parameter in operation.get("parameters", [])
            if parameter["in"] == "path"
        }
        assert set(declared) == set(re.findall(r"{(\w+)}", path))
        for parameter in declared.values():
            assert parameter["schema"]["type"] == "string"
            assert parameter["description"]
    memory = schema["paths"]["/api/v1/agents/{agent_id}/memories/{memory_id}"]["get"]
    memory_id = next(p for p in memory["parameters"] if p["name"] == "memory_id")
    assert memory_id["schema"]["format"] == "uuid"

    listing = schema["paths"]["/api/v1/agents/{agent_id}/memories"]["get"]["parameters"]
    query = {parameter["name"]: parameter for parameter in listing if parameter["in"] == "query"}
    assert set(query) == {"limit", "offset", "session_id", "type", "memory_type", "q", "sort"}
    assert all(parameter["description"] for parameter in query.values())
    assert query["limit"]["schema"]["maximum"] == 200


def test_error_component_is_the_one_error_shape(schema: dict[str, Any]) -> None:
    error = schema["components"]["schemas"]["Error"]

    assert set(error["required"]) == {"detail", "code"}
    assert {"detail", "code", "errors"} <= set(error["properties"])
    assert set(schema["components"]["securitySchemes"]) == API_KEY_SCHEMES
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["name"] == "X-API-Key"
    assert schema["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"


def test_recall_answer_matches_its_schema(
    api: Api, agent: Agent, memory: Memory, schema: dict[str, Any]
) -> None:
    response = api.post(
        f"{BASE}/agents/{agent.slug}/recall", {"query": "favourite colour", "explain": True}
    )

    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["memories"]] == [str(memory.uuid)]
    assert_matches(body, response_schema(schema, "/api/v1/agents/{agent_id}/recall", "post", 200))


def test_remember_and_memory_answers_match_their_schemas(
    api: Api, agent: Agent, schema: dict[str, Any]
) -> None:
    remembered = api.remember(agent, "The user lives in Porto", session_id="s1")
    listed = api.get(f"{BASE}/agents/{agent.slug}/memories")
    agent_body = api.get(f"{BASE}/agents/{agent.slug}").json()

    agent_path = "/api/v1/agents/{agent_id}"
    assert_matches(remembered, response_schema(schema, f"{agent_path}/remember", "post", 200))
    assert_matches(listed.json(), response_schema(schema, f"{agent_path}/memories", "get", 200))
    assert_matches(agent_body, response_schema(schema, agent_path, "get", 200))


def test_batch_and_session_answers_match_their_schemas(
    api: Api, agent: Agent, schema: dict[str, Any]
) -> None:
    batch_path = "/api/v1/agents/{agent_id}/remember/batch"
    memories = [{"content": "The user lives in Porto", "session_id": "s1"}, {"content": ""}]

    batch = api.post(f"{BASE}/agents/{agent.slug}/remember/batch", {"memories": memories})
    progress = api.get(batch.json()["progress_url"])
    sessions = api.get(f"{BASE}/agents/{agent.slug}/sessions")

    assert [item["status"] for item in batch.json()["items"]] == ["created", "rejected"]
    assert_matches(batch.json(), response_schema(schema, batch_path, "post", 200))
    assert_matches(
        progress.json(), response_schema(schema, f"{batch_path}/{{batch_id}}", "get", 200)
    )
    assert_matches(
        sessions.json(),
        response_schema(schema, "/api/v1/agents/{agent_id}/sessions", "get", 200),
    )


def test_missing_agent_error_matches_the_error_component(api: Api, schema: dict[str, Any]) -> None:
    response = api.post(f"{BASE}/agents/nope/recall", {"query": "anything"})

    assert response.status_code == 404
    assert response.json()["code"] == "agent_not_found"
    assert_matches(
        response.json(), response_schema(schema, "/api/v1/agents/{agent_id}/recall", "post", 404)
    )
    assert_matches(response.json(), resolved({"$ref": ERROR_REF}, schema))


@pytest.mark.parametrize("page", DOC_PAGES)
def test_doc_pages_load_nothing_from_outside_the_site(client: Client, page: str) -> None:
    response = client.get(page)

    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/schema/" in html
    assert re.findall(r"https?://", html) == []


@pytest.mark.parametrize("page", DOC_PAGES)
def test_doc_pages_are_public_whatever_key_is_sent(client: Client, page: str) -> None:
    assert client.get(page, HTTP_X_API_KEY="kv-wrong").status_code == 200


@pytest.mark.parametrize("page", DOC_PAGES)
def test_doc_pages_assets_are_this_sites_static_files(client: Client, page: str) -> None:
    html = client.get(page).content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)

    assert any(asset.endswith(".js") for asset in assets)
    for asset in assets:
        assert asset.startswith(settings.STATIC_URL), asset
        found = finders.find(asset.removeprefix(settings.STATIC_URL))
        assert found is not None, asset
        assert Path(str(found)).stat().st_size > 0
