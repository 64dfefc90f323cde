"""AssumedRole: an account's role credentials, assumed again when the map names another role."""

from __future__ import annotations

import datetime
from typing import Any

from amistore_operator.aws import rolecredentials


def test_a_reload_during_assume_role_is_obeyed_before_the_call_is_signed() -> None:
    wanted: list[rolecredentials.Role | None] = [("role-1", None)]
    assumed: list[rolecredentials.Role | None] = []

    def assume() -> tuple[rolecredentials.Role, dict[str, Any]]:
        role = wanted[0]
        assert role is not None
        assumed.append(role)
        if len(assumed) == 1:
            wanted[0] = ("role-2", "new-id")  # the map is reloaded while STS answers
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
        keys = {"access_key": f"KEY{len(assumed)}", "secret_key": "s", "token": "t"}
        return role, {**keys, "expiry_time": expiry.isoformat()}

    held = rolecredentials.AssumedRole(assume=assume, wanted=lambda: wanted[0])
    assert held.get_frozen_credentials().access_key == "KEY2"
    assert held.get_frozen_credentials().access_key == "KEY2"
    assert assumed == [("role-1", None), ("role-2", "new-id")]
