"""Input that a database cannot store is refused as input (422), on SQLite and PostgreSQL alike,
never answered with a 500."""

from __future__ import annotations

from tests.api.conftest import ApiWorld


def test_nul_in_json_fields_is_invalid_input(api: ApiWorld) -> None:
    login = api.client.post("/v1/auth/login", json={"username": "a\x00b", "passphrase": "x" * 12})
    assert login.status_code == 422
    assert login.headers["content-type"] == "application/problem+json"
    case = api.client.post("/v1/cases", json={"name": "bad\x00name"}, headers=api.auth("admin"))
    assert case.status_code == 422


def test_nul_in_a_path_username_is_not_a_server_error(api: ApiWorld) -> None:
    response = api.client.delete(
        f"/v1/cases/{api.world.case_id}/members/a%00b", headers=api.auth("admin")
    )
    # SQLite can look the name up and finds nobody; PostgreSQL refuses the value. Neither is a 5xx.
    assert response.status_code in (404, 422)
    assert response.headers["content-type"] == "application/problem+json"


def test_nul_in_upload_fields_stores_nothing(api: ApiWorld) -> None:
    response = api.client.post(
        "/v1/documents",
        headers=api.auth("jules"),
        data={"case": str(api.world.case_id), "title": "bad\x00title"},
        files={"file": ("x.txt", b"content", "text/plain")},
    )
    assert response.status_code == 422
    assert list(api.world.vault.blobs.blob_ids()) == []


def test_a_value_the_database_refuses_is_the_same_invalid_input_answer(api: ApiWorld) -> None:
    # PostgreSQL refuses NUL in text (a DataError): the storage layer turns that into the
    # vault's InvalidInput, which the API answers like any other invalid input. SQLite stores
    # the name, looks it up and finds nobody.
    response = api.client.delete(
        f"/v1/cases/{api.world.case_id}/members/a%00b", headers=api.auth("admin")
    )
    if api.world.vault.settings.database_url is None:
        assert response.status_code == 404
        return
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:source-vault:problem:invalid-input",
        "title": "Invalid input",
        "status": 422,
        "detail": "a value contains characters that cannot be stored",
    }
