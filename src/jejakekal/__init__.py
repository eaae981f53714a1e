"""jejakekal: a durable, auditable run kernel on DBOS Transact."""

__version__ = "0.1.0"
