"""The IAM actions each apply operation needs, declared for the generated `apply` role policy.

One table maps every boto3 operation a change plan may contain to the IAM actions it needs, so a
plan lists its own permissions and `batchopt iam-policy --role apply` prints exactly the union. The
executor also reads resources back (Describe*) and checks that a replaced CE drained (ecs:ListTasks).
"""

from __future__ import annotations

from optimizer.aws.permissions import declare

READ_ACTIONS = (
    "batch:DescribeComputeEnvironments",
    "batch:DescribeJobQueues",
    "batch:DescribeJobDefinitions",
    "ecs:ListTasks",
)
"""What the executor reads: the fingerprint re-read, waiting for VALID, read-back, drain checks."""

OPERATION_ACTIONS: dict[str, tuple[str, ...]] = {
    # Changing instanceRole or serviceRole passes a role to Batch.
    "update_compute_environment": ("batch:UpdateComputeEnvironment", "iam:PassRole"),
    # A copy of a CE passes its instance role (and service role, if not the service-linked one) and
    # carries the original's tags.
    "create_compute_environment": ("batch:CreateComputeEnvironment", "batch:TagResource", "iam:PassRole"),
    "update_job_queue": ("batch:UpdateJobQueue",),
    # A new revision passes the job and execution roles of the revision it copies.
    "register_job_definition": ("batch:RegisterJobDefinition", "batch:TagResource", "iam:PassRole"),
    "deregister_job_definition": ("batch:DeregisterJobDefinition",),
}


def actions_for_operation(operation: str) -> tuple[str, ...]:
    """IAM actions for one boto3 Batch operation of a change plan (KeyError if the planner lacks it)."""
    return OPERATION_ACTIONS[operation]


declare("apply", *READ_ACTIONS)
for _actions in OPERATION_ACTIONS.values():
    declare("apply", *_actions)
