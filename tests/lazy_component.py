"""A component for the registry test: imported only when the registry first needs it."""

import dataclasses

from emofuse.registry import builds


@dataclasses.dataclass(frozen=True)
class ShapeConfig:
    sides: int = 3


@builds(ShapeConfig)
def build_shape(config: ShapeConfig) -> str:
    return f"{config.sides}-gon"
