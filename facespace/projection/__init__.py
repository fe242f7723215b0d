"""Projection: any batch of target images -> one W+ code each for a generator (used by training and Project Image)."""
from .projector import ProjectionResult, StepCallback, project
from .settings import ProjectionSettings

__all__ = ["ProjectionResult", "ProjectionSettings", "StepCallback", "project"]
