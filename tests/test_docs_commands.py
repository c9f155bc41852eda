"""Every command and snippet shown to a reader runs, verbatim, against a real server.

Sources: the shell blocks (```sh / bash / shell / console) and Python blocks of ``README.md`` and
``docs/*.md``; the ``disconf-web`` / ``disconf`` commands quoted inline in the docs and in the
console's templates; the examples in the ``--help`` output (epilogs) of every ``disconf-web``
and ``disconf`` command; and the commands the ``disconf-web quickstart`` banner prints (the
quickstart is started for real, and its banner's commands run against it).

A command runs as printed, in a ``bash`` of its own, with the state the lines above it in the
same block set (``export X=...``, ``X=...``, ``cd ...``). Only the placeholders a reader fills in
are replaced, from :data:`PLACEHOLDERS` (documented below); nothing else is edited. ``curl`` runs
with ``--fail-with-body`` from a ``.curlrc`` so that an HTTP error (e.g. 415) is a failed
command, as it is for a reader who reads the answer.

A command that does not finish within :data:`COMMAND_TIMEOUT` fails, except the few that run
until stopped (:data:`LONG_RUNNING`): those are started, must reach their ready state within
:data:`READY_TIMEOUT`, and are then stopped by process group (SIGINT, then SIGKILL after
:data:`STOP_TIMEOUT`). Commands a test cannot run are listed in :data:`NOT_RUN` with the reason;
keep that list short.

Python blocks of one file run in order in one interpreter (one namespace, as a reader pastes
them one after the other), with the client settings a reader sets (``DISCONF_SERVERS`` ...
pointing at the live server); functions named ``test_*`` a block defines are then called, as
pytest would.

How to write an example so this test can find it: in Markdown, a fenced ``sh`` block with one
command per line (``\\`` continues a line, ``# comments`` are fine); in a ``--help`` epilog, a
line that starts with ``$ `` (or with ``disconf-web `` / ``disconf ``); usage synopses with
placeholders (``APP ENV VERSION``) belong in a ``text`` block.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from kazoo.client import KazooClient

from disconf_web.embedded_zookeeper import EmbeddedZooKeeper, free_port
from disconf_web.quickstart import DEMO, DEMO_FILE, DEMO_FILE_CONTENT, DEMO_ITEM
from tests.helpers import Budget, service_missing
from tests.plugins.web import LiveServer

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TEMPLATES = sorted((ROOT / "disconf_web" / "templates").rglob("*.html"))
SHELL_LANGS = {"sh", "bash", "shell", "console"}
PYTHON_LANGS = {"python", "py", "python3"}

COMMAND_TIMEOUT = 60.0
"""Seconds a command (or a file's Python blocks) may take before it counts as hung."""
READY_TIMEOUT = 60.0
"""Seconds a long-running command has to reach its ready state."""
STOP_TIMEOUT = 20.0
"""Seconds a stopped long-running command has to exit after SIGINT before SIGKILL."""
ADMIN_PASSWORD = "docs-admin-password"
"""What the test puts in ``$ADMIN_PASSWORD`` (the docs ask the reader to set it)."""

# What a reader fills in, and what the test fills in instead. Text replaced in commands and
# Python blocks; the value is built from the running test's services (see ``Readers``).
PLACEHOLDERS: list[tuple[str, str]] = [
    ("TOKEN=...", "an admin API token (quickstart prints one; `disconf-web create-token`)"),
    ("127.0.0.1:8080", "the address of the reader's server (the test's live server)"),
    ("--host 0.0.0.0", "the listen address: tests listen on loopback only (127.0.0.1)"),
    ("--port 8080", "the port of a server the reader starts (a free port)"),
    (
        "mysql+pymysql://disconf:pw@db:3306/disconf?charset=utf8mb4",
        "the reader's MySQL database (a fresh database on the test's MariaDB)",
    ),
    ("zk1:2181,zk2:2181,zk3:2181", "the reader's ZooKeeper ensemble (the test's ZooKeeper)"),
]

# Environment a reader has: the package installed (``disconf-web`` and ``disconf`` on PATH),
# ``$ADMIN_PASSWORD`` set where the docs ask for it, the quickstart banner's client settings,
# and a ``redis.properties`` in the working directory (the README uploads ``@redis.properties``).

NOT_RUN: dict[str, str] = {
    "scripts/bootstrap.sh": "installs system packages as root; CI runs it before this suite",
    "scripts/test.sh": "runs this very suite",
    "docker compose": "needs a Docker daemon; tests/test_docker.py validates the compose file",
    "cd docker": "only leads to the docker compose commands",
}
"""Commands (matched by substring) a test cannot run, with the reason."""

LONG_RUNNING: dict[str, str] = {
    "disconf watch": "ready when it printed the current value",
    "disconf-web serve": "ready when its /readyz answers 200",
    "disconf-web quickstart": "ready when its banner is printed",
}
"""Commands (matched by substring) that run until stopped."""

_STATE = re.compile(r"^(export\s+)?[A-Za-z_][A-Za-z0-9_]*=|^cd\s")
_EPILOG_COMMAND = re.compile(r"^(\$ |(\.venv/bin/)?(disconf-web|disconf|curl) )")
_INLINE = re.compile(
    r"`((?:\.venv/bin/)?disconf(?:-web)? [^`]+)`|<code>(disconf(?:-web)? [^<]+)</code>"
)


@dataclass(frozen=True)
class Block:
    source: str
    lang: str
    text: str

    @property
    def id(self) -> str:
        return self.source


def _fenced_blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = path.read_text().splitlines()
    index = 0
    name = path.relative_to(ROOT).as_posix()
    while index < len(lines):
        match = re.match(r"^```(\w*)", lines[index])
        if match is None:
            index += 1
            continue
        start = index + 1
        end = start
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        blocks.append(
            Block(f"{name}:{start}", match.group(1).lower(), "\n".join(lines[start:end]) + "\n")
        )
        index = end + 1
    return blocks


def _commands(text: str, *, prompts_only: bool = False) -> list[str]:
    """Logical command lines of a shell block (``\\`` continuations joined, comments kept).
    ``prompts_only`` (a ``console`` block: commands and their output): only ``$ `` lines and
    their continuations are commands."""
    commands: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.startswith("$ "):
            line = line[2:]
        elif prompts_only and not pending:
            continue
        if not pending and (not line.strip() or line.strip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        commands.append((pending + line).strip())
        pending = ""
    if pending:
        commands.append(pending.strip())
    return commands


def _outside_fences(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


SHELL_BLOCKS = [b for path in DOCS for b in _fenced_blocks(path) if b.lang in SHELL_LANGS]
PYTHON_FILES = sorted(
    {
        b.source.split(":")[0]
        for path in DOCS
        for b in _fenced_blocks(path)
        if b.lang in PYTHON_LANGS
    }
)
INLINE: list[tuple[str, str]] = sorted(
    {
        (path.relative_to(ROOT).as_posix(), (m.group(1) or m.group(2)).strip())
        for path in [*DOCS, *TEMPLATES]
        for m in _INLINE.finditer(_outside_fences(path.read_text()))
    }
)


# -- the reader's world ------------------------------------------------------------------------


class Reader:
    """A reader's shell: working directory, environment, placeholders filled in."""

    def __init__(self, base: Path, server: LiveServer, zk_hosts: str, mysql_url: str) -> None:
        self.base = base
        self.server = server
        self.zk_hosts = zk_hosts
        self.mysql_url = mysql_url
        self.workdir = base / "checkout"
        self.workdir.mkdir(parents=True, exist_ok=True)
        for entry in ROOT.iterdir():  # the clone a reader runs the commands in
            if entry.name not in (".git",) and not (self.workdir / entry.name).exists():
                (self.workdir / entry.name).symlink_to(entry)
        (self.workdir / DEMO_FILE).write_text(DEMO_FILE_CONTENT)
        curl_home = base / "curl"
        curl_home.mkdir(exist_ok=True)
        (curl_home / ".curlrc").write_text("fail-with-body\nshow-error\n")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DISCONF_")}
        self.env.update(
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            HOME=str(base),
            CURL_HOME=str(curl_home),
            ADMIN_PASSWORD=ADMIN_PASSWORD,
            DISCONF_DOWNLOAD_DIR=str(base / "download"),
            PYTHONUNBUFFERED="1",
        )

    def fill(self, text: str) -> str:
        values = {
            "TOKEN=...": f"TOKEN={self.server.admin_token}",
            "127.0.0.1:8080": f"127.0.0.1:{self.server.port}",
            "--host 0.0.0.0": "--host 127.0.0.1",
            "--port 8080": f"--port {free_port()}",
            PLACEHOLDERS[4][0]: self.mysql_url,
            "zk1:2181,zk2:2181,zk3:2181": self.zk_hosts,
        }
        assert set(values) == {key for key, _ in PLACEHOLDERS}
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    def client_env(self) -> dict[str, str]:
        """The client settings the quickstart banner tells a reader to set."""
        return {
            **self.env,
            "DISCONF_SERVERS": f"127.0.0.1:{self.server.port}",
            "DISCONF_APP": DEMO.app,
            "DISCONF_ENV": DEMO.env,
            "DISCONF_VERSION": DEMO.version,
        }


def _run(
    command: str, *, cwd: Path, env: dict[str, str], prefix: list[str], ready: str | None = None
) -> tuple[int | None, str]:
    """Run one command in bash (after ``prefix``); (exit status, output). A long-running command
    (``ready`` names its ready check) answers status None once ready, after being stopped."""
    script = "set -e -o pipefail\n" + "".join(p + "\n" for p in prefix) + command + "\n"
    log = cwd.parent / f"command-{uuid.uuid4().hex[:8]}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["bash", "-c", script],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        budget = Budget(READY_TIMEOUT if ready else COMMAND_TIMEOUT)
        while not budget.expired():
            status = process.poll()
            if status is not None:
                return status, log.read_text(errors="replace")
            if ready and _is_ready(ready, command, log):
                return None, log.read_text(errors="replace")
            time.sleep(0.1)
        what = "did not become ready" if ready else "did not finish"
        return -1, f"{what} within the timeout\n" + log.read_text(errors="replace")
    finally:
        _stop(process)


def _is_ready(kind: str, command: str, log: Path) -> bool:
    if kind == "disconf-web serve":
        port = re.search(r"--port (\d+)", command)
        url = f"http://127.0.0.1:{port.group(1) if port else 8080}/readyz"
        try:
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False
    if kind == "disconf-web quickstart":
        return "Press Ctrl-C" in log.read_text(errors="replace")
    return log.stat().st_size > 0


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT)
        except ProcessLookupError:
            pass
    try:  # children left in the group (gunicorn workers)
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _matches(table: dict[str, str], command: str) -> str | None:
    return next((key for key in table if key in command), None)


def run_commands(reader: Reader, commands: list[str], *, fill: bool = True) -> list[str]:
    """Run ``commands`` in order as one reader's session; the failures, described."""
    failures: list[str] = []
    prefix: list[str] = []
    for printed in commands:
        if _matches(NOT_RUN, printed):
            continue
        command = reader.fill(printed) if fill else printed
        ready = _matches(LONG_RUNNING, command)
        status, output = _run(
            command, cwd=reader.workdir, env=reader.env, prefix=prefix, ready=ready
        )
        if status not in (0, None):
            failures.append(f"$ {printed}\n(exit {status})\n{output[-3000:]}")
        elif _STATE.match(command):
            prefix.append(command)
    return failures


# -- fixtures ----------------------------------------------------------------------------------


def _need(program: str) -> None:
    if subprocess.run(["which", program], capture_output=True, check=False).returncode:
        service_missing(f"{program} is not installed (scripts/bootstrap.sh --test)")


@pytest.fixture(scope="module")
def reader(
    tmp_path_factory: pytest.TempPathFactory,
    zk_server: EmbeddedZooKeeper,
    make_mysql_database: Callable[[], str],
) -> Iterator[Reader]:
    """A live server holding the quickstart's demo data, and a reader's shell next to it."""
    _need("curl")
    base = tmp_path_factory.mktemp("docs")
    chroot = f"/docs-{uuid.uuid4().hex[:12]}"
    admin = KazooClient(hosts=zk_server.hosts, timeout=10)
    admin.start(timeout=20)
    try:
        admin.ensure_path(chroot)
    finally:
        admin.stop()
        admin.close()
    zk_hosts = zk_server.hosts + chroot
    server = LiveServer(base / "server", zk_hosts)
    try:
        server.start()
        server.publish_file(DEMO.app, DEMO.env, DEMO.version, DEMO_FILE, DEMO_FILE_CONTENT)
        server.publish_item(DEMO.app, DEMO.env, DEMO.version, DEMO_ITEM, "0.5")
        yield Reader(base, server, zk_hosts, make_mysql_database())
    finally:
        server.close()


# -- the tests ---------------------------------------------------------------------------------


def test_the_docs_show_commands_and_snippets() -> None:
    """The extractor finds what the docs show (guards against a parser that finds nothing)."""
    assert any(b.source.startswith("README.md") for b in SHELL_BLOCKS)
    assert "README.md" in PYTHON_FILES
    assert any("curl" in c for b in SHELL_BLOCKS for c in _commands(b.text))
    commands = _commands("a \\\n  b  # c\n# only a comment\n\n$ d\n")
    assert commands == ["a    b  # c", "d"]
    assert _commands("$ a \\\n  b\noutput\n$ c\n", prompts_only=True) == ["a    b", "c"]


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=lambda b: b.id)
def test_shell_block_runs_as_printed(reader: Reader, block: Block) -> None:
    failures = run_commands(reader, _commands(block.text, prompts_only=block.lang == "console"))
    assert not failures, f"{block.source}: a reader cannot run this:\n\n" + "\n\n".join(failures)


@pytest.mark.parametrize("source", PYTHON_FILES)
def test_python_blocks_run_as_printed(reader: Reader, source: str) -> None:
    code = "\n".join(
        reader.fill(block.text)
        for block in _fenced_blocks(ROOT / source)
        if block.lang in PYTHON_LANGS
    )
    runner = (
        "import sys\n"
        "namespace = {'__name__': '__main__'}\n"
        "exec(compile(sys.stdin.read(), 'snippets', 'exec'), namespace)\n"
        "for name, value in list(namespace.items()):\n"
        "    if name.startswith('test_') and callable(value):\n"
        "        value()\n"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", runner],
            input=code,
            capture_output=True,
            text=True,
            cwd=reader.base,
            env=reader.client_env(),
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{source}: the Python blocks did not finish in {COMMAND_TIMEOUT}s")
    assert result.returncode == 0, f"{source}: a reader cannot run its Python:\n{result.stderr}"


@pytest.mark.parametrize("inline", INLINE, ids=lambda pair: f"{pair[0]}:{pair[1]}")
def test_quoted_command_exists(tmp_path: Path, inline: tuple[str, str]) -> None:
    """A command quoted in prose (or on a page) names a real command and real options."""
    source, command = inline
    argv = shlex.split(command.split(" #")[0])
    argv[0] = argv[0].removeprefix(".venv/bin/")
    result = subprocess.run(
        [*argv, "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{source} quotes `{command}`:\n{result.stderr}"


SCRIPTS: list[tuple[str, str]] = sorted(
    {
        (path.relative_to(ROOT).as_posix(), match)
        for path in DOCS
        for match in re.findall(r"`(?:\./)?(scripts/[\w./-]+)", _outside_fences(path.read_text()))
    }
)


@pytest.mark.parametrize("quoted", SCRIPTS, ids=lambda pair: f"{pair[0]}:{pair[1]}")
def test_quoted_script_exists(quoted: tuple[str, str]) -> None:
    """A script quoted in prose (``scripts/bench.sh``) exists and is executable (running the
    benchmarks or the suite from here is not possible: see NOT_RUN)."""
    source, script = quoted
    assert os.access(ROOT / script, os.X_OK), f"{source} quotes {script}: not an executable file"


def _help_pages(program: str, env: dict[str, str], depth: int = 3) -> dict[str, str]:
    """``--help`` of ``program`` and each of its subcommands, recursively (bounded depth)."""
    pages: dict[str, str] = {}
    todo: list[list[str]] = [[program]]
    while todo:
        argv = todo.pop()
        text = subprocess.run(
            [*argv, "--help"], capture_output=True, text=True, env=env,
            timeout=COMMAND_TIMEOUT, check=True,
        ).stdout  # fmt: skip
        pages[" ".join(argv)] = text
        if len(argv) >= depth:
            continue
        subcommands: set[str] = set()
        in_commands = False
        for line in text.splitlines():
            if re.match(r"^\S.*:$", line):
                in_commands = line.strip() == "Commands:"
                continue
            match = re.match(r"^  ([a-z][\w-]*)\s", line)
            if in_commands and match:
                subcommands.add(match.group(1))
        for group in re.findall(r"\{([a-z][\w,-]*)\}", text.split("\n\n", 1)[0]):
            subcommands.update(group.split(","))
        todo.extend([*argv, sub] for sub in sorted(subcommands))
    return pages


@pytest.mark.parametrize("program", ["disconf-web", "disconf"])
def test_help_examples_run_as_printed(reader: Reader, program: str) -> None:
    pages = _help_pages(str(BIN / program), reader.env)
    assert len(pages) > 1, pages  # the subcommands were found
    failures: list[str] = []
    for name, text in pages.items():
        commands = [
            line.strip().removeprefix("$ ")
            for line in text.splitlines()
            if line.startswith(" ") and _EPILOG_COMMAND.match(line.strip())
        ]
        failures += [f"{name} --help: {f}" for f in run_commands(reader, commands)]
    assert not failures, "\n\n".join(failures)


def test_quickstart_banner_commands_run_as_printed(reader: Reader) -> None:
    """Start the quickstart for real; run every command its banner prints against it."""
    port = free_port()
    data_dir = reader.base / "quickstart"
    command = f"disconf-web quickstart --port {port} --zk-port {free_port()} --data-dir {data_dir}"
    log = reader.base / "quickstart.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["bash", "-c", command], cwd=reader.workdir, env=reader.env, stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    try:
        budget = Budget(READY_TIMEOUT)
        ready = False
        while not budget.expired() and process.poll() is None:
            if _is_ready("disconf-web quickstart", command, log):
                ready = _is_ready("disconf-web serve", f"--port {port}", log)
                if ready:
                    break
            time.sleep(0.2)
        banner = log.read_text(errors="replace")
        assert ready, f"quickstart did not start:\n{banner[-3000:]}"
        commands = [
            line.strip()
            for line in banner.split("Press Ctrl-C", 1)[0].splitlines()
            if line.startswith("  ") and re.match(r"^(curl|disconf|[A-Z_]+=)", line.strip())
        ]
        assert any(c.startswith("curl -X PUT") for c in commands), banner
        failures = run_commands(reader, commands, fill=False)
        assert not failures, "the quickstart banner prints:\n\n" + "\n\n".join(failures)
    finally:
        _stop(process)
