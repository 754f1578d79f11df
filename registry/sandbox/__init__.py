"""The sandbox: a synthetic anti-MDA5 DM registry and a REDCap-compatible server for it."""
