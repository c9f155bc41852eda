"""``GET /metrics``: Prometheus text exposition of the server.

Two kinds of series, chosen by where the truth lives:

* **per request** (counted in the process that served the request): ``disconf_http_requests``
  (counter by Flask endpoint, method and status), ``disconf_http_request_duration_seconds``
  (histogram by endpoint and method), ``disconf_client_fetches`` (counter of the Disconf
  client endpoints by endpoint and outcome: ``found``, ``not_found``, ``ok``, ``error``),
  ``disconf_read_cache_lookups`` (client reads by what the read cache did: ``hit``, ``stale``,
  ``miss``, ``unchecked``) and ``disconf_read_gate_reads`` (the freshness gate's generation
  reads; hits plus stale lookups per read is how many requests one read answers;
  :mod:`disconf_web.protocol.read_cache`).
  Under gunicorn several workers serve requests; when ``PROMETHEUS_MULTIPROC_DIR`` is set
  (``disconf-web serve`` and ``quickstart`` set it to a fresh directory by themselves,
  :func:`disconf_web.serving.prepare_metrics_dir`) every worker writes its
  values there and any worker's ``/metrics`` answers the sum over all workers.
* **from the database and ZooKeeper** (computed at scrape time, so every process answers the
  same): ``disconf_publishes_total`` (config revisions by action), notifications
  ``disconf_notifications_pending`` (neither delivered nor failed),
  ``disconf_notifications_failed`` (rows ZooKeeper refused for good, skipped until an admin
  retries them), ``disconf_notifications_retrying`` (pending rows whose delivery failed at
  least once), ``disconf_notifications_stuck`` (pending longer than ``NOTIFY_STUCK_SECONDS`` or
  tried more than ``NOTIFY_STUCK_ATTEMPTS`` times), ``disconf_notifications_delivered_total``,
  ``disconf_notification_delivery_failures_total``,
  ``disconf_notifications_oldest_pending_seconds``, and ``disconf_config_instances`` (the
  instance nodes under each live config's ZooKeeper node, read with one pipelined ``exists``
  per config, at most ``METRICS_MAX_CONFIGS`` configs; a node that two configs of different
  app/env/version spell alike is left out, since its instances cannot be attributed).

Label values are bounded: endpoints are Flask endpoint names (never raw paths), so a scanner
probing random URLs adds one ``unmatched`` series, not one per URL.

Error Handling
--------------
* Database unreachable: ``disconf_database_up 0``; the DB-derived series are left out and the
  answer is still 200 (a scrape must not fail because of what it measures).
* ZooKeeper not connected (``SUSPENDED`` or ``LOST``, or down at start):
  ``disconf_zookeeper_connected 0`` and no ``disconf_config_instances`` series; the scrape never
  waits for a reconnect. A slow ensemble is bounded by ``METRICS_ZK_TIMEOUT`` (2 s) per scrape.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, request

from disconf_core import ConfigType, Coordinates, config_node

from .extensions import get_db
from .models import App, Config, ConfigRevision, ConfigStatus, Env, utcnow
from .outbox import counts as outbox_counts
from .publisher import get_notifier, get_publisher

__all__ = [
    "CONTENT_TYPE",
    "METRICS_MAX_CONFIGS",
    "init_metrics",
    "record_request",
    "render_metrics",
    "watch_read_cache",
]

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRICS_MAX_CONFIGS = 1000
METRICS_ZK_TIMEOUT = 2.0
_CLIENT_BLUEPRINT = "client_api."
_LOOKUPS = {"client_api.config_item", "client_api.config_file"}
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _RequestMetrics:
    """The per-process request metrics (created lazily: after a gunicorn fork, and after
    ``PROMETHEUS_MULTIPROC_DIR`` is known, since prometheus_client reads it at creation)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "disconf_http_requests",
            "HTTP requests served, by Flask endpoint, method and status code.",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "disconf_http_request_duration_seconds",
            "Time from the start of the request to its answer, by endpoint and method.",
            ["endpoint", "method"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.fetches = Counter(
            "disconf_client_fetches",
            "Requests to the Disconf client endpoints, by endpoint and outcome.",
            ["endpoint", "outcome"],
            registry=self.registry,
        )
        self.cache_lookups = Counter(
            "disconf_read_cache_lookups",
            "Client reads by what the read cache did: hit (a kept row the freshness gate proved "
            "current), stale (kept but older), miss (nothing kept), unchecked (no gate read).",
            ["result"],
            registry=self.registry,
        )
        self.gate_reads = Counter(
            "disconf_read_gate_reads",
            "Generation reads of the read cache's freshness gate (one per batch of requests).",
            registry=self.registry,
        )
        # labelled children of the hot path, by (endpoint, method, status, path, outcome)
        self.children: dict[tuple[str, str, int, str, str], tuple[Any, Any, Any]] = {}


_metrics: _RequestMetrics | None = None
_metrics_lock = threading.Lock()


def _request_metrics() -> _RequestMetrics:
    global _metrics
    if _metrics is None:
        with _metrics_lock:
            if _metrics is None:
                _metrics = _RequestMetrics()
    return _metrics


def _multiprocess_dir() -> str | None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get(
        "prometheus_multiproc_dir"
    )
    return directory if directory and os.path.isdir(directory) else None


def _start_timer() -> None:
    g.disconf_request_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("disconf_request_started", None)
    endpoint = request.endpoint or "unmatched"
    if endpoint == "metrics":
        return response
    try:
        metrics = _request_metrics()
        method = request.method
        metrics.requests.labels(endpoint, method, str(response.status_code)).inc()
        if started is not None:
            metrics.latency.labels(endpoint, method).observe(time.perf_counter() - started)
        if endpoint.startswith(_CLIENT_BLUEPRINT):
            metrics.fetches.labels(request.path, _outcome(endpoint, response)).inc()
    except Exception:  # noqa: BLE001 - metrics never break an answer
        log.exception("could not record request metrics")
    return response


def record_request(
    endpoint: str, method: str, status: int, seconds: float, path: str, outcome: str
) -> None:
    """Count one answer of a Disconf client endpoint served outside Flask (the hot path in
    :mod:`disconf_web.fastpath`), exactly as ``_observe`` counts a Flask answer."""
    try:
        metrics = _request_metrics()
        children = metrics.children.get((endpoint, method, status, path, outcome))
        if children is None:
            children = (
                metrics.requests.labels(endpoint, method, str(status)),
                metrics.latency.labels(endpoint, method),
                metrics.fetches.labels(path, outcome),
            )
            metrics.children[(endpoint, method, status, path, outcome)] = children
        requests, latency, fetches = children
        requests.inc()
        latency.observe(seconds)
        fetches.inc()
    except Exception:  # noqa: BLE001 - metrics never break an answer
        log.exception("could not record request metrics")


def _outcome(endpoint: str, response: Response) -> str:
    if response.status_code >= 500:
        return "error"
    if endpoint in _LOOKUPS:
        # Both lookups carry an ETag exactly when the config was found and served.
        return "found" if "ETag" in response.headers else "not_found"
    return "ok"


def _family(kind: str, name: str, documentation: str, labels: list[str] | None = None) -> Any:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    if kind == "counter":
        return CounterMetricFamily(name, documentation, labels=labels)
    return GaugeMetricFamily(name, documentation, labels=labels)


class _StateCollector:
    """Series computed at scrape time from the database and ZooKeeper (see module doc)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Any]:
        database_up = _family("gauge", "disconf_database_up", "1 if the database answered.")
        try:
            yield from self._database_series()
            database_up.add_metric([], 1)
            live = self._live_configs()
        except Exception as exc:  # noqa: BLE001 - report the outage, never fail the scrape
            log.warning("metrics: database not reachable: %s", exc)
            database_up.add_metric([], 0)
            live = None
        yield database_up
        notifier = get_notifier(self.app)
        connected = _family(
            "gauge", "disconf_zookeeper_connected", "1 if this process's session is connected."
        )
        connected.add_metric([], 1 if notifier.connected else 0)
        yield connected
        if live is not None and notifier.connected:
            yield from self._instance_series(live)

    def _database_series(self) -> Iterator[Any]:
        with get_db(self.app).engine.connect() as connection:
            by_action = connection.execute(
                sa.select(ConfigRevision.action, sa.func.count()).group_by(ConfigRevision.action)
            ).all()
        publisher = get_publisher(self.app)
        outbox = outbox_counts(
            get_db(self.app),
            stuck_seconds=publisher.stuck_seconds,
            stuck_attempts=publisher.stuck_attempts,
        )
        publishes = _family(
            "counter",
            "disconf_publishes",
            "Config changes recorded (revisions), by action (create, update, delete, rollback).",
            ["action"],
        )
        for action, count in sorted(by_action):
            publishes.add_metric([str(action)], float(count))
        yield publishes
        delivered, failures, oldest = outbox.delivered, outbox.attempts, outbox.oldest_pending
        family = _family(
            "gauge", "disconf_notifications_pending", "Notifications neither delivered nor failed."
        )
        family.add_metric([], outbox.pending)
        yield family
        family = _family(
            "gauge",
            "disconf_notifications_failed",
            "Notifications ZooKeeper refused for good (skipped until an admin retries them).",
        )
        family.add_metric([], outbox.failed)
        yield family
        family = _family(
            "gauge",
            "disconf_notifications_retrying",
            "Pending notifications whose delivery to ZooKeeper failed at least once.",
        )
        family.add_metric([], outbox.retrying)
        yield family
        family = _family(
            "gauge",
            "disconf_notifications_stuck",
            "Pending notifications older than NOTIFY_STUCK_SECONDS or tried more than "
            "NOTIFY_STUCK_ATTEMPTS times.",
        )
        family.add_metric([], outbox.stuck)
        yield family
        family = _family(
            "counter",
            "disconf_notifications_delivered",
            "Notifications ZooKeeper accepted (from the database: all processes agree).",
        )
        family.add_metric([], delivered)
        yield family
        family = _family(
            "counter",
            "disconf_notification_delivery_failures",
            "Failed delivery attempts of notifications to ZooKeeper.",
        )
        family.add_metric([], failures)
        yield family
        family = _family(
            "gauge",
            "disconf_notifications_oldest_pending_seconds",
            "Age of the oldest pending notification (0 when none is pending).",
        )
        age = 0.0
        if oldest is not None:
            age = max(
                0.0, (utcnow().replace(tzinfo=None) - oldest.replace(tzinfo=None)).total_seconds()
            )
        family.add_metric([], age)
        yield family

    def _live_configs(self) -> list[tuple[str, str, str, int, str]]:
        c, a, e = Config.__table__, App.__table__, Env.__table__
        query = (
            sa.select(a.c.name, e.c.name, c.c.version, c.c.type, c.c.name)
            .select_from(c.join(a, a.c.id == c.c.app_id).join(e, e.c.id == c.c.env_id))
            .where(c.c.status == int(ConfigStatus.LIVE))
            .order_by(c.c.id)
            .limit(METRICS_MAX_CONFIGS)
        )
        with get_db(self.app).engine.connect() as connection:
            rows = connection.execute(query).all()
        return [(row[0], row[1], row[2], int(row[3]), row[4]) for row in rows]

    def _instance_series(self, live: list[tuple[str, str, str, int, str]]) -> Iterator[Any]:
        prefix = self.app.config["ZK_PREFIX"]
        paths: dict[str, tuple[str, str, str, str, str]] = {}
        shared: set[str] = set()
        for app_name, env, version, kind, name in live:
            try:
                config_type = ConfigType(kind)
                path = config_node(prefix, Coordinates(app_name, version, env), config_type, name)
            except ValueError:
                continue  # a legacy name ZooKeeper cannot hold
            if path in paths:
                shared.add(path)  # two configs spell one node: its instances are nobody's
            paths[path] = (app_name, env, version, config_type.segment, name)
        for path in shared:
            del paths[path]
        try:
            counts = get_publisher(self.app).instances.count_children(
                list(paths), METRICS_ZK_TIMEOUT
            )
        except Exception as exc:  # noqa: BLE001 - ZooKeeper went away during the scrape
            log.warning("metrics: cannot read instance counts from ZooKeeper: %s", exc)
            return
        family = _family(
            "gauge",
            "disconf_config_instances",
            "Client instance nodes registered under each live config in ZooKeeper.",
            ["app", "env", "version", "type", "name"],
        )
        for path, labels in paths.items():
            count = counts.get(path)
            if count is not None:
                family.add_metric(list(labels), count)
        yield family


def render_metrics(app: Flask) -> bytes:
    """The exposition text: this process's (or all workers') request metrics + the state."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    metrics = _request_metrics()
    directory = _multiprocess_dir()
    if directory is not None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest(metrics.registry)
    state = CollectorRegistry(auto_describe=False)
    state.register(_StateCollector(app))
    return text + generate_latest(state)


