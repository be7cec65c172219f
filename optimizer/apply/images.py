"""The AMIs a compute environment pins and their CPU architecture, for the planner's check that a
move to another architecture (x86_64 -> Graviton) does not leave an AMI that cannot boot.

A CE pins an AMI through `computeResources.imageId`, an `ec2Configuration[].imageIdOverride`, or the
`ImageId` of its launch template's version (and of the launch template overrides). Without any,
Batch picks the ECS-optimized AMI of each instance's architecture itself, so nothing is read.
Read-only: EC2 DescribeLaunchTemplateVersions and DescribeImages (declared for the `apply` role).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

UNKNOWN = "unknown"


def _template_image(ec2: Any, template: dict[str, Any]) -> tuple[str, str | None]:
    """(description, ImageId or None) of a Batch `launchTemplate` specification."""
    version = str(template.get("version") or "$Default")
    if template.get("launchTemplateId"):
        ref, kwargs = template["launchTemplateId"], {"LaunchTemplateId": template["launchTemplateId"]}
    else:
        ref, kwargs = (
            template.get("launchTemplateName", "?"),
            {"LaunchTemplateName": template.get("launchTemplateName", "")},
        )
    where = f"launch template {ref} ({version})"
    try:
        versions = ec2.describe_launch_template_versions(Versions=[version], **kwargs)
    except ClientError as exc:
        return f"{where}: {exc.response.get('Error', {}).get('Code', 'unreadable')}", None
    found = versions.get("LaunchTemplateVersions") or []
    image = (found[0].get("LaunchTemplateData") or {}).get("ImageId") if found else None
    return where, image


def pinned_images(ec2: Any, item: dict[str, Any]) -> dict[str, str]:
    """Where each pinned AMI comes from -> its Architecture (`unknown` when it cannot be read)."""
    resources = item.get("computeResources") or {}
    pinned: dict[str, str | None] = {}
    if resources.get("imageId"):
        pinned[f"imageId {resources['imageId']}"] = resources["imageId"]
    for config in resources.get("ec2Configuration") or []:
        if config.get("imageIdOverride"):
            pinned[f"ec2Configuration {config.get('imageType', '?')}: {config['imageIdOverride']}"] = config[
                "imageIdOverride"
            ]
    template = resources.get("launchTemplate")
    for spec in ([template] if template else []) + list((template or {}).get("overrides") or []):
        where, image = _template_image(ec2, spec)
        if image:
            pinned[f"{where}: {image}"] = image
        elif ":" in where:  # the version could not be read: say so rather than assume it is fine
            pinned[where] = None
    images = sorted({ami for ami in pinned.values() if ami})
    architectures: dict[str, str] = {}
    if images:
        try:
            described = ec2.describe_images(ImageIds=images).get("Images") or []
            architectures = {i["ImageId"]: i.get("Architecture", UNKNOWN) for i in described}
        except ClientError:
            architectures = {}
    return {where: architectures.get(ami or "", UNKNOWN) for where, ami in pinned.items()}
