"""Experiment grids (sb3_dreamer.grid): cells, the report's statistics, the Monitor that survives a checkpoint,
and, on a local Ray with 2 CPUs, a grid that runs, reports, skips when run again, reports a bad env id on its
own, and resumes a cell whose worker was killed from its checkpoint."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import zipfile

import cloudpickle
import gymnasium as gym
import numpy as np
import pytest

from sb3_dreamer.common.checkpoints import checkpoints
from sb3_dreamer.grid import Cell, algorithms, load_results, make_grid, report, run_grid
from sb3_dreamer.grid.__main__ import main
from sb3_dreamer.grid.evaluate import evaluate_cell
from sb3_dreamer.grid.report import CellResult, _fmt, budget_table, gate_table, interval_estimates, plot_profiles
from sb3_dreamer.grid.train import ResumableMonitor, _seconds_before, attempts, make_env, make_eval_env, train_cell

TINY_EVAL = dict(eval_freq=100, n_eval_episodes=2)


# ------------------------------------------------------------------------------------------ without Ray


def test_cells_and_grid():
    assert {"dreamer", "dreamerv2", "plan2explore"} <= set(algorithms())
    cells = make_grid(["dreamer", "dreamerv2"], ["Pendulum-v1", "CartPole-v1"], [0, 1, 2], 500, ["SMALL_VECTOR", "TINY"])
    assert len(cells) == 12
    assert {(cell.algo, cell.preset) for cell in cells} == {("dreamer", "SMALL_VECTOR"), ("dreamerv2", "TINY")}
    cell = Cell("dreamer", "DMC/walker-walk-proprio-v0", 3, 100, preset="TINY", kwargs={"policy_kwargs": {"hidden_size": 8}})
    assert cell.folder("out") == os.path.join("out", "dreamer", "DMC-walker-walk-proprio-v0_3")
    kwargs = cell.model_kwargs()
    assert kwargs["policy_kwargs"]["hidden_size"] == 8 and kwargs["policy_kwargs"]["deterministic_size"] == 16
    assert Cell.from_dict(json.loads(json.dumps(cell.to_dict()))) == cell
    with pytest.raises(ValueError, match="Unknown algorithm"):
        make_grid(["sac"], ["Pendulum-v1"], [0], 100)
    with pytest.raises(ValueError, match="Unknown preset"):
        make_grid(["dreamer"], ["Pendulum-v1"], [0], 100, "NO_SUCH_PRESET")
    with pytest.raises(ValueError, match="one per algorithm"):
        make_grid(["dreamer", "dreamerv2"], ["Pendulum-v1"], [0], 100, ["TINY"])


def _write_cell(output: str, algo: str, env: str, seed: int, returns: np.ndarray, step: int = 200) -> None:
    """A finished cell as the grid writes it (no training): ``returns`` is ``(evaluations, episodes)``, evaluated
    every ``step`` policy steps."""
    timesteps = step * np.arange(1, len(returns) + 1)
    cell = Cell(algo, env, seed, int(timesteps[-1]), eval_freq=step)
    folder = cell.folder(output)
    os.makedirs(folder)
    np.savez(os.path.join(folder, "evaluations"), timesteps=timesteps, results=returns, ep_lengths=np.ones(returns.shape))
    for name, data in (("cell.json", cell.to_dict()), ("done.json", {"minutes": 1.0})):
        with open(os.path.join(folder, name), "w") as file:
            json.dump(data, file)


def _table_rows(lines: list[str]) -> dict[str, list[tuple[float, float, float]]]:
    """``{"algo/env": [(point, low, high) for mean, median and IQM]}`` of a report's table lines."""
    rows = {}
    for line in lines:
        if line.startswith("| ") and "[" in line:
            cells = [cell.strip() for cell in line.split("|")[1:-1]]
            if cells[2].isdigit():  # not the header
                rows[f"{cells[0]}/{cells[1]}"] = [
                    tuple(float(x) for x in cell.translate(str.maketrans("[],", "   ")).split()) for cell in cells[3:]
                ]
    return rows


