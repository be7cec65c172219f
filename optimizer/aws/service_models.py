"""botocore's Batch service model, loaded once: the ground truth for request and response fields.

The apply path derives request bodies from it (`optimizer.apply.shapes`) and the replay checks a
configuration's fields against it (`optimizer.simulate.config`); both read this one copy. Loading
it needs no credentials and no network.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.model import ServiceModel


@lru_cache(maxsize=1)
def batch_model() -> ServiceModel:
    """botocore's Batch model (loaded once, on first use: importing the replay's configuration
    parser, which the pure recommendation strategies do, must not import botocore)."""
    import botocore.session

    return botocore.session.get_session().get_service_model("batch")


@lru_cache(maxsize=32)
def api_members(*shapes: str) -> frozenset[str]:
    """The member names of these Batch shapes: an operation named in lowerCamel
    (`createComputeEnvironment`: its request) or a shape name (`ComputeEnvironmentDetail`)."""
    model = batch_model()
    names: set[str] = set()
    for shape in shapes:
        if shape[0].islower():
            names |= set(model.operation_model(shape[0].upper() + shape[1:]).input_shape.members)
        else:
            names |= set(model.shape_for(shape).members)
    return frozenset(names)


def api_enum(shape: str) -> tuple[str, ...]:
    """The values a Batch enum shape allows (`CEState`: ENABLED, DISABLED)."""
    return tuple(batch_model().shape_for(shape).enum)
