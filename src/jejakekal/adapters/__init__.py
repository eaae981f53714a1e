"""The outside world behind domain ports: deciders and sandboxes."""
