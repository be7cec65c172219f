"""The recommendation strategies; `ALL_STRATEGIES` is the order the engine runs them in."""

from optimizer.recommend.strategies.attempt_timeouts import AttemptTimeoutSettings, AttemptTimeoutStrategy
from optimizer.recommend.strategies.blast_radius import BlastRadiusSettings, BlastRadiusStrategy
from optimizer.recommend.strategies.commitments import CommitmentAdviceSettings, CommitmentAdviceStrategy
from optimizer.recommend.strategies.fair_share import FairShareSettings, FairShareStrategy
from optimizer.recommend.strategies.fargate import FargateSettings, FargateStrategy
from optimizer.recommend.strategies.graviton import GravitonSettings, GravitonStrategy
from optimizer.recommend.strategies.instance_mix import InstanceMixSettings, InstanceMixStrategy
from optimizer.recommend.strategies.mnp_node_size import MnpNodeSizeSettings, MnpNodeSizeStrategy
from optimizer.recommend.strategies.mnp_on_demand import MnpOnDemandSettings, MnpOnDemandStrategy
from optimizer.recommend.strategies.retry_and_spot import RetryAndSpotSettings, RetryAndSpotStrategy
from optimizer.recommend.strategies.rightsizing import RightSizingSettings, RightSizingStrategy
from optimizer.recommend.strategies.scaling import ScalingSettings, ScalingStrategy
from optimizer.recommend.strategies.spot import SpotAdoptionSettings, SpotAdoptionStrategy
from optimizer.recommend.strategies.spot_fallback import SpotFallbackSettings, SpotFallbackStrategy
from optimizer.recommend.strategies.stuck_job_limits import StuckJobLimitSettings, StuckJobLimitStrategy

ALL_STRATEGIES = (
    InstanceMixStrategy,
    SpotAdoptionStrategy,
    ScalingStrategy,
    RightSizingStrategy,
    GravitonStrategy,
    FargateStrategy,
    CommitmentAdviceStrategy,
    AttemptTimeoutStrategy,
    RetryAndSpotStrategy,
    BlastRadiusStrategy,
    SpotFallbackStrategy,
    StuckJobLimitStrategy,
    FairShareStrategy,
    MnpNodeSizeStrategy,
    MnpOnDemandStrategy,
)

__all__ = [
    "ALL_STRATEGIES",
    "AttemptTimeoutSettings",
    "AttemptTimeoutStrategy",
    "BlastRadiusSettings",
    "BlastRadiusStrategy",
    "CommitmentAdviceSettings",
    "CommitmentAdviceStrategy",
    "FairShareSettings",
    "FairShareStrategy",
    "FargateSettings",
    "FargateStrategy",
    "GravitonSettings",
    "GravitonStrategy",
    "InstanceMixSettings",
    "InstanceMixStrategy",
    "MnpNodeSizeSettings",
    "MnpNodeSizeStrategy",
    "MnpOnDemandSettings",
    "MnpOnDemandStrategy",
    "RetryAndSpotSettings",
    "RetryAndSpotStrategy",
    "RightSizingSettings",
    "RightSizingStrategy",
    "ScalingSettings",
    "ScalingStrategy",
    "SpotAdoptionSettings",
    "SpotAdoptionStrategy",
    "SpotFallbackSettings",
    "SpotFallbackStrategy",
    "StuckJobLimitSettings",
    "StuckJobLimitStrategy",
]