def _metrics_view() -> Response:
    return Response(
        render_metrics(current_app._get_current_object()),  # type: ignore[attr-defined]
        200,
        content_type=CONTENT_TYPE,
    )


def watch_read_cache(app: Flask) -> None:
    """Count the read cache's lookups and the freshness gate's reads of ``app``'s client
    protocol (:mod:`disconf_web.protocol.read_cache`) in this process's request metrics."""
    from .protocol import get_protocol

    cache = get_protocol(app).read_cache
    if cache is None:
        return
    lookups: dict[str, Any] = {}

    def lookup(result: str) -> None:
        try:
            child = lookups.get(result)
            if child is None:
                child = lookups[result] = _request_metrics().cache_lookups.labels(result)
            child.inc()
        except Exception:  # noqa: BLE001 - metrics never break an answer
            log.exception("could not record read cache metrics")

    def gate_round() -> None:
        try:
            _request_metrics().gate_reads.inc()
        except Exception:  # noqa: BLE001 - metrics never break an answer
            log.exception("could not record read cache metrics")

    cache.observe = lookup
    cache.gate.observe_round = gate_round


def init_metrics(app: Flask) -> None:
    """Register ``GET /metrics`` and the per-request hooks on ``app``."""
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.add_url_rule("/metrics", "metrics", _metrics_view, methods=["GET"])
