"""labctl: start, stop and inspect the private-ai local lab (`python -m labctl up|down|status`)."""
