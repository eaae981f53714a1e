"""JSON over HTTP (FastAPI): routes, request parsing and the one error mapper."""
