"""Control API routers, one per domain."""
