"""Plain Python: ids, statuses, contracts, errors and ports. No framework imports."""
