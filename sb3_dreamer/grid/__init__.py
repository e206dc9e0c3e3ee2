"""Experiment grids: algorithms x environments x seeds on Ray, with RL Zoo log folders and an rliable report.

::

    from sb3_dreamer.grid import make_grid, run_grid, report

    cells = make_grid(["dreamer"], ["Pendulum-v1"], seeds=[0, 1, 2], steps=20_000, presets="SMALL_VECTOR")
    run_grid(cells, "runs/grid")              # a local Ray; address="auto" for a running cluster
    print(report("runs/grid"))                # results.csv, report.md, PNG curves and profiles

The command line does the same: ``python -m sb3_dreamer.grid run ...`` and ``python -m sb3_dreamer.grid report
runs/grid`` (docs/grid.md). Ray and rliable come with the ``grid`` extra (``pip install "sb3-dreamer[grid]"``)
and are imported only when a grid runs or a report is written.
"""

from sb3_dreamer.grid.cells import Cell, algorithms, make_grid, preset, read_cell
from sb3_dreamer.grid.report import load_results, report
from sb3_dreamer.grid.runner import GridResult, run_grid
from sb3_dreamer.grid.train import train_cell

__all__ = [
    "Cell",
    "GridResult",
    "algorithms",
    "load_results",
    "make_grid",
    "preset",
    "read_cell",
    "report",
    "run_grid",
    "train_cell",
]
