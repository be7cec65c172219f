"""The IAM actions each apply operation needs, declared for the generated `apply` role policy.

One table maps every boto3 operation a change plan may contain to the IAM actions it needs, so a
plan lists its own permissions and `batchopt iam-policy --role apply` prints exactly the union. The
executor also reads resources back (Describe*) and checks that a replaced CE drained (ecs:ListTasks).
"""

from __future__ import annotations

from optimizer.aws.permissions import declare, scope

READ_ACTIONS = (
    "batch:DescribeComputeEnvironments",
    "batch:DescribeJobQueues",
    "batch:DescribeJobDefinitions",
    "ecs:ListTasks",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:DescribeImages",
    "batch:DescribeSchedulingPolicies",
)
"""What the executor reads: the fingerprint re-read, waiting for VALID, read-back, drain checks;
the planner's architecture check reads the AMIs a CE pins (`optimizer.apply.images`)."""

PASSED_TO_SERVICES = (
    "batch.amazonaws.com",
    "ec2.amazonaws.com",
    "ecs-tasks.amazonaws.com",
    "spotfleet.amazonaws.com",
)
"""Who the roles an apply passes go to: Batch's service role, the instance role (EC2), a job's job
and execution roles (ECS tasks), a SPOT CE's fleet role. iam:PassRole is granted for these only."""

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
    # Time limits and fair share (`queue_settings`); a new queue and policy carry tags.
    "create_scheduling_policy": ("batch:CreateSchedulingPolicy", "batch:TagResource"),
    "update_scheduling_policy": ("batch:UpdateSchedulingPolicy",),
    "delete_scheduling_policy": ("batch:DeleteSchedulingPolicy",),
    "create_job_queue": ("batch:CreateJobQueue", "batch:TagResource"),
    "delete_job_queue": ("batch:DeleteJobQueue",),
}


def actions_for_operation(operation: str) -> tuple[str, ...]:
    """IAM actions for one boto3 Batch operation of a change plan (KeyError if the planner lacks it)."""
    return OPERATION_ACTIONS[operation]


declare("apply", *READ_ACTIONS)
for _actions in OPERATION_ACTIONS.values():
    declare("apply", *(a for a in _actions if a != "iam:PassRole"))
scope(
    "apply",
    "iam:PassRole",
    resources=("arn:aws:iam::*:role/*",),
    condition={"StringEquals": {"iam:PassedToService": list(PASSED_TO_SERVICES)}},
)
