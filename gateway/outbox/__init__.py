"""The outbox: events written in the same transaction as the state change, delivered later."""
