"""benchmarks/speed.py: the machine's description, its matmul and convolution rates, the FLOPs of an update and
its floor, and ``--quick`` (the whole pipeline at tiny sizes, without sheeprl) ending in the summary block."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch as th

from sb3_dreamer.dreamer_v3.policies import SIZES

ROOT = Path(__file__).resolve().parents[1]
SPEED = ROOT / "benchmarks" / "speed.py"


@pytest.fixture(scope="module")
def speed():
    spec = importlib.util.spec_from_file_location("benchmarks_speed", SPEED)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_info(speed):
    info = speed.cpu_info()
    assert info["cpu_capability"] == th.backends.cpu.get_cpu_capability()
    assert info["cpu_model"] and info["torch"] == th.__version__
    assert info["threads"] == th.get_num_threads() and isinstance(info["native_bf16"], bool)
    assert info["cpu_capability"] in speed.describe_machine(info)


def test_rates_and_floor(speed):
    shape = (64, 32, 32)
    for backend in ("mm", "onednn"):
        rate = speed.matmul_gflops(th.float32, shape=shape, budget_s=0.01, repeats=3, backend=backend)
        assert (rate is None and backend == "onednn") or rate > 0
    assert speed.conv_gflops(th.float32, shape=dict(batch=2), budget_s=0.01, repeats=2) > 0
    rates = {"matmul": {"32": 100.0, "bf16": 400.0}, "conv": {"32": 50.0, "bf16": 200.0}}
    flops = {"total": 3 * 10**9, "by_op": {"aten.mm": 10**9, "aten.convolution": 10**9, "aten.convolution_backward": 10**9}}
    assert speed.floor_seconds(flops, rates, "32") == pytest.approx(1 / 100 + 2 / 50)
    assert speed.floor_seconds(flops, rates, "bf16-mixed") == pytest.approx(1 / 400 + 2 / 200)


def test_update_flops_forward_and_backward(speed):
    """A linear layer's update: forward 2 B I O, backward twice that (input and weight gradients)."""

    class Model:
        batch_size = 8

        def __init__(self):
            self.layer = th.nn.Linear(16, 4)

        def train(self, gradient_steps, batch_size):
            x = th.randn(batch_size, 16, requires_grad=True)
            self.layer(x).sum().backward()

    flops = speed.update_flops(Model())
    assert flops["total"] == 3 * 2 * 8 * 16 * 4 == sum(flops["by_op"].values())


