"""Sweeps: a grid over width x hyperparameters x seed of one unit of work, run resumably, checked for transfer.

A harness layer (above the science, below the CLI). A *unit of work* is a registered name ->
``function(frozen config) -> JSON-serialisable dict`` (:mod:`.units`); a :class:`Sweep` lists its
points (:mod:`.spec`); an executor runs them in this process, in local processes or on Ray
(:mod:`.executors`); every finished point is written atomically as it lands (:mod:`.store`);
:func:`report` writes the table and plots and the transfer verdict (:mod:`.transfer`).
"""

from infwidth.sweeps.executors import (
    EXECUTORS,
    LocalExecutor,
    ProcessExecutor,
    RayExecutor,
    make_executor,
)
from infwidth.sweeps.report import report
from infwidth.sweeps.runner import run_sweep, summarize
from infwidth.sweeps.spec import Point, Sweep, TransferSpec, load_sweep, point_key
from infwidth.sweeps.store import read_points, read_sweep
from infwidth.sweeps.table import rows, write_table
from infwidth.sweeps.transfer import GroupVerdict, check_transfer, parabola_vertex
from infwidth.sweeps.units import UNITS, register_unit, resolve_unit, unit_names

__all__ = [
    "EXECUTORS", "UNITS", "GroupVerdict", "LocalExecutor", "Point", "ProcessExecutor", "RayExecutor", "Sweep",
    "TransferSpec", "check_transfer", "load_sweep", "make_executor", "parabola_vertex", "point_key", "read_points",
    "read_sweep", "register_unit", "report", "resolve_unit", "rows", "run_sweep", "summarize", "unit_names",
    "write_table",
]
