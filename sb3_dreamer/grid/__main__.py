"""Command line of experiment grids (docs/grid.md).

    python -m sb3_dreamer.grid run --algo dreamer --env Pendulum-v1 MountainCarContinuous-v0 --seeds 0 1 2 \\
        --steps 20000 --preset SMALL_VECTOR --output runs/grid [--kwargs '{...}'] [--address auto]
    python -m sb3_dreamer.grid report runs/grid [--normalize '{"Pendulum-v1": [-1400, 0], ...}']
    python -m sb3_dreamer.grid evaluate runs/grid     # the finished cells' last evaluations, played again
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _literal(text: str) -> Any:
    """A Python or JSON literal (``'{"a": 1}'``, ``"{'a': 1}"``)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as error:
        raise argparse.ArgumentTypeError(f"not a literal: {text!r} ({error})") from error


def build_parser() -> argparse.ArgumentParser:
    """The ``run``, ``report`` and ``evaluate`` subcommands."""
    parser = argparse.ArgumentParser(prog="python -m sb3_dreamer.grid", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a grid of algorithms x envs x seeds on Ray")
    run.add_argument("--algo", nargs="+", required=True, help="algorithm names (dreamer, dreamerv2, plan2explore, ...)")
    run.add_argument("--env", nargs="+", required=True, help="environment ids")
    run.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    run.add_argument("--steps", type=int, required=True, help="budget of each cell in policy steps")
    run.add_argument("--preset", nargs="+", default=None, help="a preset of sb3_dreamer.presets, or one per --algo")
    run.add_argument("--kwargs", type=_literal, default={}, help="constructor arguments over the preset's (a dict literal)")
    run.add_argument("--policy", default="MlpPolicy")
    run.add_argument("--label", default=None, help="folder name of the algorithm (variants of one algorithm)")
    run.add_argument("--eval-freq", type=int, default=2000, help="policy steps between evaluations")
    run.add_argument("--eval-episodes", type=int, default=10, help="deterministic episodes per evaluation")
    run.add_argument(
        "--checkpoint-freq", type=int, default=None, help="policy steps between checkpoints (default: --eval-freq)"
    )
    run.add_argument("--output", default="runs/grid")
    run.add_argument(
        "--address", default=None, help="Ray address of a running cluster (auto, ray://host:port); default: a local Ray"
    )
    run.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    run.add_argument("--cpus-per-cell", type=float, default=1)
    run.add_argument("--gpus-per-cell", type=float, default=0)
    run.add_argument("--max-retries", type=int, default=3, help="restarts of a cell whose worker died")
    run.add_argument("--keep-checkpoints", action="store_true", help="keep finished cells' checkpoints")

    rep = commands.add_parser("report", help="write results.csv, report.md and plots into a grid's output folder")
    rep.add_argument("output")
    rep.add_argument(
        "--budgets", nargs="+", type=int, default=None, help="policy steps to tabulate (default: the cells' budgets)"
    )
    rep.add_argument(
        "--normalize", type=_literal, default=None, help="score ranges per env, {env: [low, high]}, for aggregates over tasks"
    )
    rep.add_argument(
        "--gates",
        type=_literal,
        default=None,
        help="the least return asked for per env, {env: gate}: a table of the mean at the budget and of each seed's "
        "lowest evaluation from half the budget to the budget",
    )
    rep.add_argument("--reps", type=int, default=2000, help="bootstrap replicates")
    rep.add_argument("--ci", type=float, default=0.95, help="coverage of the confidence intervals")
    rep.add_argument("--no-plots", action="store_true")

    evaluate = commands.add_parser(
        "evaluate",
        help="play each finished cell's last evaluation again with its final model and the code installed now "
        "(writes reevaluation.csv)",
    )
    evaluate.add_argument("output")
    evaluate.add_argument("--device", default="cpu")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit status is 1 when a cell failed."""
    from sb3_dreamer.grid import make_grid, report, run_grid

    args = build_parser().parse_args(argv)
    if args.command == "run":
        preset = args.preset[0] if args.preset and len(args.preset) == 1 else args.preset
        cells = make_grid(
            args.algo,
            args.env,
            args.seeds,
            args.steps,
            presets=preset,
            kwargs=args.kwargs,
            policy=args.policy,
            eval_freq=args.eval_freq,
            n_eval_episodes=args.eval_episodes,
            checkpoint_freq=args.checkpoint_freq,
            label=args.label,
        )
        result = run_grid(
            cells,
            args.output,
            cpus_per_cell=args.cpus_per_cell,
            gpus_per_cell=args.gpus_per_cell,
            address=args.address,
            num_cpus=args.num_cpus,
            max_retries=args.max_retries,
            keep_checkpoints=args.keep_checkpoints,
        )
        print(
            f"{len(result.finished)} cells finished, {len(result.skipped)} skipped (already finished), "
            f"{len(result.failed)} failed. Report: python -m sb3_dreamer.grid report {args.output}"
        )
        return 1 if result.failed else 0
    if args.command == "evaluate":
        from sb3_dreamer.grid.evaluate import evaluate_grid, format_reevaluations

        print(format_reevaluations(evaluate_grid(args.output, args.device)))
        return 0
    print(
        report(
            args.output, args.budgets, args.normalize, reps=args.reps, size=args.ci, plots=not args.no_plots, gates=args.gates
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
