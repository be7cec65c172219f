"""Applying recommendations: a pure planner, the one executor that mutates AWS, audit and rollback.

Importing the package declares the apply role's IAM permissions (see `permissions`).
"""

from optimizer.apply import permissions as _permissions  # noqa: F401  (declares the apply role)
