"""disconf_web: the configuration center's server (Flask app, storage, ZooKeeper notifier)."""
