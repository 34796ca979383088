"""Deadlines the daemon and its client share (no imports: the client loads this).

The client waits longer than the daemon waits for an engine, so that a slow engine
reaches the caller as the daemon's own error naming the host, not as the client's
timeout (issue 28: the client gave up at 10 s while the daemon still waited for the
engine, up to 30 s, and the caller learnt nothing of which party was slow)."""

ENGINE_QUERY_SECONDS = 30.0  # one engine call of the daemon: list, inspect, top, df
CLIENT_WAIT_SECONDS = ENGINE_QUERY_SECONDS + 5.0  # the client, for one answer