def test_quick_summary(tmp_path):
    """``--quick`` from proprioception (float32 and bf16-mixed at tiny sizes; pixels take longer): the summary
    block is the last lines and has the machine, the rates, the update against its floor, sheeprl "not run",
    collection with 1 and 8 envs and peak memory."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    command = [sys.executable, str(SPEED), "--quick", "--obs", "proprio", "--save", str(tmp_path / "speed.jsonl")]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    block = result.stdout.split("## Summary", 1)[1]
    capability = th.backends.cpu.get_cpu_capability()
    assert f"CPU capability {capability}" in block and block.rstrip().splitlines()[-1].startswith("CPU capability:")
    assert re.search(r"matmul rate, 2500x400 @ 400x400, float32: \d+\.\d GFLOP/s", block)
    assert re.search(r"matmul rate, 2500x400 @ 400x400, bf16: \d+\.\d GFLOP/s", block)
    assert re.search(r"matmul float32 \d+\.\d GFLOP/s, bf16 \d+\.\d GFLOP/s \(bf16 / float32 \d+\.\d\d\)", block)
    assert re.search(
        r"\[proprio\] ours, fp32: .* GFLOP, floor .* s: \d+\.\d\dx floor \| sheeprl \(float32 both\): not run", block
    )
    assert re.search(r"\[proprio\] ours, bf16-mixed: .*x floor \| sheeprl \(bf16-mixed both\): not run", block)
    assert re.search(r"\[proprio\] ours, fp32: \d\.\d{3} \(1 env\), \d+\.\d{3} \(8 envs\)", block)
    assert re.search(r"\[proprio\] ours, fp32 \d+; ours, bf16-mixed \d+; sheeprl DreamerV1 not run", block)
    assert len(open(tmp_path / "speed.jsonl").readlines()) == 2


def test_summary_against_sheeprl(speed):
    """With sheeprl's float32 and bf16-mixed runs: each of ours against its floor and against sheeprl's run in
    the same precision, sheeprl's against the floor of our FLOP count; collection and memory beside sheeprl's."""
    info = {"cpu_model": "Test CPU", "cpu_capability": "AVX512", "native_bf16": True, "torch": "2", "threads": 1,
            "logical_cpus": 2}  # fmt: skip
    rates = {
        "matmul": {"32": 100.0, "bf16": 200.0},
        "matmul_by_backend": {"mm": {"32": 100.0, "bf16": 200.0}},
        "conv": {"32": 100.0, "bf16": 200.0},
    }
    flops = {"total": 10**11, "by_op": {"aten.mm": 10**11}}  # floor: 1 s in float32, 0.5 s in bf16

    def ours(precision, seconds, envs=8):
        return {"precision": precision, "update_flops": flops, "seconds_per_update": seconds, "policy_steps_per_s": 1,
                "random_steps_per_s": 2, "batched_envs": envs, "batched_policy_steps_per_s": 3,
                "batched_random_steps_per_s": 4, "peak_rss_mb_end": 500}  # fmt: skip

    sheeprl = {"seconds_per_update": 4.0, "policy_steps_per_s": 1, "random_steps_per_s": 4, "peak_rss_mb_end": 1000}
    results = {
        ("ours, fp32", "proprio"): ours("32", 2.0),
        ("ours, bf16-mixed", "proprio"): ours("bf16-mixed", 1.0),
        ("sheeprl DreamerV1", "proprio"): sheeprl,
        ("sheeprl DreamerV1, bf16-mixed", "proprio"): {**sheeprl, "seconds_per_update": 2.0},
    }
    variants = {"fp32": [], "bf16-mixed": []}
    block = "\n".join(speed.summary(results, variants, info, rates))
    assert "[proprio] ours, fp32: 2 s / update, 100 GFLOP, floor 1 s: 2.00x floor | sheeprl (float32 both): 4 s, " \
           "4.00x floor; ours / sheeprl 0.500" in block  # fmt: skip
    assert "[proprio] ours, bf16-mixed: 1 s / update, 100 GFLOP, floor 0.5 s: 2.00x floor | sheeprl (bf16-mixed " \
           "both): 2 s, 4.00x floor; ours / sheeprl 0.500 (against sheeprl float32: 0.250)" in block  # fmt: skip
    assert "[proprio] ours, fp32: 0.500 (1 env), 0.750 (8 envs)" in block
    assert "[proprio] sheeprl DreamerV1: 0.250 (1 env)" in block
    assert "[proprio] ours, fp32 500 (0.500 of sheeprl float32); ours, bf16-mixed 500" in block
    assert block.splitlines()[-1] == "CPU capability: AVX512 (Test CPU; native bf16: yes; 1 thread(s))"


def test_summary_on_a_cpu_emulating_bf16(speed):
    """Without native bf16 our bf16-mixed variants are skipped (float32 is what "auto" runs), and the summary says so."""
    info = {"cpu_model": "Test CPU", "cpu_capability": "AVX2", "native_bf16": False, "torch": "2", "threads": 1,
            "logical_cpus": 2}  # fmt: skip
    rates = {"matmul": {"32": 100.0, "bf16": 3.0}, "matmul_by_backend": {}, "conv": {"32": 100.0, "bf16": 3.0}}
    result = {"precision": "32", "update_flops": {"total": 10**11, "by_op": {"aten.mm": 10**11}},
              "seconds_per_update": 2.0, "policy_steps_per_s": 1, "random_steps_per_s": 2, "peak_rss_mb_end": 500}  # fmt: skip
    variants = {"fp32": [], "bf16-mixed": ["--precision", "bf16-mixed"]}
    args = speed.argparse.Namespace(device="cpu", emulated_bf16=False, quick=False)
    assert speed.emulated_bf16(variants["bf16-mixed"], info, args) and not speed.emulated_bf16([], info, args)
    assert not speed.emulated_bf16(variants["bf16-mixed"], {**info, "native_bf16": True}, args)
    forced = speed.argparse.Namespace(**{**vars(args), "emulated_bf16": True})
    assert not speed.emulated_bf16(variants["bf16-mixed"], info, forced)
    block = speed.summary({("ours, fp32", "proprio"): result}, variants, info, rates)
    assert f"[proprio] ours, bf16-mixed: {speed.EMULATED}" in block
    assert "  [proprio] ours, bf16-mixed: not run" in block and block[-1].startswith("CPU capability: AVX2")


def test_reconstruct_draws_truth_above_reconstruction(tmp_path):
    """benchmarks/reconstruct.py on a saved pixel model: a picture of two rows of frames, and the error printed."""
    from sb3_dreamer import TINY, Dreamer

    Dreamer("CnnPolicy", "DMC/cartpole-balance-pixels-v0", seed=0, **TINY).save(tmp_path / "model")
    picture = tmp_path / "picture.png"
    command = [sys.executable, str(ROOT / "benchmarks" / "reconstruct.py"), str(tmp_path / "model.zip"), "--steps", "12"]
    command += ["--every", "4", "--scale", "1", "--output", str(picture)]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True)
    assert "summed squared error per frame" in result.stdout
    from PIL import Image

    assert Image.open(picture).size == (3 * 64, 2 * 64)  # frames 0, 4 and 8 side by side; truth above reconstruction


def test_cartpole_states_reads_the_simulator(tmp_path):
    """benchmarks/cartpole_states.py: one deterministic episode's pole and cart summary, from the physics."""
    import importlib.util

    from sb3_dreamer import TINY, Dreamer

    spec = importlib.util.spec_from_file_location("cartpole_states", ROOT / "benchmarks" / "cartpole_states.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = Dreamer("MlpPolicy", "DMC/cartpole-balance-proprio-v0", seed=0, **TINY)
    states = module.episode_states(model, "DMC/cartpole-balance-proprio-v0", seed=3)
    again = module.episode_states(model, "DMC/cartpole-balance-proprio-v0", seed=3)
    assert states == again  # deterministic acting on a seeded env
    assert 0 < states["episode_return"] <= 1000 and 0 <= states["large_actions"] <= 1
    assert -1 <= states["mean_cosine"] <= 1 and states["turns"] >= 0 and states["mean_angular_speed"] >= 0


def test_cartpole_states_reads_cartpole_v1_and_the_model(tmp_path):
    """benchmarks/cartpole_states.py on Gymnasium's CartPole-v1: one deterministic episode's cart and pole summary from
    the observations, with the actor's probabilities and the critic's values of the posterior states."""
    import importlib.util

    from sb3_dreamer import TINY, Dreamer

    spec = importlib.util.spec_from_file_location("cartpole_states", ROOT / "benchmarks" / "cartpole_states.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = Dreamer("MlpPolicy", "CartPole-v1", seed=0, **TINY)
    states = module.classic_episode_states(model, "CartPole-v1", seed=3)
    assert states == module.classic_episode_states(model, "CartPole-v1", seed=3)  # deterministic acting, seeded env
    assert 1 <= states["length"] <= 500 and 0.5 <= states["likelier"] <= 1
    assert states["max_x"] >= abs(states["final_x"]) and states["max_angle"] >= 0
    assert math.isfinite(states["first_values"]) and math.isfinite(states["last_values"])


def test_pendulum_states_reads_the_world_model_and_the_controller_balances():
    """benchmarks/pendulum_states.py: one deterministic Pendulum-v1 episode's summary (turns, upright steps, reward
    model error, critic values, open-loop and imagined rewards from step 100), by the actor or a hand-written
    controller fed through the same world model; the controller swings up and balances on its own."""
    import importlib.util

    import gymnasium as gym

    from sb3_dreamer import TINY, Dreamer

    spec = importlib.util.spec_from_file_location("pendulum_states", ROOT / "benchmarks" / "pendulum_states.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = Dreamer("MlpPolicy", "Pendulum-v1", seed=0, **TINY)
    states = module.episode_states(model, seed=3)
    again = module.episode_states(model, seed=3)
    assert states.keys() == again.keys()  # deterministic acting on a seeded env, imagination seeded too
    assert all(states[k] == again[k] or (math.isnan(states[k]) and math.isnan(again[k])) for k in states)
    assert -16.3 * 200 <= states["episode_return"] <= 0 and 0 <= states["upright_steps"] <= 200
    assert states["turns"] >= 0 and states["reward_error"] >= 0
    assert math.isfinite(states["open_loop_rewards"]) and math.isfinite(states["own_end_value"])
    controlled = module.episode_states(model, seed=3, controller=module.balancing_controller)
    env = gym.make("Pendulum-v1")
    for seed in range(20_000, 20_005):
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(module.balancing_controller(obs))
            total, done = total + float(reward), terminated or truncated
        assert total > -400  # a random policy scores about -1200
    assert controlled["upright_steps"] > 100 and controlled["turns"] < 1


def test_latent_probe_fits_plays_and_predicts_ahead():
    """benchmarks/latent_probe.py: the ridge probe recovers a linear map on held-out rows, an episode records the
    belief, the action really taken (random ones included) and the simulator's state, the prior's k-step
    prediction is the recurrent and transition models applied k times, and a branch from a recorded state replays
    the episode unless it pushes."""
    import numpy as np

    from sb3_dreamer import TINY, Dreamer

    spec = importlib.util.spec_from_file_location("latent_probe", ROOT / "benchmarks" / "latent_probe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(0)
    features, weights = rng.normal(size=(400, 6)), rng.normal(size=(6, 2))
    probe = module.fit_probe(features[:300], features[:300] @ weights + 1.5, ridge=1e-6)
    assert np.all(module.r_squared(probe(features[300:]), features[300:] @ weights + 1.5) > 0.999)
    assert np.all(module.r_squared(rng.normal(size=(100, 2)), features[300:] @ weights) < 0.5)  # a poor fit scores low

    model = Dreamer("MlpPolicy", "DMC/cartpole-balance-proprio-v0", seed=0, **TINY)
    episode = module.play(model, "DMC/cartpole-balance-proprio-v0", seed=3, random_share=0.5)
    steps = len(episode["deter"])
    assert steps == 500 and episode["target"].shape == (steps, len(module.TARGETS))
    assert np.allclose(episode["target"][:, 0] ** 2 + episode["target"][:, 1] ** 2, 1, atol=1e-5)  # cos^2 + sin^2
    assert episode["target"][0, 0] > 0.99  # cartpole-balance starts upright
    assert np.abs(episode["action"]).max() <= 1 and episode["action"].std() > 0.1  # random actions recorded as taken

    rssm = model.policy.world_model.rssm
    deter, stoch, actions = (th.as_tensor(episode[key][:10]) for key in ("deter", "stoch", "action"))
    ahead = module.predict_ahead(rssm, deter[:8], stoch[:8], actions, k=2)
    with th.no_grad():
        h, z = deter[:8], stoch[:8]
        for j in range(2):
            h = rssm.recurrent_model(h, z, actions[j : j + 8])
            z = rssm.latent.sample(rssm.transition_model(h), deterministic=True)
    assert th.allclose(ahead[0], h) and th.allclose(ahead[1], z)
    assert module.first(np.array([False, True, True])) == 1 and module.first(np.zeros(3, dtype=bool)) is None

    # a branch without a push replays the deterministic episode from the simulator's state at t; a push changes it
    played = module.play(model, "DMC/cartpole-balance-proprio-v0", seed=4, random_share=0.0)
    env, physics = module.make_env(model, "DMC/cartpole-balance-proprio-v0", seed=99)
    total, up = module.branch(model, env, physics, played, t=20, push=None, steps=30)
    assert up == int((played["target"][21:51, 0] > 0.9).sum())
    pushed_total, pushed_up = module.branch(model, env, physics, played, t=20, push=1.0, steps=30)
    assert pushed_total != total and 0 <= pushed_up <= 30 and 0 < total < 60


def test_critic_climb_bootstraps_towards_the_constant_reward():
    """benchmarks/critic_climb.py: the critic's lambda-return targets start above its values (15 rewards of 1 each
    ahead of an untrained critic) and the values rise towards them. At ten times the paper's learning rate, so that 40
    updates move the printed values (at 3e-5 they stay at 0.00: the rate the script sets is the one it prints)."""
    command = [sys.executable, str(ROOT / "benchmarks" / "critic_climb.py"), "--updates", "40", "--every", "20"]
    command += ["--starts", "16", "--states", "64", "--critic-learning-rate", "3e-4"]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True)
    assert "true value 333" in result.stdout
    rows = re.findall(r"(\d+) updates: mean value +([-\d.]+), mean target +([-\d.]+)", result.stdout)
    assert [int(row[0]) for row in rows] == [20, 40]
    (_, value_20, target_20), (_, value_40, _) = ((int(a), float(b), float(c)) for a, b, c in rows)
    assert target_20 > value_20 + 5 and value_40 > value_20


def test_v3_speed_times_updates_and_acting_per_size_and_precision():
    """benchmarks/v3_speed.py: one JSON line per size and precision, with the precision it resolved to (``"auto"``
    is float32 or bf16-mixed as the machine decides), positive timings, no device memory on a CPU, and the table."""
    command = [sys.executable, str(ROOT / "benchmarks" / "v3_speed.py"), "--device", "cpu", "--tasks", "vectors"]
    command += ["--sizes", "XXS", "--precisions", "32", "auto", "--updates", "1", "--prefill", "200", "--act-steps", "5"]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True)
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [(row["size"], row["precision"]) for row in rows] == [("XXS", "32"), ("XXS", "auto")]
    assert rows[0]["computes_in"] == "32" and rows[1]["computes_in"] in ("32", "bf16-mixed")
    assert all(row["seconds_per_update"] > 0 and row["policy_steps_per_s"] > 0 for row in rows)
    assert all(row["peak_device_mb"] is None and row["device"] == "cpu" for row in rows)
    assert result.stdout.count("| CartPole-v1 | XXS |") == 2


def test_plots_read_every_curve_from_the_docs(tmp_path):
    """benchmarks/plots.py draws the docs' curves from the numbers in docs/benchmarks.md, the DreamerV3 CartPole
    attempts included (one panel per attempt, seed 0's curve in each), DreamerV3's Pendulum, pixel and MinAtar rows, and
    Dreamer's walker-walk from pixels at both train ratios, its six cartpole-balance seeds and the 30-step imagination
    beside them (and at train ratio 64, with a CNN of depth 8 and with batches of 8: the cheaper settings' plot)."""
    spec = importlib.util.spec_from_file_location("benchmarks_plots", ROOT / "benchmarks" / "plots.py")
    plots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plots)
    markdown = (ROOT / "docs" / "benchmarks.md").read_text()
    pendulum, _ = plots.pendulum(markdown)  # Dreamer's SMALL_VECTOR: seeds 0-2, then 3-22 chosen on nothing
    finals = [-134.8, -185.7, -118.4, -173.6, -107.9, -135.4, -120.9, -134.6, -155.5, -175.3, -130.2, -647.6]
    finals += [-188.1, -155.1, -135.1, -121.2, -109.0, -156.1, -188.5, -144.6, -119.3, -152.1, -168.0]
    assert [pendulum[f"seed {k}"][1][-1] for k in range(23)] == finals and pendulum["seed 8"][1][2] == -164.4
    assert len(pendulum) == 23 and pendulum["seed 9"][1][:4] == [-1329.5, -1097.1, -1225.1, -187.3]
    assert pendulum["seed 14"][1][:3] == [-862.9, -1641.2, -712.0]
    assert max(pendulum["seed 11"][1]) == -594.0  # the one seed below the gate of -300 throughout
    assert pendulum["seed 10"][1][:3] == [-1102.3, -1609.4, -146.8]
    assert all(len(steps) == 10 for steps, _ in pendulum.values())
    cartpole, _ = plots.cartpole(markdown)  # DreamerV2's SMALL_VECTOR: seeds 0-2, then 3-12 chosen on nothing
    assert cartpole["seed 3"][1][7] == 125.0 and cartpole["seed 4"][1][-1] == 500.0
    assert cartpole["seed 6"][1][12] == 483.0 and len(cartpole["seed 6"][0]) == 15
    assert len(cartpole) == 13 and cartpole["seed 7"][1][-1] == 418.0
    seed8 = [259, 262, 210, 173, 322, 263, 342, 494, 500, 500, 500, 448, 500, 440, 500]
    assert cartpole["seed 8"] == ([2000.0 * k for k in range(1, 16)], seed8)
    seed9 = [229, 279, 267, 233, 109, 91, 111, 139, 500, 500, 499, 500, 500, 500, 500]
    assert cartpole["seed 9"] == ([2000.0 * k for k in range(1, 16)], seed9)
    seed10 = [217, 315, 184, 263, 381, 500, 500, 157] + [500] * 7
    assert cartpole["seed 10"] == ([2000.0 * k for k in range(1, 16)], seed10)
    seed11 = [286, 294, 470] + [500] * 7 + [410] + [500] * 4
    assert cartpole["seed 11"] == ([2000.0 * k for k in range(1, 16)], seed11)
    seed12 = [339, 315, 184, 165, 255, 481, 500, 217, 380] + [500] * 6
    assert cartpole["seed 12"] == ([2000.0 * k for k in range(1, 16)], seed12)
    attempts = plots.dreamerv3_cartpole(markdown)
    assert len(attempts) >= 4 and all(len(curves["seed 0"][0]) >= 2 for curves in attempts.values())
    assert sum(len(curves["seed 0"][0]) >= 5 for curves in attempts.values()) >= 4  # a stopped run may have two points
    xs_1024 = attempts["CartPole-v1 at size XS, train ratio 1024"]
    assert xs_1024["seed 0"] == ([2000.0, 4000.0, 6000.0, 8000.0], [479.3, 500.0, 86.9, 356.3])
    assert xs_1024["seed 1"] == ([2000.0, 4000.0], [225.2, 143.3])  # "(stopped)" and empty cells are not points
    again = attempts["CartPole-v1 at train ratio 1024, run again towards 30k steps"]
    assert again["seed 1"] == (
        [2000.0 * k for k in range(1, 10)],
        [429.7, 496.0, 132.4, 482.4, 184.5, 277.1, 424.7, 122.2, 130.3],
    )
    peer = attempts["CartPole-v1 with sheeprl's DreamerV3 (the peer) at size XXS, train ratio 128"]
    assert peer["seed 0"][1][-1] == 229.2 and peer["seed 1"][1][-4:] == [500.0] * 4 and len(peer["seed 1"][0]) == 15
    assert peer["seed 2"][1][-1] == 158.4
    three = attempts["CartPole-v1 at train ratio 128, three seeds beside the peer's three"]
    assert [three[f"seed {k}"][1][-1] for k in range(3)] == [193.9, 177.1, 371.1]
    assert all(len(steps) == 15 for steps, _ in three.values())
    critic_lr = attempts["CartPole-v1 with the critic at ten times the paper's learning rate, 3e-4"]
    assert [critic_lr[f"seed {k}"][1][-1] for k in range(2)] == [387.3, 500.0]
    behavior_lr = attempts["CartPole-v1 with the actor and the critic at ten times the paper's learning rate, 3e-4"]
    assert [behavior_lr[f"seed {k}"][1][-1] for k in range(2)] == [479.2, 186.1]
    horizon32 = attempts["CartPole-v1 with a 32-step imagination"]
    assert [horizon32[f"seed {k}"][1][-1] for k in range(3)] == [500.0, 500.0, 335.6]
    assert all(len(steps) == 15 for curves in (critic_lr, behavior_lr) for steps, _ in curves.values())
    assert [len(steps) for steps, _ in horizon32.values()] == [15, 15, 15, 15] and horizon32["seed 3"][1][-1] == 471.2
    size_s = attempts["CartPole-v1 at size S, train ratio 128"]["seed 0"]
    assert size_s == ([2000.0 * k for k in range(1, 9)], [10.2, 106.7, 285.5, 500.0, 500.0, 159.4, 500.0, 105.7])
    steps, returns = attempts["CartPole-v1 at train ratio 128"]["seed 0"]
    assert steps[:2] == [2000.0, 4000.0] and returns[-1] == 197.0  # the bold final cell read as a number
    pendulum = plots.attempts(markdown, "Pendulum-v1")
    assert len(pendulum["Pendulum-v1 with the paper's actor, train ratio 128"]) == 3
    hidden = pendulum["Pendulum-v1 at train ratio 512 on two seeds that no setting was chosen on, 3 and 4"]
    assert [hidden[f"seed {k}"][1][-1] for k in (3, 4)] == [-158.0, -122.0] and len(hidden["seed 3"][0]) == 10
    seed5 = pendulum["Pendulum-v1 at train ratio 512 on seed 5, chosen on nothing"]["seed 5"]
    assert seed5[0] == [2000.0 * k for k in range(1, 11)] and seed5[1][0] == -1204.0 and seed5[1][-1] == -131.0
    seed6 = pendulum["Pendulum-v1 at train ratio 512 on seed 6, chosen on nothing"]["seed 6"]
    assert seed6[0] == [2000.0 * k for k in range(1, 11)] and seed6[1][0] == -1445.0 and seed6[1][-1] == -148.0
    seed7 = pendulum["Pendulum-v1 at train ratio 512 on seed 7, chosen on nothing"]["seed 7"]
    assert seed7 == ([2000.0 * k for k in range(1, 11)], [-1583, -177, -160, -130, -124, -122, -123, -123, -121, -122])
    seed8 = pendulum["Pendulum-v1 at train ratio 512 on seed 8, chosen on nothing"]["seed 8"]
    assert seed8 == ([2000.0 * k for k in range(1, 11)], [-1351, -222, -192, -149, -145, -144, -143, -142, -143, -143])
    seed9 = pendulum["Pendulum-v1 at train ratio 512 on seed 9, chosen on nothing"]["seed 9"]
    assert seed9 == ([2000.0 * k for k in range(1, 11)], [-1550, -185, -185, -178, -171, -167, -159, -166, -165, -165])
    together = plots.hidden_together(pendulum)  # seeds 5-9 in one panel
    title = "Pendulum-v1 at train ratio 512 on seeds 5, 6, 7, 8 and 9, chosen on nothing (one run each)"
    assert sorted(together[title]) == [f"seed {k}" for k in range(5, 10)] and len(together) == len(pendulum) - 4
    minatar_attempts = plots.attempts(markdown, "MinAtar")
    minatar = minatar_attempts["MinAtar Breakout"]
    assert minatar["seed 0"][0][:2] == [5000.0, 10000.0] and len(minatar) == 3
    hidden = minatar_attempts["MinAtar Breakout on two seeds that no setting was chosen on, 3 and 4"]
    assert sorted(hidden) == ["seed 3", "seed 4"] and hidden["seed 3"][1][-1] == hidden["seed 4"][1][-1] == 2.6
    rerun = minatar_attempts["MinAtar Breakout on seeds 3 and 4 again, to the end of the 2 CPU hours"]
    assert [rerun[f"seed {k}"][1][-1] for k in (3, 4)] == [2.8, 2.8] and rerun["seed 3"][0][0] == 5000.0
    seed5 = minatar_attempts["MinAtar Breakout on seed 5, chosen on nothing, to the end of the 80k-step budget"]
    curve = [0.8] * 4 + [1.0] * 3 + [1.3] * 3 + [3.5, 3.0, 3.3, 3.2, 3.1, 3.3]
    assert seed5["seed 5"] == ([5000.0 * k for k in range(1, 17)], curve)
    seed6 = minatar_attempts["MinAtar Breakout on seed 6, chosen on nothing, to the end of the 80k-step budget"]
    curve = [0.0, 0.0, 0.5, 0.5, 0.7, 1.0] + [1.3] * 3 + [2.6, 3.1, 3.2, 3.5, 3.2, 4.2, 4.2]
    assert seed6["seed 6"] == ([5000.0 * k for k in range(1, 17)], curve)
    seed7 = minatar_attempts["MinAtar Breakout on seed 7, chosen on nothing, to the end of the 80k-step budget"]
    assert seed7["seed 7"] == ([5000.0 * k for k in range(1, 17)], [0.8] * 8 + [2.7, 4.0] + [2.8] * 3 + [2.2] * 3)
    seed8 = minatar_attempts["MinAtar Breakout on seed 8, chosen on nothing, to the end of the 80k-step budget"]
    curve = [0.0, 0.2] + [0.6] * 5 + [1.3, 2.2] + [2.7] * 3 + [2.8, 2.8, 4.3, 5.0]
    assert seed8["seed 8"] == ([5000.0 * k for k in range(1, 17)], curve)
    seed9 = minatar_attempts["MinAtar Breakout on seed 9, chosen on nothing, to the end of the 80k-step budget"]
    curve = [0.0, 0.0] + [0.3] * 3 + [1.0] + [1.7] * 4 + [3.1, 2.9, 3.1] + [2.8] * 3
    assert seed9["seed 9"] == ([5000.0 * k for k in range(1, 17)], curve)
    seed10 = minatar_attempts["MinAtar Breakout on seed 10, chosen on nothing, to the end of the 80k-step budget"]
    curve = [0.0] * 3 + [0.3] * 5 + [1.5] * 3 + [2.7, 3.5] + [3.8] * 3
    assert seed10["seed 10"] == ([5000.0 * k for k in range(1, 17)], curve)
    together = plots.hidden_together(minatar_attempts)  # seeds 5-10 in one panel, after the runs before them
    title = (
        "MinAtar Breakout on seeds 5, 6, 7, 8, 9 and 10, chosen on nothing (one run each), to the end of the 80k-step budget"
    )
    assert list(together)[-1] == title and list(together[title]) == [f"seed {k}" for k in range(5, 11)]
    assert len(together) == len(minatar_attempts) - 5 and together[title]["seed 10"] == seed10["seed 10"]
    heading, task, _ = plots.WALKER
    walker = plots.attempts(markdown, task, heading)
    assert walker["walker-walk from pixels at train ratio 64"]["seed 0"][1][-1] == 227.2
    assert len(walker["walker-walk from pixels at train ratio 64"]["seed 0"][0]) == 10 and len(walker) == 3
    assert walker["walker-walk from pixels with today's `SMALL_PIXELS` (30 imagined steps)"]["seed 0"][1][-1] == 270.4
    cartpole_pixels = plots.pixels_cartpole(markdown)
    assert sorted(cartpole_pixels) == [f"seed {k}" for k in range(6)]
    assert [cartpole_pixels[f"seed {k}"][1][-1] for k in range(6)] == [546.9, 491.8, 494.3, 475.4, 445.3, 402.7]
    assert all(steps == [5000.0 * k for k in range(1, 11)] for steps, _ in cartpole_pixels.values())
    horizon = plots.pixels_horizon(markdown)
    assert horizon["horizon 30, seed 0"][1][-1] == 662.6 and horizon["horizon 15 (before), seed 1"][1][-1] == 491.8
    assert horizon["horizon 30, seed 8"][1][-1] == 608.3 and len(horizon) == 10
    assert horizon["horizon 30, seed 9"][1][-1] == 574.4 and horizon["horizon 30, seed 9"][1][5] == 616.2
    steps = [5000.0 * k for k in range(1, 11)]
    assert all(x == steps for x, _ in horizon.values())
    ratio64 = plots.tables(markdown.split("### Train ratio 64 with the 30-step imagination")[1])[0]  # two seeds
    assert plots.seed_curves(ratio64, label="{}") == {
        "ratio 64, horizon 30, seed 0": (steps, [135.8, 255.7, 356.1, 259.0, 307.7, 330.8, 314.4, 316.4, 311.0, 327.4]),
        "ratio 64, horizon 30, seed 1": (steps, [135.9, 293.7, 458.0, 362.4, 284.5, 290.3, 406.5, 325.4, 368.1, 500.2]),
    }
    depth8 = plots.tables(markdown.split("### A CNN of depth 8")[1])[1]  # after the timing table, two seeds
    assert plots.seed_curves(depth8, label="{}") == {
        "depth 8, seed 0": (steps, [185.5, 254.8, 253.2, 294.8, 400.3, 392.6, 449.0, 262.3, 336.7, 339.0]),
        "depth 8, seed 1": (steps, [145.5, 235.5, 416.5, 313.2, 288.2, 243.0, 479.8, 489.8, 404.5, 395.9]),
    }
    batch8 = {
        "batch 8, seed 0": (steps, [179.8, 553.3, 388.9, 283.1, 502.6, 416.7, 424.8, 443.3, 478.8, 523.7]),
        "batch 8, seed 1": (steps, [136.0, 477.4, 313.5, 354.9, 427.1, 496.0, 554.9, 462.6, 607.7, 489.7]),
        "batch 8, seed 2": (steps, [136.8, 346.9, 267.0, 334.4, 305.8, 397.3, 441.6, 433.9, 594.3, 628.5]),
    }
    cheaper = plots.pixels_cheaper(markdown)  # the shipped seeds 0-2, then the three cheaper settings
    assert list(cheaper)[:3] == [f"shipped, seed {k}" for k in range(3)] and cheaper["shipped, seed 2"][1][-1] == 542.2
    assert {name: cheaper[name] for name in batch8} == batch8 and cheaper["depth 8, seed 1"][1][-1] == 395.9
    assert len(cheaper) == 10 and cheaper["ratio 64, horizon 30, seed 1"][1][-1] == 500.2
    multidiscrete = plots.attempts(markdown, "MultiDiscrete CartPole-v1", "MultiDiscrete actions")
    hidden = multidiscrete["MultiDiscrete CartPole-v1 on seeds 3, 4 and 5, chosen on nothing"]
    assert [hidden[f"seed {k}"][1][-1] for k in (3, 4, 5)] == [500.0, 497.5, 500.0]
    assert hidden["seed 4"][1][7] == 300.6 and all(steps == [2000.0 * k for k in range(1, 16)] for steps, _ in hidden.values())
    seed6 = multidiscrete["MultiDiscrete CartPole-v1 on seed 6, chosen on nothing"]["seed 6"]
    assert seed6 == (
        [2000.0 * k for k in range(1, 16)],
        [266.5, 216.0, 169.8, 142.4] + [500.0] * 5 + [370.8, 289.8] + [500.0] * 4,
    )
    seed7 = multidiscrete["MultiDiscrete CartPole-v1 on seed 7, chosen on nothing"]["seed 7"]
    assert seed7[1] == [191.2, 273.8, 279.1, 126.6, 128.1] + [500.0] * 4 + [455.0, 238.4] + [500.0] * 4
    paths = plots.plot_all(markdown, tmp_path)
    assert len(paths) == 9 and all(path.stat().st_size > 10_000 for path in paths)


def test_product_floor_times_each_product_alone():
    """benchmarks/product_floor.py's ProductTimer: a linear layer's update is three products (forward, input and
    weight gradients: 3 x 2 B I O FLOPs), each timed alone, two shapes repeated once more counted twice; the
    element-wise rest is timed apart."""
    spec = importlib.util.spec_from_file_location("benchmarks_product_floor", ROOT / "benchmarks" / "product_floor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    layer = th.nn.Linear(16, 4)
    timer = module.ProductTimer(repeats=2)
    with timer:
        for _ in range(2):  # the same shapes twice: one timing each, counted twice
            x = th.randn(8, 16, requires_grad=True)
            th.tanh(layer(x)).sum().backward()
    assert timer.product_flops == 2 * 3 * 2 * 8 * 16 * 4
    assert sum(timer.calls.values()) == 6 and set(timer.calls.values()) == {2}
    assert 0 < timer.product_floor <= timer.in_place_product
    assert timer.in_place_other["tanh"] > 0 and "addmm" not in timer.in_place_other
    assert all(module._short(key).split(":")[0] in module.PRODUCTS for key in timer.calls)


def test_sheeprl_dreamer_v3_runs_sheeprl_at_our_size_and_train_ratio(monkeypatch, tmp_path):
    """benchmarks/sheeprl_dreamer_v3.py turns our size and train ratio into sheeprl's overrides: replay_ratio counts
    gradient steps of 16 x 64 per policy step, and XXS sets every width to 128 with 16 x 16 latents."""
    spec = importlib.util.spec_from_file_location("benchmarks_sheeprl_v3", ROOT / "benchmarks" / "sheeprl_dreamer_v3.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    calls = []
    monkeypatch.setattr(module.subprocess, "run", lambda command, **kwargs: calls.append((command, kwargs)))
    monkeypatch.setattr(sys, "argv", ["sheeprl_dreamer_v3.py", "train", "--seed", "2", "--train-ratio", "512",
                                      "--output", str(tmp_path), "algo.horizon=10"])  # fmt: skip
    module.main()
    ((command, kwargs),) = calls
    overrides = dict(item.split("=", 1) for item in command[1:])
    assert overrides["algo.replay_ratio"] == "0.5" and overrides["seed"] == "2"
    assert overrides["algo.dense_units"] == "128" and overrides["algo.world_model.discrete_size"] == "16"
    xxs = SIZES["XXS"]
    assert {int(overrides[key]) for key in ("algo.dense_units", "algo.world_model.transition_model.hidden_size")} == {
        xxs["units"],
        xxs["hidden_size"],
    }
    assert int(overrides["algo.world_model.recurrent_model.recurrent_state_size"]) == xxs["deterministic_size"]
    assert int(overrides["algo.world_model.stochastic_size"]) == xxs["stochastic_size"] and xxs["layers"] == 1
    assert overrides["run_name"] == "xxs_512_s2" and overrides["checkpoint.keep_last"] == "16"
    assert command[-1] == "algo.horizon=10" and kwargs["cwd"] == str(tmp_path)


def test_world_model_fit_exports_the_rows_sheeprl_reads(tmp_path):
    """benchmarks/world_model_fit.py --export writes the replay's rows and the fixed batch in our row convention
    (``o_t``, ``a_{t-1}``, ``r_t``); benchmarks/sheeprl_world_model_fit.py turns a batch of them time-first, with
    each action moved up to the row of the observation it follows, as sheeprl's rows hold ``a_t``."""
    import numpy as np
    from stable_baselines3.common.envs import FakeImageEnv

    from sb3_dreamer import DreamerV3

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", ROOT / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    fit, peer = load("world_model_fit"), load("sheeprl_world_model_fit")
    env = FakeImageEnv(screen_height=64, screen_width=64, n_channels=3, discrete=False)
    model = DreamerV3("CnnPolicy", env, size="XXS", learning_starts=1_000, seed=0)
    model.learn(150)
    fixed = model.replay_buffer.sample(4, None, 16)
    fit.export(model, fixed, str(tmp_path / "frames.npz"))
    data = np.load(tmp_path / "frames.npz")
    rows = model.replay_buffer.stream_sizes()[0]
    assert data["observations"].shape == (rows, 3, 64, 64) and data["observations"].dtype == np.uint8
    assert data["is_first"][0] and data["actions"].shape == (rows, *env.action_space.shape) and not data["actions"][0].any()
    assert data["fixed_observations"].shape == (4, 16, 3, 64, 64) and data["fixed_is_first"][:, 0].all()
    batch = peer.sheeprl_batch(*(data[f"fixed_{key}"] for key in peer.ROW_KEYS))
    assert batch["rgb"].shape == (16, 4, 3, 64, 64) and batch["rewards"].shape == (16, 4, 1)
    np.testing.assert_array_equal(batch["rgb"][3, 2].numpy(), data["fixed_observations"][2, 3])
    np.testing.assert_array_equal(batch["actions"][:-1, 1].numpy(), data["fixed_actions"][1, 1:])
    np.testing.assert_array_equal(batch["rewards"][:, 0, 0].numpy(), data["fixed_rewards"][0])
