"""The HTTP API: reports, leaves, alerts and the live "where is everyone" view."""
