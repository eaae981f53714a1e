"""Durability drills (README, "Drills"): real processes, SIGKILLs at chosen moments, SQL oracles.

Each drill starts its own `jejakekal api` process (API and worker in one), kills it
where the drill says, restarts it with the same executor id so DBOS recovers the
pending workflows at launch, and judges the outcome only by what the database holds.
"""
