"""What an instance type is, from its name and counts: family, generation, category, accelerators.

EC2's names carry this (`c7gn.16xlarge`: category c, generation 7, attributes g and n; `.metal` is
bare metal), and every consumer needs the same answers: the instance requirements of a policy, the
strategies' "suited for batch" rule, the dashboard. DescribeInstanceTypes says the same in fields
(`BurstablePerformanceSupported`, `BareMetal`, `GpuInfo`, `NeuronInfo`, `InferenceAcceleratorInfo`,
`FpgaInfo`, `MediaAcceleratorInfo`), which the tests check these rules against on recorded responses.

Previous generation: the families AWS lists on its "Previous generation instances" page (EC2 user
guide) plus the pre-Nitro 2006-2014 families. A collected catalogue's `CurrentGeneration` flag is
not used: the local emulator's data marks m5 and m6i as previous, and one rule that every reader
(solver, validator, replay, strategies) applies to a bare instance-type name keeps them agreeing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from optimizer.domain import INSTANCE_CATEGORIES

#: Family prefix (letters before the generation digit) -> category, as in EC2's naming guide.
CATEGORIES = {
    "m": "general",
    "a": "general",
    "t": "general",
    "mac": "other",  # Mac hosts need dedicated hosts, which Batch does not launch
    "c": "compute",
    "r": "memory",
    "x": "memory",
    "u": "memory",
    "z": "memory",
    "i": "storage",
    "im": "storage",
    "is": "storage",
    "d": "storage",
    "h": "storage",
    "hpc": "hpc",
    "p": "accelerated",
    "g": "accelerated",
    "gr": "accelerated",
    "inf": "accelerated",
    "trn": "accelerated",
    "dl": "accelerated",
    "f": "accelerated",
    "vt": "accelerated",
}
CATEGORY_NAMES = INSTANCE_CATEGORIES  # the vocabulary settings and catalogue share (`optimizer.domain`)
#: Accelerators that are not GPUs, by family prefix (GPUs come from the GPU count).
ACCELERATOR_BY_PREFIX = {
    "inf": "inferentia",
    "trn": "trainium",
    "dl": "other",  # dl1 Gaudi, dl2q Qualcomm AI 100
    "f": "fpga",
    "vt": "media",
}
PREVIOUS_GENERATION_FAMILIES = frozenset(
    {
        "a1", "c1", "c3", "c4", "cc1", "cc2", "cg1", "cr1", "d2", "g2", "g3", "g3s", "h1", "hi1", "hs1",
        "i2", "i3", "m1", "m2", "m3", "m4", "p2", "p3", "r3", "r4", "t1", "t2", "x1", "x1e",
    }
)  # fmt: skip

_PREFIX = re.compile(r"^(?P<prefix>[a-z]+?)(?P<generation>\d+)(?P<attributes>.*)$")


@dataclass(frozen=True)
class InstanceKind:
    """The attributes of one instance type that policies and advice select on."""

    instance_type: str
    family: str
    prefix: str
    generation: int | None
    category: str
    burstable: bool
    bare_metal: bool
    accelerator: str | None  # gpu, inferentia, trainium, fpga, media, other; None for none
    current_generation: bool

    @property
    def accelerated(self) -> bool:
        return self.accelerator is not None


def family_of(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


#: Words in a GPU's model (DescribeInstanceTypes' `GpuInfo` manufacturer and name, or the price
#: list's GPU name) that mark it as not NVIDIA: AMD Radeon (g4ad), Habana Gaudi (dl1), Xilinx and
#: Qualcomm accelerators.
NON_NVIDIA_GPU_WORDS = ("amd", "radeon", "habana", "gaudi", "xilinx", "qualcomm")


def batch_gpus(gpus: int, gpu_model: object) -> int:
    """The GPUs of a type that AWS Batch can give a job: only NVIDIA ones. Batch schedules the `GPU`
    resource requirement through the ECS GPU-optimized (or EKS accelerated) AMI's NVIDIA drivers and
    supports instance types with NVIDIA GPUs only, so a GPU job planned onto g4ad (AMD Radeon Pro)
    would never start; such a type keeps its GPUs in the catalogue's `gpu_model` but offers none
    here. A type whose model is unknown keeps its count (every GPU family but g4ad and dl1 is
    NVIDIA)."""
    model = str(gpu_model).lower() if isinstance(gpu_model, str) else ""
    return 0 if any(word in model for word in NON_NVIDIA_GPU_WORDS) else int(gpus)


@lru_cache(maxsize=8192)
def instance_kind(instance_type: str, gpus: int = 0) -> InstanceKind:
    """Classify a type; `gpus` comes from the catalogue (a GPU family without its count still counts)."""
    family = family_of(instance_type)
    size = instance_type.split(".", 1)[1] if "." in instance_type else ""
    match = _PREFIX.match(family.split("-", 1)[0])
    prefix = match.group("prefix") if match else re.sub(r"[^a-z].*$", "", family)
    generation = int(match.group("generation")) if match else None
    category = CATEGORIES.get(prefix, "other")
    accelerator = "gpu" if gpus > 0 else ACCELERATOR_BY_PREFIX.get(prefix)
    if category == "accelerated" and accelerator is None and prefix in ("g", "p", "gr"):
        accelerator = "gpu"  # a GPU family listed without its count (specs missing)
    if accelerator is not None:
        category = "accelerated"
    previous = family in PREVIOUS_GENERATION_FAMILIES
    return InstanceKind(
        instance_type=instance_type,
        family=family,
        prefix=prefix,
        generation=generation,
        category=category,
        burstable=prefix == "t",
        bare_metal="metal" in size,
        accelerator=accelerator,
        current_generation=not previous,
    )


@lru_cache(maxsize=8192)
def architecture(instance_type: str) -> str:
    """`arm64` or `x86_64` for a type or family name (what DescribeInstanceTypes'
    `ProcessorInfo.SupportedArchitectures` says, from the name): Graviton families carry a `g`
    among the attributes after the generation (m6g, c7gn, x2gd, im4gn, is4gen, g5g, hpc7g), a1 is
    the first Graviton, Mac hosts from mac2 on are Apple silicon, and `-gb` hosts (p6e-gb200) are
    NVIDIA Grace."""
    full = family_of(instance_type)
    if re.search(r"-gb\d|^mac-m\d", full):
        return "arm64"  # NVIDIA Grace hosts (p6e-gb200) and Apple M-series Macs (mac-m4, mac-m4pro)
    family = full.split("-", 1)[0]
    match = _PREFIX.match(family)
    if family == "a1" or (match and "g" in match.group("attributes")):
        return "arm64"
    if match and match.group("prefix") == "mac" and int(match.group("generation")) >= 2:
        return "arm64"
    return "x86_64"
