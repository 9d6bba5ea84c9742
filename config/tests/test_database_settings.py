"""Database settings an operator changes for a connection pooler (docs/OPERATIONS.md)."""

from config.tests.settings_probe import setting_at_start

CURSORS = "DATABASES['default']['DISABLE_SERVER_SIDE_CURSORS']"


def test_server_side_cursors_stay_on_unless_a_transaction_pooler_needs_them_off():
    unset = ("DB_DISABLE_SERVER_SIDE_CURSORS",)
    assert setting_at_start(CURSORS, unset=unset, DEBUG="true") is False
    assert setting_at_start(CURSORS, unset=unset, DEBUG="true", DB_DISABLE_SERVER_SIDE_CURSORS="true") is True
