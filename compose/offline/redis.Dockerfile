# Stand-in for redis:7-alpine (no registry here): Debian bookworm's redis-server 7.0.
FROM rampart-local/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/*
CMD ["redis-server", "--protected-mode", "no"]
