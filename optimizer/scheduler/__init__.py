"""Where "what the scheduler runs" lives: each area's `scheduled.py` (collectors, ml, recommend,
apply, report) registers its jobs in `registry`, and `batchopt scheduler` builds APScheduler from it.

The package sits low in the layer order because it is only a registry: it imports the areas'
`scheduled.py` modules by name when it discovers jobs, never at import time.
"""
