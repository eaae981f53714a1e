"""Run bundles: canonical JSON files with a manifest; pure until the final write
(docs/runs.md, "Export bundles")."""
