"""Real stand-ins for the placeholders on the resource-management page.

Everything here talks to real things on this machine only: a SQLite file, a TCP
key-value server and an HTTP server, both bound to 127.0.0.1 on ephemeral ports.
"""
