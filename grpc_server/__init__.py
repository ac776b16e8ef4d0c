"""The GREP11 gRPC edge of grep11-emulator: servicer, wire conversion, TLS and the CLI."""
