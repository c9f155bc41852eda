"""disconf_client: the typed, decorator-driven Python client."""
