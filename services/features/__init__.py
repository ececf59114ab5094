"""Feature store on SQLite: per-entity feature vectors and labels, a dependency of the gateway."""
