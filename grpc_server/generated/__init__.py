"""Modules generated from proto/grep11.proto at build time."""
