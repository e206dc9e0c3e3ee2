"""``python -m sb3_dreamer.zoo SCRIPT [ZOO ARGUMENTS]``: the RL Baselines3 Zoo's command line with our algorithms.

SCRIPT is one of the Zoo's ``train``, ``enjoy``, ``record_video``, ``plot_train``, ``plot_from_file`` or
``all_plots``; the arguments are the Zoo's own, unchanged. For ``train`` with one of our algorithms and no
``--conf-file``, our hyperparameter file for that algorithm is used.

    python -m sb3_dreamer.zoo train --algo dreamer --env Pendulum-v1
    python -m sb3_dreamer.zoo train --algo dreamer --env Pendulum-v1 -optimize --n-trials 20
    python -m sb3_dreamer.zoo enjoy --algo dreamer --env Pendulum-v1 -f logs/
    python -m sb3_dreamer.zoo record_video --algo dreamer --env Pendulum-v1 -f logs/ -n 500
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import runpy
import sys

SCRIPTS = ("train", "enjoy", "record_video", "plot_train", "plot_from_file", "all_plots")


def _algo(args: list[str]) -> str | None:
    for i, arg in enumerate(args):
        if arg == "--algo" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--algo="):
            return arg.split("=", 1)[1]
    return None


def main(argv: list[str] | None = None) -> None:
    """Register our algorithms with the Zoo, then run the Zoo script named by the first argument."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in SCRIPTS:
        sys.exit(f"usage: python -m sb3_dreamer.zoo {{{','.join(SCRIPTS)}}} [RL Zoo arguments]\n{__doc__}")
    try:
        from sb3_dreamer.zoo import ALGOS, hyperparams_file
    except ImportError as error:
        sys.exit(str(error))

    script, zoo_args = args[0], args[1:]
    algo = _algo(zoo_args)
    if script == "train" and algo in ALGOS and not {"-conf", "--conf-file"} & set(zoo_args):
        zoo_args += ["--conf-file", str(hyperparams_file(algo))]
    sys.argv = [f"rl_zoo3.{script}", *zoo_args]
    if script == "record_video":  # the Zoo runs this one as a script only
        runpy.run_module("rl_zoo3.record_video", run_name="__main__")
        return
    from rl_zoo3 import cli

    sys.argv.insert(1, script)
    cli.main()


if __name__ == "__main__":
    main()
