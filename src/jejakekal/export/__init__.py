"""Run bundles [BUNDLE]: canonical JSON files with a manifest; pure until the final write."""
