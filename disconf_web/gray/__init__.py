"""Gray releases: new content for some instances of one config, the main revision for the rest.

A gray release (:class:`~disconf_web.models.GrayRelease`) holds new content for one file or item
and a **target** — exactly one of:

* ``{"instances": ["host_123_ab..", ...]}``: instance ids (the names of the instance nodes the
  self-check lists; our client sends its own as ``X-Disconf-Instance`` with every fetch);
* ``{"hosts": ["10.0.0.7", "web-3", ...]}``: an IP address matches the client's address as the
  web tier sees it (``REMOTE_ADDR``; ``X-Forwarded-For`` only when ``REMOTE_ADDR`` is one of
  the trusted proxies, ``DISCONF_GRAY_TRUSTED_PROXIES``), so it works for unmodified Disconf
  clients; a host name matches the host part of our client's instance id
  (``<host>_<pid>_<uuid>``) — host names are never resolved (no DNS wait on a read);
* ``{"labels": {"zone": "a"}}``: every label given must be among the labels our client sends
  (``X-Disconf-Labels: zone=a,tier=web``; client setting ``labels`` / ``DISCONF_LABELS``);
* ``{"percent": 10}``: a share of instances chosen stably by a hash of the release id and the
  instance id (for a client that sends none, its address): the same instance gets the same
  answer on every fetch of the release, and each release picks its own share.

The client protocol (:mod:`disconf_web.protocol.answers`) reads the running gray release in the
same query as the config (an outer join on the unique ``active_config_id``), so a config without
one costs no extra query; the targeted answer is remembered under its own last-served key
(:func:`~disconf_web.gray.targeting.variant_key`), and its ETag is its own content's MD5, so
gray and main never mix.

One module per job; this package itself imports none of them (so importing one never pulls in
another, and no import cycle runs through the package):

* :mod:`disconf_web.gray.targeting` — the pure targeting rules: who asks, target validation,
  the parsed rule of a release, the self-check's view of an instance node;
* :mod:`disconf_web.gray.releases` — the stored state and its SQL: start and end of a release,
  its history, and the publisher's hook refusing other changes while one runs;
* :mod:`disconf_web.gray.rollout` — start, promote and abort driven through the
  :class:`~disconf_web.publisher.Publisher` (guard, revision, delivery); nothing the publisher
  imports depends on it.

Error Handling
--------------
Each module states its own; in short: database down — a start/promote/abort rolls back and
raises (the API answers 503), nothing is notified; ZooKeeper down — the notification stays
pending (the sweeper delivers it), the self-check answers 503; restart — releases live in the
database, nothing is kept only in memory except the protocol's parsed targets (rebuilt from the
rows).
"""
