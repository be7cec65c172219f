"""Applying recommendations: a pure planner, the one executor that mutates AWS, audit and rollback.

The path every caller takes (CLI, dashboard, auto-tuning), through `service.ApplyService`:

1. `plan(id)`: read the target as Batch describes it now (`reader`), turn the recommendation into a
   `ChangePlan` (`planner`, pure: exact calls, update kind, IAM permissions, fingerprint of the
   normalised resources, `fingerprint`) and store it (`records`).
2. `apply(id, execute=...)`: the `executor` re-reads the resources, refuses (RefusedError, exit 3,
   nothing changed) unless `apply.enabled`, every changed resource is on `apply.allow_list`, the
   fingerprint still matches and no other run is in flight on the target; dry run stops there. It
   then commits a `pending` audit record, sends the calls (waiting for VALID, and for drain before
   disabling a replaced CE), reads everything back (`verify`), stores the rollback plan
   (`rollback`) and completes the audit record.
3. `rollback(id)`: the stored rollback plan through the same executor and guards.

`autotune` runs the same path under guardrails. Importing this package declares the apply role's
IAM permissions (`permissions`), which `batchopt iam-policy --role apply` prints.
"""

from optimizer.apply import permissions as _permissions  # noqa: F401  (declares the apply role)
