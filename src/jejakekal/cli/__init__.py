"""Typer commands: parsing, rendering and exit codes; no business logic."""
