"""One boolean parser for every setting (issue 11, section 6): the server settings and the
console's cookie setting accept exactly the words of ``disconf_core.to_bool``."""

from __future__ import annotations

from typing import Any

import pytest

from disconf_core import to_bool
from disconf_web.settings import DEFAULTS, SettingsError, check_settings
from disconf_web.ui.security import _secure_mode

WORDS = ["true", "False", " YES ", "no", "on", "OFF", "1", "0", "y", "N", True, False]
REFUSED = ["maybe", "", "2", "enabled", "t"]


def _settings(**overrides: Any) -> dict[str, Any]:
    config = dict(DEFAULTS, TESTING=True)
    config.update(overrides)
    return config


@pytest.mark.parametrize("word", WORDS)
def test_every_word_of_to_bool_is_a_boolean_setting(word: Any) -> None:
    config = _settings(ZK_ENABLED=word)
    check_settings(config)
    assert config["ZK_ENABLED"] is to_bool(word)
    assert _secure_mode(word) is to_bool(word)


@pytest.mark.parametrize("word", REFUSED)
def test_the_same_words_are_refused_everywhere(word: str) -> None:
    with pytest.raises(ValueError):
        to_bool(word)
    with pytest.raises(SettingsError, match="DISCONF_ZK_ENABLED"):
        check_settings(_settings(ZK_ENABLED=word))
    with pytest.raises(ValueError, match="DISCONF_COOKIE_SECURE"):
        _secure_mode(word)


def test_cookie_secure_keeps_auto() -> None:
    assert _secure_mode("auto") == "auto" and _secure_mode(" AUTO ") == "auto"
