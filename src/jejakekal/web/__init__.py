"""The web UI: HTML over HTTP with htmx, beside the JSON API over the same use cases."""

from jejakekal.web.app import create_ui_app
from jejakekal.web.client import HttpClient, InProcessClient, UiClient

__all__ = ["HttpClient", "InProcessClient", "UiClient", "create_ui_app"]
