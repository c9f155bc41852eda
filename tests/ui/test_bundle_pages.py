"""The console's bundle pages: export a version's bundle, import one with a preview (statuses,
diffs, the publish guard's findings) and an all-or-nothing apply bound to the preview's
fingerprint; read-only users may preview but not apply."""

from __future__ import annotations

import io
import json
import re
from typing import Any

from flask import Flask

from disconf_core import ConfigType
from disconf_web import get_db, services

from .conftest import publish

V = "/apps/demo/envs/{env}/versions/1_0"


def _export(console: Any, env: str = "dev") -> dict[str, Any]:
    answer = console.get(V.format(env=env) + "/bundle.json")
    assert answer.status_code == 200, answer.text
    assert "attachment" in answer.headers["Content-Disposition"]
    return dict(json.loads(answer.data))


def _upload(console: Any, bundle: bytes, env: str = "prod", **fields: Any) -> Any:
    data = {"bundle_file": (io.BytesIO(bundle), "demo.bundle.json"), "action": "preview"}
    data.update(fields)
    return console.post(V.format(env=env) + "/import", data, content_type="multipart/form-data")


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, page
    import html

    return html.unescape(match.group(1))


def _values(app: Flask, env: str) -> dict[str, str]:
    with get_db(app).new_session() as session:
        coords = services.coordinates("demo", env, "1_0")
        return {c.name: c.value for c in services.list_configs(session, coords)}


def test_export_then_import_into_another_env_with_a_preview(app: Flask, as_role: Any) -> None:
    publish(app, "shop.properties", "port=8080\n")
    publish(app, "rate", "0.5", kind="item")
    viewer = as_role("viewer")
    assert "Export / import bundle" in viewer.get(V.format(env="dev")).text
    bundle = _export(viewer)
    assert {entry["name"] for entry in bundle["manifest"]} == {"shop.properties", "rate"}
    with get_db(app).new_session() as session:  # prod holds an older shop.properties
        services.publish_config(
            session, coords=services.coordinates("demo", "prod", "1_0"), kind=ConfigType.FILE,
            name="shop.properties", content="port=1\n", actor="admin", comment="",
        )  # fmt: skip
    editor = as_role("editor")
    preview = _upload(editor, json.dumps(bundle).encode())
    assert preview.status_code == 200, preview.text
    assert "1 added" in preview.text and "1 changed" in preview.text
    assert "-port=1" in preview.text and "+port=8080" in preview.text  # the diff
    assert "ZooKeeper cannot be asked now" in preview.text  # this app runs without ZooKeeper
    assert _values(app, "prod") == {"shop.properties": "port=1\n"}  # a preview writes nothing
    # A read-only user sees the preview but no apply button, and a forged apply is refused.
    viewer_preview = _upload(viewer, json.dumps(bundle).encode())
    assert viewer_preview.status_code == 200 and 'value="apply"' not in viewer_preview.text
    fingerprint = _hidden(preview.text, "fingerprint")
    apply = {"bundle": _hidden(preview.text, "bundle"), "fingerprint": fingerprint}
    forged = viewer.post(V.format(env="prod") + "/import", {**apply, "action": "apply"})
    assert forged.status_code == 403
    done = editor.post(V.format(env="prod") + "/import", {**apply, "action": "apply"})
    assert done.status_code == 302, done.text
    assert _values(app, "prod") == {"shop.properties": "port=8080\n", "rate": "0.5"}
    # Applying the same preview again: the target changed since, nothing is written (409).
    again = editor.post(V.format(env="prod") + "/import", {**apply, "action": "apply"})
    assert again.status_code == 409 and "changed since your preview" in again.text


def test_a_guard_refusal_is_shown_and_nothing_is_imported(app: Flask, as_role: Any) -> None:
    publish(app, "a.properties", "x=1\n")
    publish(app, "shop.json", '{"port": 8080}\n')
    editor = as_role("editor")
    bundle = _export(editor)
    bad = '{"port": 8080,\n "host" "a"}\n'
    bundle["files"]["shop.json"] = bad
    for entry in bundle["manifest"]:
        if entry["name"] == "shop.json":
            import hashlib

            entry["md5"] = hashlib.md5(bad.encode()).hexdigest()
    preview = _upload(editor, json.dumps(bundle).encode())
    assert preview.status_code == 200
    assert "publish guard refuses" in preview.text and "line 2, column 9" in preview.text
    apply = {
        "bundle": _hidden(preview.text, "bundle"),
        "fingerprint": _hidden(preview.text, "fingerprint"),
        "action": "apply",
    }
    refused = editor.post(V.format(env="prod") + "/import", apply)
    assert refused.status_code == 422 and "line 2, column 9" in refused.text
    assert _values(app, "prod") == {}  # all or nothing: a.properties was not imported either


def test_a_bundle_that_is_not_json_or_inconsistent_is_a_400_on_the_page(
    app: Flask, as_role: Any
) -> None:
    editor = as_role("editor")
    assert editor.get(V.format(env="prod") + "/import").status_code == 200
    answer = _upload(editor, b'{"format": "disconf-bundle",\n oops}')
    assert answer.status_code == 400 and "line 2, column 2" in answer.text
    publish(app, "a.properties", "x=1\n")
    bundle = _export(editor)
    bundle["files"]["a.properties"] = "x=2\n"  # the manifest's MD5 no longer matches
    answer = _upload(editor, json.dumps(bundle).encode())
    assert answer.status_code == 400 and "a.properties" in answer.text
    assert _upload(editor, b"\xff\xfe").status_code == 400
    surrogate = json.dumps(bundle).replace("x=2", "x=\\ud800").encode()
    answer = _upload(editor, surrogate)
    assert answer.status_code == 400 and "U+D800" in answer.text
    assert _values(app, "prod") == {}
