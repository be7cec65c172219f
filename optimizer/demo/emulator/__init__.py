"""A local AWS for the demo: moto's server plus one layer that fills what moto 5.2.5 lacks.

See README.md here for each gap and how it is filled. Product code never imports this package: it
talks plain boto3 to the emulator's `endpoint_url` (`BATCHOPT_AWS_ENDPOINT_URL`).
"""

from optimizer.demo.emulator.seed import HistoryFrames, SeedCounts
from optimizer.demo.emulator.server import Emulator

__all__ = ["Emulator", "HistoryFrames", "SeedCounts"]
