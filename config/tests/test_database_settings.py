"""Database settings an operator changes for a connection pooler (docs/OPERATIONS.md)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps(s.DATABASES['default']['DISABLE_SERVER_SIDE_CURSORS']))"
)


def _server_side_cursors_disabled(**env: str) -> bool:
    environ = {k: v for k, v in os.environ.items() if k != "DB_DISABLE_SERVER_SIDE_CURSORS"}
    environ.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "true", **env})
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_server_side_cursors_stay_on_unless_a_transaction_pooler_needs_them_off():
    assert _server_side_cursors_disabled() is False
    assert _server_side_cursors_disabled(DB_DISABLE_SERVER_SIDE_CURSORS="true") is True