def test_statistics_are_rliables(tmp_path):
    """The report's numbers are rliable's: its metrics on the score matrix, and its stratified-bootstrap intervals
    seeded by the report's seed."""
    metrics, library = pytest.importorskip("rliable.metrics"), pytest.importorskip("rliable.library")
    output = str(tmp_path)
    known = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 100.0])  # IQM: mean of the middle 4 = 0.75; mean 13.25
    for seed, value in enumerate(known):
        _write_cell(output, "dreamer", "Pendulum-v1", seed, np.full((1, 2), value))
    results = load_results(output)
    row = _table_rows(budget_table(results, 200, reps=100))["dreamer/Pendulum-v1"]
    (mean, *_), (median, *_), (iqm, low, high) = row
    assert (mean, median, iqm) == (13.2, 13.2, 0.75)
    scores = known.reshape(-1, 1)
    assert metrics.aggregate_iqm(scores) == 0.75 and metrics.aggregate_mean(scores) == 13.25
    np.random.seed(0)  # rliable resamples with NumPy's global generator
    _, direct = library.get_interval_estimates({"a": scores}, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=100)
    assert (low, high) == tuple(float(_fmt(bound[0])) for bound in direct["a"])  # as the table rounds
    assert low <= iqm <= high

    # the adapter: rliable's point estimates and intervals, reproducible, NumPy's global generator left as it was
    rng = np.random.default_rng(0)
    few, many = rng.normal(size=(5, 2)), rng.normal(size=(100, 2))
    iqm_of = lambda x: np.array([metrics.aggregate_iqm(x)])  # noqa: E731
    state = np.random.get_state()[1].copy()
    point, interval = interval_estimates(few, iqm_of, reps=200, size=0.95, seed=3)
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    np.random.seed(3)
    direct_points, direct_intervals = library.get_interval_estimates({"a": few}, iqm_of, reps=200)
    np.testing.assert_array_equal(point, direct_points["a"])
    np.testing.assert_array_equal(interval, direct_intervals["a"])
    np.testing.assert_array_equal(interval_estimates(few, iqm_of, 200, 0.95, 3)[1], interval)
    assert interval[0, 0] <= point[0] <= interval[1, 0]
    assert np.ptp(interval_estimates(many, iqm_of, 200, 0.95, 3)[1]) < np.ptp(interval)  # more seeds, narrower
    assert np.ptp(interval_estimates(np.full((4, 2), 3.0), iqm_of, 50, 0.95, 0)[1]) == 0
    # stratified over runs: each task's runs are resampled within that task
    run = rng.normal(size=(8, 1))
    _, (lows, highs) = interval_estimates(np.hstack([run, run + 100]), lambda x: x.mean(axis=0), 200, 0.95, 0)
    assert run.min() <= lows[0] <= highs[0] <= run.max() and run.min() + 100 <= lows[1] <= highs[1] <= run.max() + 100

    # performance profiles: rliable's, written as a PNG
    plot_profiles(results, 200, str(tmp_path / "profile.png"), "Pendulum-v1", reps=50)
    assert os.path.getsize(tmp_path / "profile.png") > 0
    profiles, _ = library.create_performance_profile({"a": scores}, [-1.0, 0.5, 200.0], reps=20)
    np.testing.assert_array_equal(profiles["a"], [1.0, 0.5, 0.0])


def test_gate_table_checks_the_mean_and_every_seed_from_half_the_budget(tmp_path, capsys):
    """Issue-style gates: the mean at the budget reaches the gate, and no evaluation of any seed from half the
    budget on (steps 400-800 here) falls below it; evaluations before half the budget do not count."""
    output = str(tmp_path)
    curves = {  # evaluations at 200, 400, 600, 800 policy steps
        "steady": [[10, 500, 480, 500], [0, 460, 500, 490], [20, 450, 500, 500]],
        "swings": [[10, 500, 480, 500], [0, 500, 300, 500], [20, 500, 500, 500]],
        "low": [[10, 450, 450, 450], [0, 450, 450, 450], [20, 450, 450, 420]],
        "late": [[10, 500, 500, 100], [0, 500, 500, 500], [20, 500, 500, 500]],
    }
    for algo, seeds in curves.items():
        for seed, returns in enumerate(seeds):
            _write_cell(output, algo, "CartPole-v1", seed, np.repeat(np.array(returns, float)[:, None], 2, axis=1))
    _write_cell(output, "steady", "Pendulum-v1", 0, np.full((4, 2), -100.0))  # no gate given: no row
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]]
        for line in gate_table(load_results(output), {"CartPole-v1": 450})[2:]
    }
    assert set(rows) == {"steady", "swings", "low", "late"}
    assert rows["steady"][3:] == ["800", "496.7", "450.0", "480.0 / 460.0 / 450.0", "none", "met"]
    assert rows["swings"][6:] == ["480.0 / 300.0 / 500.0", "seed 1", "missed (stability)"]
    assert rows["low"][4] == "440.0" and rows["low"][7:] == ["seed 2", "missed (mean, stability)"]
    assert rows["late"][7:] == ["seed 0", "missed (mean, stability)"]
    # at a budget of 600 the window is 300-600: seed 0's fall at 800 comes after it
    at_600 = {line.split("|")[1].strip(): line for line in gate_table(load_results(output), {"CartPole-v1": 450}, 600)}
    assert at_600["late"].endswith("| 500.0 / 500.0 / 500.0 | none | met |")
    assert at_600["swings"].endswith("| 480.0 / 300.0 / 500.0 | seed 1 | missed (mean, stability) |")
    assert main(["report", output, "--no-plots", "--gates", '{"CartPole-v1": 450}']) == 0
    text = capsys.readouterr().out
    assert "## Gates" in text and "| swings | CartPole-v1 | 3 | 800 | 500.0 | 450.0 |" in text


