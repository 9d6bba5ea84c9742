"""The ways Pricelab is started must not drift apart: Makefile, docker-compose, README."""

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def make_recipe(target: str) -> str:
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{target}:.*\n\t(.+)$", text, re.MULTILINE)
    assert match, f"no recipe for {target}"
    return match.group(1)


@pytest.mark.parametrize(
    ("service", "target", "values"),
    [
        ("web", "web", {"HOST": "0.0.0.0", "PORT": "8000", "WEB_WORKERS": "2"}),  # noqa: S104
        ("realtime", "realtime", {"HOST": "0.0.0.0", "REALTIME_PORT": "8001"}),  # noqa: S104
        ("worker", "worker", {}),
        ("beat", "beat", {"BEAT_SCHEDULE": "/tmp/celerybeat-schedule"}),  # noqa: S108
    ],
)
def test_compose_runs_what_the_makefile_runs(service, target, values):
    recipe = make_recipe(target).replace("$(BIN)/", "")
    for name, value in values.items():
        recipe = recipe.replace(f"$({name})", value)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"][service]["command"] == shlex.split(recipe)


def test_every_setting_read_from_the_environment_is_in_the_readme():
    settings_source = (ROOT / "config" / "settings.py").read_text()
    names = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_]+)"', settings_source))
    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "SENTRY_DSN"} <= names
    readme = (ROOT / "README.md").read_text()
    table_rows = {m for m in re.findall(r"^\| `([A-Z_]+)` \|", readme, re.MULTILINE)}
    assert names - table_rows == set(), "settings missing from the README table"


def test_the_proxy_sends_the_live_feed_to_realtime_and_the_rest_to_web():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    proxy = compose["services"]["proxy"]
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in proxy["volumes"]
    assert "ports" not in compose["services"]["web"], "all traffic goes through the proxy"
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    routes = dict(re.findall(r"location ([^{]+?) \{.*?proxy_pass http://(\w+);", conf, re.DOTALL))
    assert routes == {"/ws/": "realtime", "= /api/v1/prices/stream": "realtime", "/": "web"}
    assert compose["x-app"]["environment"]["RATELIMIT_IP_META_KEY"] == "HTTP_X_REAL_IP"
