"""First login needs a password change (401/1024), as on a fresh install, over real sockets."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.conftest import PASSWORD, USER, MakeSim, Sim, assert_error, bearer

NEW_PASSWORD = "N3w-passw0rd!"
COMPLEXITY = (
    "Password doesn't meet complexity requirements: length between 8 and 64 characters, at "
    "least 1 each of upper-case character, lower-case character, digit, special character "
    "(!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~) are required"
)


def login(sim: Sim, password: str = PASSWORD, **body: Any) -> httpx.Response:
    """Basic-auth login with `body` as JSON (none when empty)."""
    return sim.client.post("/v1/users/login", auth=(USER, password), json=body or None)


def meta(sim: Sim) -> dict[str, str]:
    return {"version": sim.deployment.config.version, "api_status": "stable"}


def test_first_login_needs_new_password(make_sim: MakeSim) -> None:
    """password_change_required: a login without new_password is 401/1024, exactly."""
    sim = make_sim(password_change_required=True)
    response = sim.login()
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "meta": meta(sim),
        "errors": [
            {
                "code": 1024,
                "title": "Password change required",
                "details": "Password must be changed",
            }
        ],
    }
    # Still required: nothing changed.
    assert_error(login(sim), 401, 1024, "Password must be changed")


@pytest.mark.parametrize("body", [{"new_password": ""}, {"new_password": None}, {"other": 1}])
def test_empty_new_password_is_none(make_sim: MakeSim, body: dict[str, Any]) -> None:
    """An empty, null or absent new_password is no new password: still 401/1024."""
    sim = make_sim(password_change_required=True)
    assert_error(login(sim, **body), 401, 1024)


def test_new_password_without_json_type_ignored(make_sim: MakeSim) -> None:
    """The Webapp reads parameters only from an application/json body."""
    sim = make_sim(password_change_required=True)
    response = sim.client.post(
        "/v1/users/login",
        auth=(USER, PASSWORD),
        content=b'{"new_password": "N3w-passw0rd!"}',
        headers={"Content-Type": "text/plain"},
    )
    assert_error(response, 401, 1024)


def test_login_with_new_password_changes_it(make_sim: MakeSim) -> None:
    """A valid new_password changes the password and returns a working token."""
    sim = make_sim(password_change_required=True)
    response = login(sim, new_password=NEW_PASSWORD)
    assert response.status_code == 200
    [user] = response.json()["users"]
    assert sim.get("/metrics", headers=bearer(user["token"])).status_code == 200
    assert_error(sim.login(), 401, 1005)  # the old password is gone
    again = sim.login(password=NEW_PASSWORD)  # and no change is asked for any more
    assert again.status_code == 200
    state = sim.client.get("/_sim/state").json()
    assert state["users_to_change_password"] == []


def test_wrong_password_checked_first(make_sim: MakeSim) -> None:
    """A wrong current password is 401/1005 even with a valid new_password; nothing changes."""
    sim = make_sim(password_change_required=True)
    assert_error(login(sim, password="wrong-password", new_password=NEW_PASSWORD), 401, 1005)
    assert_error(sim.login(), 401, 1024)


@pytest.mark.parametrize(
    "new_password",
    [
        "Sh0rt!",  # 6 characters
        "n0-upper-case!",
        "N0-LOWER-CASE!",
        "No-digits-here!",
        "N0specialchars",
        "Sp4ce is-not-allowed",
        "Ünic0de-not-allowed!",
        "L0ng-" + "x" * 60,  # 65 characters
        12345678,
        ["N3w-passw0rd!"],
    ],
)
def test_weak_new_password_is_400_1009(make_sim: MakeSim, new_password: Any) -> None:
    """A new password that breaks the rules is 400/1009 with the source's text; none changes."""
    sim = make_sim(password_change_required=True)
    response = login(sim, new_password=new_password)
    assert response.status_code == 400
    assert response.json() == {
        "meta": meta(sim),
        "errors": [{"code": 1009, "title": "Parameter value is not valid", "details": COMPLEXITY}],
    }
    assert_error(sim.login(), 401, 1024)


@pytest.mark.parametrize("new_password", ["Aa1!aaaa", "Aa1!" + "a" * 60, "~Zz9[]\\^_`{|}"])
def test_edge_new_passwords_accepted(make_sim: MakeSim, new_password: str) -> None:
    """8 and 64 characters, and any ASCII punctuation, are accepted."""
    sim = make_sim(password_change_required=True)
    assert login(sim, new_password=new_password).status_code == 200
    assert sim.login(password=new_password).status_code == 200


def test_undecodable_body_is_400_1025(make_sim: MakeSim) -> None:
    """A login body sent as JSON that does not decode is 400/1025."""
    sim = make_sim(password_change_required=True)
    response = sim.client.post(
        "/v1/users/login",
        auth=(USER, PASSWORD),
        content=b'{"new_password": ',
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 400, 1025, "Unable to decode the request: Syntax error")


def test_off_by_default(make_sim: MakeSim) -> None:
    """Without the setting a login needs no new password, and one given still changes it."""
    sim = make_sim()
    assert sim.login().status_code == 200
    assert login(sim, new_password=NEW_PASSWORD).status_code == 200
    assert sim.login(password=NEW_PASSWORD).status_code == 200


def test_admin_switches_requirement(make_sim: MakeSim) -> None:
    """POST /_sim/auth password_change_required turns the requirement on and off."""
    sim = make_sim()
    on = sim.admin_auth(password_change_required=True)
    assert on.status_code == 200
    assert on.json()["password_change_required"] is True
    assert on.json()["users_to_change_password"] == [USER]
    assert_error(sim.login(), 401, 1024)
    off = sim.admin_auth(password_change_required=False)
    assert off.json()["users_to_change_password"] == []
    assert sim.login().status_code == 200


@pytest.mark.parametrize("value", ["yes", 1, None, [True]])
def test_admin_requirement_bad_value(make_sim: MakeSim, value: Any) -> None:
    """A password_change_required that is not true or false is a 400 and changes nothing."""
    sim = make_sim()
    response = sim.admin_auth(password_change_required=value)
    assert response.status_code == 400
    assert sim.login().status_code == 200
