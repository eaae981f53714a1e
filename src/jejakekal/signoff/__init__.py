"""`jejakekal signoff`: the bounded drills, golden diff, bench check, the smoke commands
and an offline bundle verification, each run as a `jejakekal` process with a time limit,
judged into one JSON verdict (README, "Signoff")."""
