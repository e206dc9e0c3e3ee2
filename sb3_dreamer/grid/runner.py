"""Running a grid's cells as Ray tasks: locally, or on a cluster through ``address``.

Each cell is one task of ``cpus_per_cell`` CPUs (and ``gpus_per_cell`` GPUs), retried up to ``max_retries``
times when its worker dies (the process killed, the node lost) and then resumed from its latest checkpoint;
an exception of the cell's own (a bad environment id, a diverged run) is not retried: the cell is reported
as failed with its error and the other cells go on. Finished cells (``done.json``) are skipped, so running
the same grid again resumes what did not finish and trains nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence
from typing import Any

from sb3_dreamer.grid.cells import Cell
from sb3_dreamer.grid.train import DONE_FILE, ERROR_FILE, read_json, train_cell, write_json

#: the grid's cells, written into the output folder (the report reads it to list cells that never finished)
GRID_FILE = "grid.json"
EXTRA_HINT = 'pip install "sb3-dreamer[grid]"'


def import_ray() -> Any:
    """The ``ray`` module.

    :raises ImportError: Ray is not installed, with the command that installs the ``grid`` extra
    """
    try:
        import ray
    except ImportError as error:
        raise ImportError(f"Running a grid needs Ray: {EXTRA_HINT} (or pip install ray).") from error
    return ray


@dataclasses.dataclass
class GridResult:
    """What :func:`run_grid` did, each cell as its summary dict (``cell.json``'s fields, ``folder``, ``status``;
    finished cells also ``num_timesteps``, ``final_return``, ``minutes``, ``attempts``; failed ones ``error``).

    :param output: the grid's output folder
    :param finished: cells trained to the end by this call
    :param skipped: cells already finished before it (not trained again)
    :param failed: cells that failed, with their error
    """

    output: str
    finished: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    failed: list[dict[str, Any]]


def run_grid(
    cells: Sequence[Cell],
    output: str,
    cpus_per_cell: float = 1,
    gpus_per_cell: float = 0,
    address: str | None = None,
    num_cpus: int | None = None,
    max_retries: int = 3,
    keep_checkpoints: bool = False,
    progress: bool = True,
) -> GridResult:
    """Run every unfinished cell of a grid on Ray and return what happened; one line per finished cell and a
    progress bar with a time estimate on the terminal.

    Uses the Ray session already initialised in this process if there is one; otherwise starts Ray
    (``ray.init(address)``: a local Ray on this machine for ``address=None``, an existing cluster for
    ``"auto"``, ``"ray://host:port"`` or ``"host:port"``) and shuts it down at the end. On a cluster, ``output``
    must be a folder every node sees at the same path (a shared file system), and ``sb3_dreamer`` must be
    installed on every node.

    :param cells: the cells (:func:`~sb3_dreamer.grid.make_grid` makes a product of algorithms, envs and seeds)
    :param output: the output folder (``<output>/<algo>/<EnvName>_<seed>/`` per cell)
    :param cpus_per_cell: CPUs Ray reserves for each cell; each cell uses ``max(1, int(cpus_per_cell))`` torch threads
    :param gpus_per_cell: GPUs Ray reserves for each cell (more than 0: the model is on ``cuda``, else on ``cpu``)
    :param address: Ray address of an existing cluster, or None for a local Ray
    :param num_cpus: CPUs of the local Ray (None: all of this machine's); ignored with ``address``
    :param max_retries: how many times a cell is restarted after its worker dies
    :param keep_checkpoints: keep each finished cell's ``checkpoints/`` folder
    :param progress: print the per-cell lines and the progress bar
    :raises ValueError: two cells share a folder
    """
    output = os.path.abspath(output)
    folders = [cell.folder(output) for cell in cells]
    duplicates = sorted({folder for folder in folders if folders.count(folder) > 1})
    if duplicates:
        raise ValueError(f"Cells share folders {duplicates}: give variants of an algorithm different labels.")
    _record_grid(output, cells)
    skipped, pending = [], []
    for cell, folder in zip(cells, folders, strict=True):
        done = read_json(os.path.join(folder, DONE_FILE))
        if done is not None:
            skipped.append(done)
        else:
            pending.append((cell, folder))
    result = GridResult(output=output, finished=[], skipped=skipped, failed=[])
    if progress and skipped:
        print(f"{len(skipped)} of {len(cells)} cells already finished in {output}: skipped")
    if not pending:
        return result

    ray = import_ray()
    from tqdm.auto import tqdm

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, num_cpus=None if address else num_cpus, include_dashboard=False)
    try:
        task = ray.remote(train_cell)
        options = dict(num_cpus=cpus_per_cell, num_gpus=gpus_per_cell, max_retries=max_retries, retry_exceptions=False)
        threads, device = max(1, int(cpus_per_cell)), "cuda" if gpus_per_cell > 0 else "cpu"
        running = {
            task.options(name=f"{cell.name}/{os.path.basename(folder)}", **options).remote(
                cell, folder, threads, device, keep_checkpoints
            ): (cell, folder)
            for cell, folder in pending
        }
        bar = tqdm(total=len(cells), initial=len(skipped), unit="cell", desc="grid", disable=not progress, smoothing=0)
        try:
            while running:
                ready, _ = ray.wait(list(running), num_returns=1)
                cell, folder = running.pop(ready[0])
                summary = _collect(ray, ready[0], cell, folder)
                (result.finished if summary["status"] == "done" else result.failed).append(summary)
                if progress:
                    bar.write(_line(summary))
                bar.update()
        finally:
            bar.close()
    finally:
        if started_here:
            ray.shutdown()
    return result


def _collect(ray: Any, ref: Any, cell: Cell, folder: str) -> dict[str, Any]:
    """The summary of a finished task: ``done.json``'s, or the cell marked failed with its error."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:  # the cell's own exception, raised in the worker
        cause = getattr(error, "cause", None) or error
        message, details = f"{type(cause).__name__}: {cause}", str(error)
    except ray.exceptions.RayError as error:  # its worker died more than max_retries times, or Ray failed
        message = details = f"{type(error).__name__}: {error}"
    path = os.path.join(folder, ERROR_FILE)
    if not os.path.isfile(path):
        os.makedirs(folder, exist_ok=True)
        with open(path, "w") as file:
            file.write(details)
    return dict(cell.to_dict(), status="failed", folder=folder, error=message.strip().splitlines()[0])


def _line(summary: dict[str, Any]) -> str:
    """One line about a finished or failed cell."""
    name = f"{summary.get('label') or summary['algo']} {summary['env']} seed {summary['seed']}"
    if summary["status"] != "done":
        return f"FAILED {name}: {summary['error']}"
    resumed = len(summary["attempts"]) - 1
    return (
        f"done   {name}: return {summary['final_return']:.1f} at {summary['num_timesteps']} steps, "
        f"{summary['minutes']:.1f} min training" + (f" (resumed {resumed}x)" if resumed else "")
    )


def _record_grid(output: str, cells: Sequence[Cell]) -> None:
    """Add the cells to ``<output>/grid.json`` (several grids may share an output folder)."""
    os.makedirs(output, exist_ok=True)
    path = os.path.join(output, GRID_FILE)
    known = read_json(path) or {"cells": []}
    entries = {json.dumps(entry, sort_keys=True): entry for entry in known["cells"]}
    for cell in cells:
        entry = json.loads(json.dumps(cell.to_dict()))
        entries.setdefault(json.dumps(entry, sort_keys=True), entry)
    write_json(path, {"cells": list(entries.values()), "updated": time.time()})
