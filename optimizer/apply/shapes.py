"""Request bodies derived from botocore's Batch service model, so a copy never drops a field.

A blue/green copy of a compute environment and a new job-definition revision are both "what
Describe* returned, as the Create/Register request accepts it". Listing the fields by hand is how
`ecsSettings`, `scalingPolicy`, `capacityTags` and `consumableResourceProperties` were lost when AWS
added them; reading the request shape from the installed botocore model keeps every field the
request accepts, at every depth, and drops only what the request would reject (read-only fields
such as `status`, `revision`, `containerOrchestrationType`). botocore is the same package that
validates the request when it is sent, so the two cannot disagree.
"""

from __future__ import annotations

from typing import Any

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from optimizer.aws.service_models import batch_model
from optimizer.errors import UserError


def operation(name: str) -> OperationModel:
    """The model of a Batch operation by its API name (e.g. `CreateComputeEnvironment`)."""
    return batch_model().operation_model(name)


def request_members(operation_name: str) -> tuple[str, ...]:
    """Top-level request fields of a Batch operation, in the model's order."""
    shape = operation(operation_name).input_shape
    return tuple(shape.members) if shape is not None else ()


def member_shape(operation_name: str, *path: str) -> Shape:
    """The shape of a (nested) request member, e.g. ("computeResources",)."""
    shape: Shape = operation(operation_name).input_shape
    for name in path:
        if not isinstance(shape, StructureShape):
            raise KeyError(f"{operation_name}: {name} is not inside a structure")
        shape = shape.members[name]
    return shape


def prune(value: Any, shape: Shape) -> Any:
    """`value` with only what `shape` accepts, recursively (None values dropped).

    Keeps unknown scalars as they are: the model's type checks happen when the request is sent."""
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            return value
        return {
            key: prune(item, shape.members[key])
            for key, item in value.items()
            if key in shape.members and item is not None
        }
    if isinstance(shape, ListShape):
        return [prune(item, shape.member) for item in value] if isinstance(value, list) else value
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            return value
        return {key: prune(item, shape.value) for key, item in value.items() if item is not None}
    return value


def as_request(operation_name: str, item: dict[str, Any], *path: str) -> dict[str, Any]:
    """A Describe* item (or one nested member of it, by `path`) pruned to what the request takes,
    without the reserved `aws:` tags Describe* reports but no request may set."""
    pruned = prune(item, member_shape(operation_name, *path))
    if not isinstance(pruned, dict):
        return {}
    if not path and isinstance(pruned.get("tags"), dict):
        pruned["tags"] = _own_tags(pruned["tags"])
    return pruned


RESERVED_TAG_PREFIX = "aws:"
"""Tag keys AWS sets itself (CloudFormation's `aws:cloudformation:stack-name`, ...): Describe*
returns them, a Create* request may not carry them, and they do not count toward the limit."""


def copied_tags(operation_name: str, tags: dict[str, str] | None, **added: str) -> dict[str, str]:
    """The `tags` of a Create* request that copies a resource: its own tags without the reserved
    `aws:` ones, plus `added`. A UserError names the limit when they exceed the model's `max`
    (50 for Batch's TagrisTagsMap), which botocore would otherwise refuse mid-apply."""
    kept = _own_tags(tags or {})
    kept.update(added)
    limit = member_shape(operation_name, "tags").metadata.get("max")
    if limit is not None and len(kept) > limit:
        raise UserError(f"{operation_name}.tags: {len(kept)} tags, more than the {limit} Batch allows")
    return kept


def _own_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if not k.lower().startswith(RESERVED_TAG_PREFIX)}
