"""The only package that defines DBOS workflows and steps.

Importing it registers the workflows with DBOS, so the API-only process
(`jejakekal api --shim`) must never import it.
"""
