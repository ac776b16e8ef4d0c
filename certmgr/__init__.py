"""Certificate manager: admin signature keys, client CA certificates and the mTLS trust store.

NOTE: only the package exists so far; the store, the HTTP endpoints and the grep11-certmgr CLI
are not built yet, and the GREP11 server runs without client-certificate checks.
"""
