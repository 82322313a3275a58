"""Many-core serving: the supervisor (:mod:`.supervisor`) starts N :mod:`.worker` processes
sharing one listening socket, and merges their metrics (:mod:`.metrics_merge`)."""