def test_scores_at_budgets():
    steps, returns = np.array([100, 200, 300]), np.array([-3.0, -2.0, -1.0])
    done = CellResult("dreamer", "Pendulum-v1", 0, "f", steps, returns, budget=300, status="done")
    assert [done.score_at(b) for b in (50, 100, 250, 300)][1:] == [-3.0, -2.0, -1.0] and np.isnan(done.score_at(50))
    assert np.isnan(done.score_at(400))  # beyond the cell's budget
    running = dataclasses.replace(done, steps=steps[:2], returns=returns[:2], status="unfinished")
    assert running.score_at(200) == -2.0 and np.isnan(running.score_at(300))  # not evaluated there yet


def test_report_normalized_over_tasks(tmp_path):
    """Two algorithms x two tasks x three seeds written as the grid writes them (no training), plus a folder
    as the RL Zoo writes it: per-task rows, a normalised aggregate per algorithm, its plots."""
    output = str(tmp_path)
    rng = np.random.default_rng(0)
    scales = {"Pendulum-v1": (-1500.0, 0.0), "CartPole-v1": (20.0, 500.0)}
    normalized = np.zeros((3, 2))  # dreamer's (runs, tasks) normalised scores at 400 steps, tasks sorted
    for algo, skill in (("dreamer", 0.9), ("dreamerv2", 0.5)):
        for env, (low, high) in scales.items():
            for seed in range(3):
                returns = low + (high - low) * np.clip(skill + 0.05 * rng.normal(size=(2, 4)), 0, 1)
                _write_cell(output, algo, env, seed, returns)
                if algo == "dreamer":
                    normalized[seed, sorted(scales).index(env)] = (returns[-1].mean() - low) / (high - low)
    zoo_folder = os.path.join(output, "sac", "Pendulum-v1_1")
    os.makedirs(zoo_folder)
    np.savez(os.path.join(zoo_folder, "evaluations"), timesteps=[200], results=[[-300.0, -310.0]], ep_lengths=[[200, 200]])
    text = report(output, normalize=scales, reps=200)
    rows = _table_rows(text.split("### 400 policy steps")[1].splitlines())
    assert set(rows) >= {"dreamer/Pendulum-v1", "dreamer/CartPole-v1", "dreamer/all tasks (normalized)"}
    assert "sac/Pendulum-v1" in _table_rows(text.splitlines())
    assert "| dreamer | all tasks (normalized) | 6 |" in text  # 3 seeds x 2 tasks
    metrics = pytest.importorskip("rliable.metrics")
    for index, func in enumerate((metrics.aggregate_mean, metrics.aggregate_median, metrics.aggregate_iqm)):
        point, low, high = rows["dreamer/all tasks (normalized)"][index]
        assert point == float(_fmt(func(normalized))) and low <= point <= high
    assert 0.8 < rows["dreamer/all tasks (normalized)"][2][0] < 1.0 and rows["dreamerv2/all tasks (normalized)"][2][0] < 0.6
    for name in ("curves_normalized.png", "profile_normalized.png", "curves_CartPole-v1.png"):
        assert os.path.getsize(os.path.join(output, name)) > 0
    zoo = next(result for result in load_results(output) if result.algo == "sac")
    assert (zoo.env, zoo.seed, zoo.budget, zoo.status) == ("Pendulum-v1", 1, 200, "unfinished")


