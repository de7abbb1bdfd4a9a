"""Pure torch/numpy computations behind every figure (never imports dash, plotly or flask)."""

from compute.data import DATA_PARAMS, DataSpec, toy_data
from compute.errors import InvalidSpec
from compute.losses import LOSSES, REGRESSION_LOSSES, LossInfo, loss_data
from compute.optimizers import OPTIMIZERS, OptimizerInfo
from compute.params import Param
from compute.presets import PRESETS, Preset
from compute.schedules import SCHEDULES, ScheduleInfo
from compute.specs import (
    COMPUTE_VERSION,
    GRID_PARAMS,
    RUN_PARAMS,
    GridSpec,
    LossSpec,
    OptimizerSpec,
    RunSpec,
    ScheduleSpec,
)
from compute.toy import LossGrid, Trajectory, grid_axes, loss_grid, run_trajectories, run_trajectory

__all__ = [
    "COMPUTE_VERSION",
    "DATA_PARAMS",
    "GRID_PARAMS",
    "LOSSES",
    "OPTIMIZERS",
    "PRESETS",
    "REGRESSION_LOSSES",
    "RUN_PARAMS",
    "SCHEDULES",
    "DataSpec",
    "GridSpec",
    "InvalidSpec",
    "LossGrid",
    "LossInfo",
    "LossSpec",
    "OptimizerInfo",
    "OptimizerSpec",
    "Param",
    "Preset",
    "RunSpec",
    "ScheduleInfo",
    "ScheduleSpec",
    "Trajectory",
    "grid_axes",
    "loss_data",
    "loss_grid",
    "run_trajectories",
    "run_trajectory",
    "toy_data",
]
