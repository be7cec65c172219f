"""Stable recommendation ids (pure): the same advice on the same resource keeps the same id.

The id hashes the strategy, the target and the proposed values only (not savings or evidence, which
move with every collection), so re-running a strategy updates a stored recommendation in place and a
dismissed or applied one stays dismissed or applied; a different proposal is a new recommendation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def recommendation_id(strategy: str, target_arn: str, proposed: Mapping[str, Any]) -> str:
    payload = json.dumps([strategy, target_arn, proposed], sort_keys=True, separators=(",", ":"), default=str)
    return "rec-" + hashlib.sha256(payload.encode()).hexdigest()[:12]
