"""Golden snapshots (README, "CLI": `golden`): a fixed corpus of runs, their views and bundles, with
volatile fields normalised, recorded in the repo and diffed on demand."""
