"""Settings are read once at start-up: a case that sets the environment reads them in a
fresh interpreter."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def setting_at_start(name: str, *, unset: tuple[str, ...] = (), **env: str) -> Any:
    """``settings.<name>`` as a process started with this environment sees it (JSON-decoded).

    ``unset`` names variables of this process's environment the new one must not inherit.
    """
    environ = {key: value for key, value in os.environ.items() if key not in unset}
    environ.update({"DJANGO_SETTINGS_MODULE": "config.settings", **env})
    probe = (
        f"import django, json; django.setup(); from django.conf import settings; print(json.dumps({name}))"
    )
    result = subprocess.run(  # noqa: S603  (our own interpreter, a fixed probe)
        [sys.executable, "-c", probe.replace(name, f"settings.{name}", 1)],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