def test_resumable_monitor_survives_a_checkpoint(tmp_path):
    def episode(env: gym.Env) -> None:
        env.reset(seed=0)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            done = terminated or truncated

    monitor = ResumableMonitor(gym.make("CartPole-v1"), filename=str(tmp_path / "0"))
    episode(monitor)
    episode(monitor)
    pickled = cloudpickle.dumps(monitor)  # what a checkpoint holds
    episode(monitor)  # logged after the checkpoint, then the process dies
    monitor.close()
    rows = (tmp_path / "0.monitor.csv").read_text().splitlines()
    assert len(rows) == 2 + 3  # header lines, 3 episodes
    resumed = pickle.loads(pickled)
    episode(resumed)
    resumed.close()
    after = (tmp_path / "0.monitor.csv").read_text().splitlines()
    assert after[:4] == rows[:4] and len(after) == 2 + 3  # the episode after the checkpoint was cut, then replayed
    appended = ResumableMonitor(gym.make("CartPole-v1"), filename=str(tmp_path / "0"), append=True)  # resumed anew
    episode(appended)
    appended.close()
    assert (tmp_path / "0.monitor.csv").read_text().splitlines()[:5] == after and len(
        (tmp_path / "0.monitor.csv").read_text().splitlines()
    ) == 2 + 4


def test_training_seconds_before_a_checkpoint(tmp_path):
    """The seconds a resumed attempt starts with: its checkpoint's writer's, plus that writer's time up to the
    checkpoint's last file; not the time after it, nor between attempts."""
    checkpoint = tmp_path / "checkpoint_000000000200"
    checkpoint.mkdir()
    (checkpoint / "a").write_text("")
    (checkpoint / "b").write_text("")
    runs = [dict(start_step=0, time=100.0), dict(start_step=200, time=300.0, seconds_before=40.0)]
    for written_at, expected in ((350.0, 40.0 + 50.0), (250.0, 150.0)):
        os.utime(checkpoint / "a", (written_at - 5, written_at - 5))
        os.utime(checkpoint / "b", (written_at, written_at))
        assert _seconds_before(runs, str(checkpoint)) == pytest.approx(expected)
    for name in "ab":
        os.utime(checkpoint / name, (50.0, 50.0))
    assert math.isnan(_seconds_before(runs, str(checkpoint)))  # older than every attempt
    os.utime(checkpoint / "b", (350.0, 350.0))
    assert math.isnan(_seconds_before([dict(start_step=200, time=300.0)], str(checkpoint)))  # writer's count unknown


