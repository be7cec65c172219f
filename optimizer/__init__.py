"""Batch Optimizer: cost and utilization optimizer and advisor for AWS Batch."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("batch-optimizer")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
