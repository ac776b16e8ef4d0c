#!/usr/bin/env bash
# Install SoftHSMv2 from the Debian package softhsm2 for the benchmark comparison; a no-op when
# softhsm2-util is already on PATH. Needs root (CI and the development machines run as root).
set -euo pipefail
if command -v softhsm2-util >/dev/null 2>&1; then
    exit 0
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends softhsm2
