"""Hostile endpoints on loopback, started by the tests: servers that answer nothing, slowly or falsely."""
