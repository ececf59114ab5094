"""``gameday record``: the live stack under load, faults on a schedule, into a recording."""
