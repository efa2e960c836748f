"""The AS2 Gateway REST API v1 backend."""
