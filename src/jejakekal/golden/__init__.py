"""Golden snapshots [SPEC 12]: a fixed corpus of runs, their views and bundles, with
volatile fields normalised, recorded in the repo and diffed on demand."""
