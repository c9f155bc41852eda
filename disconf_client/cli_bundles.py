"""``disconf export`` and ``disconf import``: bundles through the admin API (with a token).

``export`` writes the bundle of one app x env x version (``GET .../bundle``) to a file or to
stdout. ``import`` sends a bundle to ``POST .../bundle/preview``, prints what it would change
(one line per config: ``added``, ``changed``, ``removed``...) and, unless ``--preview``, applies
exactly that plan (``POST .../bundle?expect=<fingerprint>``: all or nothing; 409 if the target
changed since the preview). A refusal of the server (the publish guard's 422, a 409, a bad
bundle's 400) is printed with the server's message and exits 1.

Every request is bounded by :data:`HTTP_TIMEOUT` seconds (connect and each read).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from disconf_core import Coordinates

__all__ = ["HTTP_TIMEOUT", "export_bundle", "import_bundle"]

HTTP_TIMEOUT = 30.0


def _base(server: str, coords: Coordinates) -> str:
    return (
        f"{server}/api/v1/apps/{quote(coords.app, safe='')}/envs/{quote(coords.env, safe='')}"
        f"/versions/{quote(coords.version, safe='')}/bundle"
    )


def _failed(command: str, response: requests.Response) -> int:
    try:
        message = json.dumps(response.json(), ensure_ascii=False)
    except ValueError:
        message = response.text[:500]
    sys.stderr.write(f"disconf {command}: HTTP {response.status_code}: {message}\n")
    return 1


def export_bundle(server: str, token: str, coords: Coordinates, output: str | None) -> int:
    """Write the bundle to ``output`` (a path; None or ``-``: stdout)."""
    response = requests.get(
        _base(server, coords), headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT
    )
    if response.status_code != 200:
        return _failed("export", response)
    if output in (None, "-"):
        sys.stdout.buffer.write(response.content)
        sys.stdout.flush()
    else:
        Path(output).write_bytes(response.content)
        count = len(response.json().get("manifest", []))
        sys.stderr.write(f"exported {count} configs of {coords} to {output}\n")
    return 0


def import_bundle(
    server: str,
    token: str,
    coords: Coordinates,
    source: str,
    *,
    preview_only: bool = False,
    delete_missing: bool = False,
    comment: str = "",
    force_reason: str | None = None,
) -> int:
    """Preview, print, then (unless ``preview_only``) apply the bundle read from ``source``."""
    raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    try:
        document: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        sys.stderr.write(f"disconf import: {source} is not a JSON bundle: {exc}\n")
        return 1
    headers = {"Authorization": f"Bearer {token}"}
    params: dict[str, str] = {"delete_missing": "true" if delete_missing else "false"}
    url = _base(server, coords)
    preview = requests.post(
        url + "/preview", json=document, params=params, headers=headers, timeout=HTTP_TIMEOUT
    )
    if preview.status_code != 200:
        return _failed("import", preview)
    plan = preview.json()
    for entry in plan["entries"]:
        sys.stdout.write(f"{entry['status']:<9} {entry['kind']:<4} {entry['name']}\n")
    for report in plan.get("guard", []):
        sys.stdout.write(f"guard     {report['kind']:<4} {report['name']}: {json.dumps(report)}\n")
    counts = ", ".join(f"{count} {status}" for status, count in plan["counts"].items())
    sys.stdout.write(f"# {coords}: {counts}\n")
    if preview_only:
        return 0
    params.update(expect=plan["fingerprint"], comment=comment)
    if force_reason:
        params["force_reason"] = force_reason
    applied = requests.post(
        url, json=document, params=params, headers=headers, timeout=HTTP_TIMEOUT
    )
    if applied.status_code != 200:
        return _failed("import", applied)
    sys.stdout.write(f"# applied; notification: {applied.json().get('notification')}\n")
    return 0
