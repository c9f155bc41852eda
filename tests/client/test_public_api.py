from __future__ import annotations

import disconf_client


def test_all_matches_the_public_names() -> None:
    exported = {
        name
        for name, value in vars(disconf_client).items()
        if not name.startswith("_")
        and not isinstance(value, type(disconf_client))
        and name != "annotations"
    }
    assert set(disconf_client.__all__) == exported
    assert disconf_client.__all__ == sorted(disconf_client.__all__)
