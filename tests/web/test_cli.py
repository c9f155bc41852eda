"""``disconf-web`` commands: db upgrade, create-user, create-token, serve's settings check,
quickstart as a real subprocess stopped by SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from click.testing import CliRunner

from disconf_web import services
from disconf_web.cli import main
from disconf_web.embedded_zookeeper import find_zookeeper_classpath, four_letter_word, free_port
from disconf_web.extensions import Database
from disconf_web.migrate import current_revision, head_revision
from disconf_web.models import User
from tests.helpers import service_missing, wait_until


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for key in list(os.environ):
        if key.startswith("DISCONF_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DISCONF_DATABASE_URL", database_url)
    return database_url


def test_db_upgrade_is_idempotent(env: str) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert "newest schema" in first.output
    assert current_revision(env) == head_revision()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0


def test_create_user_and_token(env: str) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    created = runner.invoke(
        main, ["create-user", "alice", "--role", "editor"], input="s3cret-password\n"
    )
    assert created.exit_code == 0, created.output
    assert "created editor user 'alice'" in created.output
    database = Database(env)
    try:
        with database.new_session() as session:
            user = session.scalar(sa.select(User).where(User.name == "alice"))
            assert user is not None and user.role == "editor"
            assert "s3cret" not in user.password_hash
            assert services.authenticate(session, "alice", "s3cret-password") is not None
            assert services.authenticate(session, "alice", "wrong-password") is None
    finally:
        database.dispose()
    duplicate = runner.invoke(main, ["create-user", "alice", "--role", "viewer"], input="x" * 9)
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    short = runner.invoke(main, ["create-user", "bob", "--role", "viewer"], input="short\n")
    assert short.exit_code == 1 and "at least 8" in short.output
    bad_role = runner.invoke(main, ["create-user", "bob", "--role", "root"], input="x" * 9)
    assert bad_role.exit_code == 2

    token = runner.invoke(main, ["create-token", "alice", "--name", "ci"])
    assert token.exit_code == 0, token.output
    secret = token.output.strip()
    assert secret.startswith("dsk_") and len(secret) > 40
    database = Database(env)
    try:
        with database.new_session() as session:
            owner = services.user_for_token(session, secret)
            assert owner is not None and owner.name == "alice"
    finally:
        database.dispose()
    unknown = runner.invoke(main, ["create-token", "nobody"])
    assert unknown.exit_code == 1 and "user 'nobody' does not exist" in unknown.output


def test_serve_refuses_without_secret_key(env: str) -> None:
    result = CliRunner().invoke(main, ["serve", "--port", str(free_port())])
    assert result.exit_code == 1
    assert "DISCONF_SECRET_KEY is not set" in result.output


def test_bad_settings_are_all_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from disconf_web import SettingsError, create_app

    monkeypatch.setenv("DISCONF_MAX_CONFIG_BYTES", "lots")
    monkeypatch.setenv("DISCONF_ZK_PREFIX", "/a//..")
    with pytest.raises(SettingsError) as error:
        create_app({"ZK_ENABLED": "maybe"})
    message = str(error.value)
    for fragment in ("MAX_CONFIG_BYTES='lots'", "ZK_PREFIX", "ZK_ENABLED='maybe'", "SECRET_KEY"):
        assert fragment in message


def test_help_texts() -> None:
    runner = CliRunner()
    for command in ([], ["serve"], ["quickstart"], ["create-user"], ["create-token"], ["db"]):
        result = runner.invoke(main, [*command, "--help"])
        assert result.exit_code == 0
    assert "--workers" in runner.invoke(main, ["serve", "--help"]).output
    assert "--data-dir" in runner.invoke(main, ["quickstart", "--help"]).output
    for command in ("serve", "quickstart"):
        text = runner.invoke(main, [command, "--help"]).output
        for option in ("--header-timeout", "--body-timeout", "DISCONF_HTTP_HEADER_TIMEOUT"):
            assert option in text, (command, option)


def test_front_timeouts_are_checked_before_serving() -> None:
    runner = CliRunner()
    for args in (["--header-timeout", "0"], ["--body-timeout", "-1"], ["--header-timeout", "x"]):
        result = runner.invoke(main, ["serve", "--port", str(free_port()), *args])
        assert result.exit_code == 2, result.output
    result = runner.invoke(
        main, ["serve", "--port", str(free_port())], env={"DISCONF_HTTP_HEADER_TIMEOUT": "soon"}
    )
    assert result.exit_code == 2
    assert "'soon'" in result.output and "--header-timeout" in result.output


def test_cli_and_quickstart_share_serving_without_an_import_cycle() -> None:
    """Issue 11: quickstart never imports the CLI module; both use disconf_web.serving."""
    code = (
        "import sys, disconf_web.quickstart as q, disconf_web.serving as s; "
        "assert 'disconf_web.cli' not in sys.modules, 'quickstart imports the CLI'; "
        "assert q.serve_app is s.serve_app"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    import ast

    import disconf_web.cli as cli
    import disconf_web.quickstart as quickstart

    tree = ast.parse(Path(quickstart.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "cli" not in imported and "disconf_web.cli" not in imported  # not even in a function

    assert cli.serve_app is cli.run_quickstart.__globals__["serve_app"]


@pytest.mark.slow
def test_quickstart_serves_and_stops_on_sigint(tmp_path: Path) -> None:
    try:
        find_zookeeper_classpath()
    except Exception as exc:  # noqa: BLE001
        service_missing(f"ZooKeeper jars unavailable: {exc}")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("DISCONF_")}
    log_path = tmp_path / "quickstart.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "disconf_web", "quickstart", "--port", str(port),
             "--data-dir", str(tmp_path / "qs"), "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return requests.get(url + "/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return process.poll() is not None

    try:
        wait_until(ready, timeout=90, message="quickstart ready")
        assert process.poll() is None, log_path.read_text()
        output = log_path.read_text()
        assert "admin user:  admin  password: " in output
        assert "DISCONF_SERVERS=127.0.0.1:" in output and "DISCONF_APP=demo" in output
        token = next(line.split()[-1] for line in output.splitlines() if "API token:" in line)
        params = {"app": "demo", "env": "dev", "version": "1_0_0"}
        item = requests.get(url + "/api/config/item", params={**params, "key": "discountRate"})
        assert item.json() == {"status": 1, "message": "", "value": "0.5"}
        file = requests.get(url + "/api/config/file", params={**params, "key": "redis.properties"})
        assert b"redis.port=6379" in file.content
        apps = requests.get(url + "/api/v1/apps", headers={"Authorization": f"Bearer {token}"})
        assert [app["name"] for app in apps.json()["apps"]] == ["demo"]
        zk_port = int(output.split("starting ZooKeeper on 127.0.0.1:")[1].split()[0])
        assert four_letter_word(zk_port, "ruok") == "imok"

        # A gunicorn worker that exits (recycled, timed out) must not take ZooKeeper with it:
        # workers are forked inside quickstart and unwind its stack when they exit.
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        workers = [
            int(pid)
            for pid in children
            if "java" not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        ]
        assert workers, children
        os.kill(workers[0], signal.SIGTERM)
        wait_until(
            lambda: (
                not Path(f"/proc/{workers[0]}").exists()
                or "Z" in Path(f"/proc/{workers[0]}/stat").read_text().split()[2]
            ),
            timeout=30,
            message="the worker exits",
        )
        wait_until(ready, timeout=30, message="a respawned worker")
        assert four_letter_word(zk_port, "ruok") == "imok"
        assert "stopping ZooKeeper" not in log_path.read_text()

        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0, log_path.read_text()
        output = log_path.read_text()
        assert "quickstart stopped" in output
        assert output.count("stopping ZooKeeper") == 1
        with pytest.raises(requests.RequestException):
            requests.get(url + "/healthz", timeout=2)
        assert four_letter_word(zk_port, "ruok") == ""  # ZooKeeper was stopped too
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
