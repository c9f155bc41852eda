"""docker/: the compose file is valid (checked by Debian's docker-compose) and has the shape the
production guide promises. No Docker engine runs here, so nothing is built or started."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.helpers import service_missing

DOCKER = Path(__file__).resolve().parent.parent / "docker"


def _config() -> dict[str, object]:
    tool = shutil.which("docker-compose")
    if tool is None:
        service_missing("docker-compose is not installed (apt-get install docker-compose)")
        raise AssertionError("unreachable")
    env = dict(os.environ, DISCONF_SECRET_KEY="test-secret")
    result = subprocess.run(
        [tool, "-f", str(DOCKER / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = yaml.safe_load(result.stdout)
    assert isinstance(loaded, dict)
    return loaded


def test_compose_file_is_valid_and_complete() -> None:
    services = _config()["services"]
    assert isinstance(services, dict)
    assert {"mysql", "zk1", "zk2", "zk3", "web1", "web2", "nginx"} <= set(services)
    for web in ("web1", "web2"):
        env = services[web]["environment"]
        assert env["DISCONF_ZK_HOSTS"] == "zk1:2181,zk2:2181,zk3:2181"
        assert env["DISCONF_DATABASE_URL"].startswith("mysql+pymysql://")
        assert env["DISCONF_SECRET_KEY"] == "test-secret"
    ids = {services[name]["environment"]["ZOO_MY_ID"] for name in ("zk1", "zk2", "zk3")}
    assert ids == {"1", "2", "3"}


def test_compose_refuses_to_run_without_a_secret_key() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        service_missing("docker-compose is not installed")
        return
    env = {k: v for k, v in os.environ.items() if k != "DISCONF_SECRET_KEY"}
    result = subprocess.run(
        [tool, "-f", str(DOCKER / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "DISCONF_SECRET_KEY" in result.stderr


def test_nginx_balances_both_web_servers() -> None:
    text = (DOCKER / "nginx.conf").read_text()
    assert "server web1:8080" in text and "server web2:8080" in text
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "disconf-web serve" in dockerfile and "db upgrade" in dockerfile


def _directives(text: str) -> list[str]:
    return [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]


def test_probes_readiness_for_the_balancer_liveness_for_the_image() -> None:
    """/readyz (serves client reads) gates the load balancer; /healthz is liveness."""
    services = _config()["services"]
    assert isinstance(services, dict)
    for web in ("web1", "web2"):
        check = " ".join(services[web]["healthcheck"]["test"])
        assert "/readyz" in check and "/healthz" not in check
        assert services["nginx"]["depends_on"][web]["condition"] == "service_healthy"
        env = services[web]["environment"]
        assert float(env["DISCONF_HTTP_HEADER_TIMEOUT"]) > 0
        assert float(env["DISCONF_HTTP_BODY_TIMEOUT"]) > 0
    dockerfile = (DOCKER / "Dockerfile").read_text().splitlines()
    health = next(i for i, line in enumerate(dockerfile) if line.startswith("HEALTHCHECK"))
    assert "/healthz" in dockerfile[health + 1] and "/readyz" not in dockerfile[health + 1]
    nginx = _directives((DOCKER / "nginx.conf").read_text())
    assert "proxy_next_upstream error timeout http_502 http_503;" in nginx
    for directive in ("client_header_timeout", "client_body_timeout", "send_timeout"):
        assert any(line.startswith(directive + " ") for line in nginx), directive
