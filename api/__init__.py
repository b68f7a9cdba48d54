"""Streamwise's HTTP API (FastAPI): health now; predictions and the registry come with later work."""