def test_eval_env_wrapped_as_the_training_env():
    """The evaluation env of a pixel cell is wrapped as the training env is (channel-first images), so SB3's
    EvalCallback does not warn that the two differ; vector envs stay as they are."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecTransposeImage

    from sb3_dreamer import Dreamer

    for env_id, wrapper in (("DMC/cartpole-balance-pixels-v0", VecTransposeImage), ("Pendulum-v1", DummyVecEnv)):
        eval_env, train_env = make_eval_env(Dreamer, env_id), Dreamer._wrap_env(make_env(env_id))
        assert type(eval_env) is type(train_env) is wrapper
        assert eval_env.observation_space == train_env.observation_space
        eval_env.close()
        train_env.close()


def test_cell_interrupted_after_its_budget(tmp_path):
    """Without Ray: a cell stopped after its last checkpoint but before its last evaluation and done.json
    resumes, trains nothing more, evaluates once and finishes; a finished cell returns at once; a folder
    refuses a different cell."""
    cell = Cell("dreamer", "Pendulum-v1", 0, 300, preset="TINY", eval_freq=200, n_eval_episodes=1)
    folder = str(tmp_path / "cell")
    first = train_cell(cell, folder, keep_checkpoints=True)
    assert first["num_timesteps"] == 300 and [a["start_step"] for a in first["attempts"]] == [0]
    os.remove(os.path.join(folder, "done.json"))
    with np.load(os.path.join(folder, "evaluations.npz")) as data:
        kept = {key: data[key][:1] for key in ("timesteps", "results", "ep_lengths")}
    np.savez(os.path.join(folder, "evaluations"), **kept)  # the evaluation at 300 never happened
    second = train_cell(cell, folder)
    assert [a["start_step"] for a in second["attempts"]] == [0, 300] and second["num_timesteps"] == 300
    assert 0 < second["attempts"][1]["seconds_before"] <= first["minutes"] * 60
    assert second["final_return"] == pytest.approx(first["final_return"])
    with np.load(os.path.join(folder, "evaluations.npz")) as data:
        np.testing.assert_array_equal(data["timesteps"], [200, 300])
    assert not os.path.exists(os.path.join(folder, "checkpoints"))
    assert train_cell(cell, folder) == second and len(attempts(folder)) == 2
    with pytest.raises(ValueError, match="holds another cell"):
        os.remove(os.path.join(folder, "done.json"))
        train_cell(dataclasses.replace(cell, preset="SMALL_VECTOR"), folder)


def test_evaluate_replays_the_last_evaluation(tmp_path, capsys):
    """``grid evaluate`` plays a finished cell's last evaluation again on the same seeded episodes: a cell that
    never trained (learning_starts beyond its budget) reproduces its recorded return exactly."""
    cell = Cell("dreamerv2", "CartPole-v1", 1, 200, preset="TINY", kwargs={"learning_starts": 10_000}, eval_freq=200)
    output = str(tmp_path / "grid")
    train_cell(cell, cell.folder(output))
    assert main(["evaluate", output]) == 0
    assert "| dreamerv2 | CartPole-v1 | 1 | 200 |" in capsys.readouterr().out
    with open(os.path.join(output, "reevaluation.csv")) as file:
        (row,) = list(csv.DictReader(file))
    with np.load(os.path.join(cell.folder(output), "evaluations.npz")) as data:
        recorded = data["results"][-1]
    assert float(row["recorded_return"]) == float(row["return_now"]) == pytest.approx(recorded.mean())
    assert [float(value) for value in row["episode_returns"].split()] == list(recorded)
    with pytest.raises(FileNotFoundError, match="not a grid cell"):
        evaluate_cell(str(tmp_path))


def test_imports_stay_lazy(monkeypatch, tmp_path):
    code = (
        "import sys, sb3_dreamer, sb3_dreamer.grid; "
        "loaded = [m for m in ('ray', 'rliable', 'arch', 'pandas') if m in sys.modules]; assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ImportError, match=r"sb3-dreamer\[grid\]"):
        run_grid([Cell("dreamer", "Pendulum-v1", 0, 100)], str(tmp_path), progress=False)
    for module in ("rliable", "rliable.metrics", "rliable.library", "rliable.plot_utils"):  # nor rliable
        monkeypatch.setitem(sys.modules, module, None)
    cell = CellResult("dreamer", "Pendulum-v1", 0, "f", np.array([100]), np.array([-3.0]), budget=100, status="done")
    with pytest.raises(ImportError, match=r"sb3-dreamer\[grid\]"):
        budget_table([cell], 100)


# ------------------------------------------------------------------------------------------ on Ray


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _zip_timesteps(path: str) -> int:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("data"))["num_timesteps"]


def test_grid_runs_reports_and_skips(local_ray, tmp_path, capsys):
    output = str(tmp_path / "grid")
    good = make_grid(["dreamer", "dreamerv2"], ["Pendulum-v1"], [0, 1], 300, "TINY", **TINY_EVAL)
    bad = Cell("dreamer", "NoSuchEnv-v0", 0, 300, preset="TINY", **TINY_EVAL)
    result = run_grid([*good, bad], output)
    assert len(result.finished) == 4 and not result.skipped
    assert [cell["env"] for cell in result.failed] == ["NoSuchEnv-v0"] and "NoSuchEnv" in result.failed[0]["error"]
    lines = capsys.readouterr()
    assert (
        lines.err.count("done   ") + lines.out.count("done   ") == 4 and "FAILED dreamer NoSuchEnv-v0" in lines.err + lines.out
    )
    bad_folder = bad.folder(output)
    assert "NameNotFound" in open(os.path.join(bad_folder, "error.txt")).read()
    assert len(attempts(bad_folder)) == 1  # its own exception: not retried
    for cell in good:  # the RL Zoo's layout
        folder = cell.folder(output)
        with np.load(os.path.join(folder, "evaluations.npz")) as evaluations:
            np.testing.assert_array_equal(evaluations["timesteps"], [100, 200, 300])
            assert evaluations["results"].shape == evaluations["ep_lengths"].shape == (3, 2)
        assert len(open(os.path.join(folder, "0.monitor.csv")).read().splitlines()) == 2 + 1  # one 200-step episode
        assert _zip_timesteps(os.path.join(folder, "Pendulum-v1.zip")) >= 300
        assert os.listdir(os.path.join(folder, "tensorboard"))
        assert not os.path.exists(os.path.join(folder, "checkpoints"))

    # report: one CSV row per evaluation, the per-budget table, one row per cell, the failure, plots
    text = report(output, reps=200)
    with open(os.path.join(output, "results.csv")) as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["algo", "env", "seed", "step", "return"] and len(rows) == 4 * 3
    assert {(row["algo"], row["seed"]) for row in rows} == {
        ("dreamer", "0"),
        ("dreamer", "1"),
        ("dreamerv2", "0"),
        ("dreamerv2", "1"),
    }
    budget = text.split("### 300 policy steps")[1].split("##")[0]
    assert [line.split("|")[1:4] for line in budget.splitlines() if line.startswith("| dreamer")] == [
        [" dreamer ", " Pendulum-v1 ", " 2 "],
        [" dreamerv2 ", " Pendulum-v1 ", " 2 "],
    ]
    cells = text.split("## Cells")[1].split("##")[0]
    assert sum(line.endswith("| done |") for line in cells.splitlines()) == 4
    assert "NameNotFound" in text.split("## Failed cells")[1]
    for name in ("curves_Pendulum-v1.png", "profile_Pendulum-v1.png", "report.md"):
        assert os.path.getsize(os.path.join(output, name)) > 0
    assert {result.status for result in load_results(output)} == {"done", "failed"}
    assert main(["report", output, "--reps", "50", "--no-plots"]) == 0
    assert "| dreamerv2 | Pendulum-v1 | 2 |" in capsys.readouterr().out

    # running the finished grid again trains nothing
    before = {cell.folder(output): attempts(cell.folder(output)) for cell in good}
    again = run_grid(good, output)
    assert not again.finished and not again.failed and len(again.skipped) == 4
    assert {cell.folder(output): attempts(cell.folder(output)) for cell in good} == before

    # the RL Zoo's plotting script reads the folder as its own logs
    pytest.importorskip("rl_zoo3")
    zoo = tmp_path / "zoo"
    command = ["-m", "rl_zoo3.plots.all_plots", "-a", "dreamer", "dreamerv2", "-e", "Pendulum-v1", "-f", output]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    subprocess.run([sys.executable, *command, "--no-display", "-o", str(zoo)], check=True, timeout=300, env=env)
    with open(f"{zoo}.pkl", "rb") as file:
        curves = pickle.load(file)["Pendulum-v1"]
    np.testing.assert_array_equal(curves[f"DREAMER-{output}"]["timesteps"], [100, 200, 300])
    assert len(curves[f"DREAMERV2-{output}"]["last_evals"]) == 2


def test_killed_worker_resumes_from_checkpoint(local_ray, tmp_path):
    output = str(tmp_path / "grid")
    cell = Cell("dreamer", "Pendulum-v1", 0, 1200, preset="TINY", eval_freq=200, n_eval_episodes=1, checkpoint_freq=200)
    folder = cell.folder(output)
    runs: list = []
    driver = threading.Thread(target=lambda: runs.append(run_grid([cell], output, progress=False)))
    driver.start()
    deadline, checkpoint = time.time() + 120, None
    while checkpoint is None and time.time() < deadline and driver.is_alive():
        done = checkpoints(os.path.join(folder, "checkpoints"))  # complete ones only
        checkpoint = int(os.path.basename(done[0]).rsplit("_", 1)[1]) if done else None
        time.sleep(0.02)
    assert checkpoint, "no checkpoint appeared"
    victim = attempts(folder)[0]["pid"]
    os.kill(victim, signal.SIGKILL)
    driver.join(timeout=300)
    assert not driver.is_alive()
    result = runs[0]
    assert len(result.finished) == 1 and not result.failed
    first, second = attempts(folder)
    assert first["start_step"] == 0 and second["pid"] != victim
    assert second["start_step"] >= checkpoint > 0  # resumed from its checkpoint, not restarted
    assert result.finished[0]["num_timesteps"] >= 1200
    # training time: the killed attempt's seconds up to its checkpoint, then the second attempt's
    assert 0 < second["seconds_before"] <= second["time"] - first["time"]
    assert second["seconds_before"] / 60 < result.finished[0]["minutes"] <= result.finished[0]["wall_minutes"]
    assert _zip_timesteps(os.path.join(folder, "Pendulum-v1.zip")) >= 1200
    with np.load(os.path.join(folder, "evaluations.npz")) as evaluations:  # the whole run, each evaluation once
        np.testing.assert_array_equal(evaluations["timesteps"], [200, 400, 600, 800, 1000, 1200])
    episodes = open(os.path.join(folder, "0.monitor.csv")).read().splitlines()[2:]
    assert len(episodes) == 1200 // 200  # the episodes after the checkpoint were replayed, not logged twice
