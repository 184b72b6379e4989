"""Native messages: plain WebSocket clients (no neffos client) relayed by a native-only server."""
