"""Speed and memory of our Dreamer against sheeprl's DreamerV1, side by side in one run (docs/benchmarks.md).

OMP_NUM_THREADS=1 python benchmarks/speed.py                    # everything: ours and sheeprl, proprio and pixels
OMP_NUM_THREADS=1 python benchmarks/speed.py --only ours        # our figures only (no sheeprl environment needed)
OMP_NUM_THREADS=1 python benchmarks/speed.py --quick            # the whole pipeline at tiny sizes, no sheeprl
python benchmarks/speed.py --worker ours --obs proprio --sizes sheeprl --updates 3 --prefill 2000   # one measurement

Each measurement runs in a process of its own, so that its peak resident memory is its own:

* ours: ``Dreamer`` on ``DMC/walker-walk-{proprio,pixels}-v0`` (action repeat 2), at sheeprl's DreamerV1 sizes
  (:data:`SHEEPRL_SIZES`: the same layer counts and widths and the papers' CNN layout, so the same parameter
  counts, which both processes print) and at our defaults;
* sheeprl: ``benchmarks/sheeprl_dreamer_v1.py`` with the Python of its own virtual environment (made by this
  script when missing, ``--sheeprl-venv``; torch pinned to the version installed here), same task, same action
  repeat, same batch of 50 x 50 and horizon 15.

Figures: seconds per gradient update (after one warm-up update), split into world model, actor and critic by the
times at which the three optimizer steps return; policy-driven collection steps per second (the algorithm's own
collection loop, acting with the recurrent policy, storing every step) against random-action steps per second
(the same loop with random actions) on the same env; peak resident memory after ``--prefill`` random steps in the
replay and the timed updates (100k proprioceptive steps by default: the memory of a 100k-step run, without its
hours of training); replay bytes per stored step. ``OMP_NUM_THREADS=1`` is exported to every process before it
starts (sheeprl's own thread setting comes after torch is imported and has no effect).
The ratios of the issue's targets follow the tables.

The machine: the CPU's model name, torch's CPU capability (``torch.backends.cpu.get_cpu_capability()``), whether
bf16 is native, the torch version and thread count are printed first, with the machine's float32 and bf16 rates
(GFLOP/s, best of several timings at the benchmark's thread count) of a 2500 x 400 x 400 matmul (an imagined batch
through a 400-unit layer), by ``torch.mm`` (what ``nn.Linear`` runs: MKL for float32 on a CPU) and by oneDNN's
linear (the floor takes the faster), and of a pixel-encoder convolution. Each measurement counts the FLOPs of one update
(world model and behaviour, forward and backward, with ``torch.utils.flop_counter.FlopCounterMode`` around one
more update after the timed ones and after the memory reading, since the counter's bookkeeping raises the peak);
its floor is those FLOPs at the measured rates (matmul FLOPs at the matmul rate,
convolution FLOPs at the convolution rate; bf16 rates for bf16-mixed runs), and each update time is reported as a
multiple of it ("x floor"). sheeprl's model has our parameter counts at these sizes, so its update is put against
the floor of our FLOP count. The last lines are one block, "Summary": the machine, the rates, update times against
the floor and against sheeprl (float32 both, and bf16-mixed both where bf16 is native: sheeprl then runs again
with ``fabric.precision=bf16-mixed``), collection with 1 and 8 envs, and peak memory. On a CPU that emulates bf16
(AVX2: about 30x slower products), our bf16-mixed variants are not run, and the summary says so
(``--emulated-bf16`` runs them anyway).

``--quick`` runs the same pipeline at tiny sizes (:data:`TINY_SIZES`), with few steps and without sheeprl, in
well under a minute: a check that every figure is produced, not a measurement.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "egl")

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TORCH_VERSION = "2.13.0"

#: sheeprl's DreamerV1 sizes (sheeprl/configs/algo/dreamer_v1.yaml) in our arguments: deterministic 200,
#: stochastic 30, RSSM hidden 200, 400-unit MLPs with 4 layers (encoder, decoder, actor), 2 (reward), 3 (critic),
#: CNN depth 32, no continue model; batch 50 x 50, horizon 15.
SHEEPRL_SIZES = dict(
    batch_size=50,
    sequence_length=50,
    imagination_horizon=15,
    policy_kwargs=dict(
        deterministic_size=200,
        stochastic_size=30,
        hidden_size=200,
        cnn_depth=32,
        continue_model=False,
        cnn_layout="valid",
        net_arch=dict(encoder=[400] * 4, decoder=[400] * 4, reward=[400] * 2, actor=[400] * 4, critic=[400] * 3),
    ),
)


#: tiny sizes for ``--quick``: the pipeline, not a measurement
TINY_SIZES = dict(
    batch_size=4,
    sequence_length=8,
    imagination_horizon=3,
    policy_kwargs=dict(
        deterministic_size=16,
        stochastic_size=4,
        hidden_size=16,
        cnn_depth=4,
        continue_model=False,
        cnn_layout="valid",
        net_arch=dict(encoder=[16] * 2, decoder=[16] * 2, reward=[16], actor=[16] * 2, critic=[16] * 2),
    ),
)

#: the matmul whose rate is the floor's: an imagined batch of 2,500 states through a 400-unit layer (m, k, n)
MATMUL_SHAPE = (2500, 400, 400)
#: the convolution whose rate is the floor of convolution FLOPs: the pixel encoder's second layer at sheeprl's
#: sizes (32 -> 64 channels, 31 x 31 -> 14 x 14, kernel 4, stride 2), 100 frames, channels-last
CONV_SHAPE = dict(batch=100, in_channels=32, size=31, out_channels=64, kernel=4, stride=2)


def cpu_info() -> dict:
    """The CPU's model name, torch's CPU capability, whether bf16 is native, torch's version and thread count."""
    import platform

    import torch as th

    from sb3_dreamer.common.precision import cpu_has_native_bf16

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": model or platform.processor() or "unknown",
        "cpu_capability": th.backends.cpu.get_cpu_capability(),
        "native_bf16": cpu_has_native_bf16(),
        "torch": th.__version__,
        "threads": th.get_num_threads(),
        "logical_cpus": os.cpu_count(),
    }


def describe_machine(info: dict) -> str:
    return (
        f"machine: {info['cpu_model']}, CPU capability {info['cpu_capability']}, "
        f"native bf16: {'yes' if info['native_bf16'] else 'no (emulated)'}; torch {info['torch']}, "
        f"{info['threads']} torch thread(s), {info['logical_cpus']} logical CPUs"
    )


def _best_seconds(fn, budget_s: float, repeats: int, device: str) -> float:
    """Best wall time of ``fn()`` over up to ``repeats`` timings (after one untimed call), stopping once
    ``budget_s`` is spent (at least one timing)."""
    import torch as th

    def sync():
        if device.startswith("cuda"):
            th.cuda.synchronize()

    fn()
    sync()
    best, spent = float("inf"), 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        elapsed = time.perf_counter() - start
        best, spent = min(best, elapsed), spent + elapsed
        if spent > budget_s:
            break
    return best


def matmul_gflops(
    dtype, shape=MATMUL_SHAPE, budget_s: float = 1.0, repeats: int = 20, device: str = "cpu", backend: str = "mm"
) -> float | None:
    """GFLOP/s of an ``(m, k) @ (k, n)`` matmul in ``dtype`` (2 m k n FLOPs), best of up to ``repeats`` timings at
    the current torch thread count. ``backend``: ``"mm"`` is ``torch.mm``, what ``nn.Linear`` runs (MKL for
    float32 on a CPU, oneDNN for bf16); ``"onednn"`` is oneDNN's linear (``torch.ops.mkldnn._linear_pointwise``),
    None where it is unavailable."""
    import torch as th

    m, k, n = shape
    a = th.randn(m, k, device=device).to(dtype)
    if backend == "mm":
        b, out = th.randn(k, n, device=device).to(dtype), th.empty(m, n, device=device, dtype=dtype)
        seconds = _best_seconds(lambda: th.mm(a, b, out=out), budget_s, repeats, device)
    else:
        weight = th.randn(n, k, device=device).to(dtype)
        try:
            with th.no_grad():
                linear = th.ops.mkldnn._linear_pointwise
                seconds = _best_seconds(lambda: linear(a, weight, None, "none", [], ""), budget_s, repeats, device)
        except (AttributeError, RuntimeError, NotImplementedError):
            return None
    return 2 * m * k * n / seconds / 1e9


def conv_gflops(dtype, shape=None, budget_s: float = 1.0, repeats: int = 20, device: str = "cpu") -> float:
    """GFLOP/s of a forward convolution (:data:`CONV_SHAPE`, channels-last as our CNNs run) in ``dtype``."""
    import torch as th

    c = dict(CONV_SHAPE, **(shape or {}))
    x = th.randn(c["batch"], c["in_channels"], c["size"], c["size"], device=device).to(dtype)
    x = x.contiguous(memory_format=th.channels_last)
    weight = th.randn(c["out_channels"], c["in_channels"], c["kernel"], c["kernel"], device=device).to(dtype)
    weight = weight.contiguous(memory_format=th.channels_last)
    out_size = (c["size"] - c["kernel"]) // c["stride"] + 1
    flops = 2 * c["batch"] * c["out_channels"] * out_size**2 * c["in_channels"] * c["kernel"] ** 2
    with th.no_grad():
        seconds = _best_seconds(lambda: th.conv2d(x, weight, stride=c["stride"]), budget_s, repeats, device)
    return flops / seconds / 1e9


def machine_rates(budget_s: float = 1.0, device: str = "cpu") -> dict:
    """float32 and bf16 GFLOP/s of the matmul (``torch.mm`` and, on a CPU, oneDNN's linear) and the convolution, at
    the current thread count. ``"matmul"`` holds the faster of the two matmul rates of each dtype: the floor's."""
    import torch as th

    dtypes = {"32": th.float32, "bf16": th.bfloat16}
    backends = ("mm", "onednn") if device == "cpu" else ("mm",)
    by_backend = {
        backend: {p: matmul_gflops(d, budget_s=budget_s, device=device, backend=backend) for p, d in dtypes.items()}
        for backend in backends
    }
    return {
        "matmul": {p: max(r[p] for r in by_backend.values() if r[p]) for p in dtypes},
        "matmul_by_backend": by_backend,
        "conv": {p: conv_gflops(d, budget_s=budget_s, device=device) for p, d in dtypes.items()},
    }


def describe_rates(rates: dict) -> list[str]:
    m, k, n = MATMUL_SHAPE
    c = CONV_SHAPE

    def gflops(value: float | None) -> str:
        return "unavailable" if value is None else f"{value:.1f} GFLOP/s"

    names = {"mm": "torch.mm", "onednn": "oneDNN linear"}
    lines = []
    for precision, dtype in (("32", "float32"), ("bf16", "bf16")):
        cells = [f"{gflops(r[precision])} ({names[b]})" for b, r in rates["matmul_by_backend"].items()]
        lines.append(f"matmul rate, {m}x{k} @ {k}x{n}, {dtype}: " + ", ".join(cells))
    matmul, conv = rates["matmul"], rates["conv"]
    lines.append(
        f"conv rate, {c['batch']}x{c['in_channels']}x{c['size']}x{c['size']} -> {c['out_channels']} channels, "
        f"kernel {c['kernel']}, stride {c['stride']}, channels-last: float32 {gflops(conv['32'])}, "
        f"bf16 {gflops(conv['bf16'])} (bf16 / float32 {conv['bf16'] / conv['32']:.2f})"
    )
    lines.append(
        f"floor rates (best of up to 20 timings each, the faster matmul): matmul float32 {gflops(matmul['32'])}, "
        f"bf16 {gflops(matmul['bf16'])} (bf16 / float32 {matmul['bf16'] / matmul['32']:.2f}); "
        f"conv float32 {gflops(conv['32'])}, bf16 {gflops(conv['bf16'])}"
    )
    return lines


def onednn_linear_flops(x_shape, weight_shape, *args, **kwargs) -> int:
    """FLOPs of oneDNN's linear (``sb3_dreamer.common.linear``'s products) from its inputs' shapes: ``2 numel(x) out``."""
    return 2 * math.prod(x_shape) * weight_shape[0]


def update_flops(model) -> dict:
    """FLOPs of one gradient update of ``model`` (world model and behaviour, forward and backward, as
    ``torch.utils.flop_counter.FlopCounterMode`` counts them), by operator and in total. Runs the update."""
    import torch as th
    from torch.utils.flop_counter import FlopCounterMode

    mapping = {th.ops.mkldnn._linear_pointwise: onednn_linear_flops} if hasattr(th.ops.mkldnn, "_linear_pointwise") else {}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        model.train(gradient_steps=1, batch_size=model.batch_size)
    by_op = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    return {"total": int(counter.get_total_flops()), "by_op": by_op}


def floor_seconds(flops: dict, rates: dict, precision: str) -> float:
    """The floor of an update: its convolution FLOPs at the convolution rate, the rest at the matmul rate, in
    ``precision`` (``"32"``, or bf16 rates for ``"bf16-mixed"``)."""
    key = "bf16" if precision.startswith("bf16") else "32"
    conv = sum(n for op, n in flops["by_op"].items() if "conv" in op)
    return conv / (rates["conv"][key] * 1e9) + (flops["total"] - conv) / (rates["matmul"][key] * 1e9)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rate(model, steps: int) -> float:
    """Steps per second (all environments together) of ``model.learn``'s collection loop for ``steps`` steps."""
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start)


def collection_rates(model, steps: int) -> tuple[float, float]:
    """Random-action, then policy-driven steps per second of the model's own collection loop (acting with
    its recurrent policy and exploration noise, storing every step; no training)."""
    random_rate = rate(model, steps)
    learning_starts, gradient_steps = model.learning_starts, model.gradient_steps
    model.learning_starts, model.gradient_steps = 0, 0
    policy_rate = rate(model, steps)
    model.learning_starts, model.gradient_steps = learning_starts, gradient_steps
    return random_rate, policy_rate


def measure_ours(args: argparse.Namespace) -> dict:
    """One process: build, prefill, time collection and updates; figures as a dict."""
    import gymnasium as gym
    import numpy as np
    import torch as th
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_dreamer import Dreamer, DreamerV2, Plan2Explore

    algo = {"dreamer": Dreamer, "dreamerv2": DreamerV2, "plan2explore": Plan2Explore}[args.algo]

    th.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    env_id = f"DMC/walker-walk-{args.obs}-v0"
    kwargs = {"sheeprl": dict(SHEEPRL_SIZES), "tiny": dict(TINY_SIZES), "defaults": {}}[args.sizes]
    policy = "CnnPolicy" if args.obs == "pixels" else "MlpPolicy"
    options = dict(
        precision=args.precision,
        activation_checkpointing=args.activation_checkpointing,
        imagination_chunks=args.imagination_chunks,
        world_model_chunks=args.world_model_chunks,
    )

    def build(n_envs: int) -> Dreamer:  # random actions until learning_starts, which is never reached
        env = make_vec_env(env_id, n_envs=n_envs, seed=0)
        return algo(policy, env, seed=0, device=args.device, learning_starts=10**12, **options, **kwargs)

    model = build(1)
    world_model = model.policy.world_model
    params = {
        "encoder": sum(p.numel() for p in world_model.encoder.parameters()),
        "rssm": sum(p.numel() for p in world_model.rssm.parameters()),
        "decoder": sum(p.numel() for p in world_model.decoder.parameters()),
        "reward": sum(p.numel() for p in world_model.reward_model.parameters()),
        "world_model": sum(p.numel() for p in world_model.parameters()),
        "actor": sum(p.numel() for p in model.policy.behaviors()["task"].actor.parameters()),
        "critic": sum(p.numel() for p in model.policy.behaviors()["task"].critic.parameters()),
    }
    rss_after_build = peak_rss_mb()

    prefill_rate = rate(model, args.prefill)
    random_rate, policy_rate = collection_rates(model, args.collect_steps)
    rss_after_prefill = peak_rss_mb()

    env = gym.make(env_id)  # the bare env, random actions
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(args.collect_steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    env_rate = args.collect_steps / (time.perf_counter() - start)

    # Gradient updates, split by the times at which the world-model, actor and critic optimizer steps return.
    optimizers = {id(model.policy.optimizer): "world_model"}
    for behavior in model.policy.behaviors().values():  # Plan2Explore: task and exploration behaviours together
        optimizers[id(behavior.actor_optimizer)], optimizers[id(behavior.critic_optimizer)] = "actor", "critic"
    if hasattr(model.policy, "ensemble_optimizer"):
        optimizers[id(model.policy.ensemble_optimizer)] = "ensemble"
    stamps: list[tuple[str, float]] = []
    apply_gradients = model._apply_gradients

    def stamped_apply_gradients(optimizer, parameters, *rest):
        apply_gradients(optimizer, parameters, *rest)
        if args.device != "cpu":
            th.cuda.synchronize()
        stamps.append((optimizers[id(optimizer)], time.perf_counter()))

    model._apply_gradients = stamped_apply_gradients
    sample = model.replay_buffer.sample
    sample_times: list[float] = []

    def timed_sample(*a, **k):
        start = time.perf_counter()
        batch = sample(*a, **k)
        sample_times.append(time.perf_counter() - start)
        return batch

    model.replay_buffer.sample = timed_sample
    model.train(gradient_steps=1, batch_size=model.batch_size)  # the warm-up update
    split = dict.fromkeys(optimizers.values(), 0.0)
    totals = []
    for _ in range(args.updates):
        stamps.clear()
        start = time.perf_counter()
        model.train(gradient_steps=1, batch_size=model.batch_size)
        end = time.perf_counter()
        before = start + sample_times[-1]
        for name, stamp in stamps:
            split[name] += (stamp - before) / args.updates  # time since the previous optimizer step returned
            before = stamp
        totals.append(end - start - sample_times[-1])
    buffer = model.replay_buffer
    rss_end = peak_rss_mb()  # before the batched-collection model below
    # One more update, its FLOPs counted, after the memory reading: the counter's bookkeeping held 0.4 GB more at
    # the peak of a float32 pixel update at sheeprl's sizes (1,510 against 1,078 MB), which sheeprl never pays.
    flops = update_flops(model)
    batched = build(args.collect_envs)
    rate(batched, args.batched_warmup * args.collect_envs)  # a few episodes' worth of random steps first
    batched_random_rate, batched_policy_rate = collection_rates(batched, args.collect_steps)
    return {
        "library": "sb3_dreamer",
        "algo": args.algo,
        "sizes": args.sizes,
        "precision": args.precision,
        "activation_checkpointing": args.activation_checkpointing,
        "imagination_chunks": args.imagination_chunks,
        "world_model_chunks": args.world_model_chunks,
        "obs": args.obs,
        "device": args.device,
        "params": params,
        "threads": th.get_num_threads(),
        "update_flops": flops,
        "seconds_per_update": float(np.mean(totals)),
        "seconds_per_update_split": split,
        "seconds_per_batch_sample": float(np.mean(sample_times[1:])),
        "prefill_random_steps_per_s": prefill_rate,
        "policy_steps_per_s": policy_rate,
        "random_steps_per_s": random_rate,
        "env_only_random_steps_per_s": env_rate,
        "peak_rss_mb_after_build": rss_after_build,
        "peak_rss_mb_after_prefill": rss_after_prefill,
        "peak_rss_mb_end": rss_end,
        "peak_cuda_mb": th.cuda.max_memory_allocated() / 2**20 if args.device.startswith("cuda") else None,
        "replay_bytes_per_step": buffer.nbytes / (buffer.buffer_size * buffer.n_envs),
        "batched_envs": args.collect_envs,
        "batched_policy_steps_per_s": batched_policy_rate,
        "batched_random_steps_per_s": batched_random_rate,
    }


def ensure_sheeprl(venv: Path) -> Path:
    """sheeprl 0.8.4 in its own virtual environment, torch pinned to ours (the local CPU wheel, never a CUDA build)."""
    python = venv / "bin" / "python"
    if python.exists():
        return python
    print(f"Installing sheeprl into {venv} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"torch=={TORCH_VERSION}"], check=True)
    constraints = venv / "constraints.txt"
    constraints.write_text(f"torch=={TORCH_VERSION}\nmujoco<4\n")
    install = ["-m", "pip", "install", "--quiet", "-c", str(constraints), "sheeprl[dmc]==0.8.4", "mujoco<4"]
    subprocess.run([str(python), *install], check=True)
    return python


def run_json(command: list[str], save: Path) -> dict:
    """Run one measurement process; its JSON line is returned and appended to ``save``."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ["OMP_NUM_THREADS"], "MUJOCO_GL": os.environ["MUJOCO_GL"]}
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    result = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=True)
    line = result.stdout.strip().splitlines()[-1]
    with open(save, "a") as file:
        file.write(line + "\n")
    return json.loads(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=["ours"], help="measure one configuration in this process")
    parser.add_argument("--obs", choices=["proprio", "pixels"], default=None, help="default: proprio (worker), both")
    parser.add_argument("--sizes", choices=["sheeprl", "defaults", "tiny"], default="sheeprl")
    parser.add_argument("--algo", choices=["dreamer", "dreamerv2", "plan2explore"], default="dreamer", help="ours (worker)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=["32", "bf16-mixed"], default="32", help="ours (worker)")
    parser.add_argument("--activation-checkpointing", action="store_true", help="ours (worker)")
    parser.add_argument("--imagination-chunks", type=int, default=1, help="ours (worker)")
    parser.add_argument("--world-model-chunks", type=int, default=1, help="ours (worker)")
    parser.add_argument("--collect-envs", type=int, default=8, help="envs of the batched-collection measurement")
    parser.add_argument("--batched-warmup", type=int, default=100, help="random steps per env before timing them")
    parser.add_argument("--updates", type=int, default=None, help="timed updates (default: 5 proprio, 3 pixels)")
    parser.add_argument("--prefill", type=int, default=None, help="random steps first (default: 100k proprio, 500 pixels)")
    parser.add_argument("--collect-steps", type=int, default=None, help="timed steps (default: 2000 proprio, 200 pixels)")
    parser.add_argument("--only", choices=["ours", "sheeprl"], default=None)
    parser.add_argument("--emulated-bf16", action="store_true", help="measure our bf16 variants on a CPU emulating bf16")
    parser.add_argument("--quick", action="store_true", help="the whole pipeline at tiny sizes, few steps, no sheeprl")
    parser.add_argument("--save", type=Path, default=Path("speed_results.jsonl"), help="each measurement's JSON line")
    parser.add_argument("--sheeprl-venv", type=Path, default=Path.home() / ".cache" / "sb3_dreamer" / "sheeprl-venv")
    args = parser.parse_args()
    if args.worker:
        args.obs = args.obs or "proprio"
        pixels = args.obs == "pixels"
        args.updates = args.updates or (3 if pixels else 5)
        args.prefill = args.prefill or (500 if pixels else 100_000)
        args.collect_steps = args.collect_steps or (200 if pixels else 2000)
        print(json.dumps(measure_ours(args)))
        return

    import torch as th

    from sb3_dreamer.common.precision import has_native_bf16

    info = cpu_info()
    print(describe_machine(info), flush=True)
    rates = machine_rates(budget_s=0.1 if args.quick else 0.5, device=args.device)
    print("\n".join(describe_rates(rates)), flush=True)
    variants = QUICK_VARIANTS if args.quick else OUR_VARIANTS
    run_sheeprl = args.only != "ours" and not args.quick
    sheeprl_bf16 = has_native_bf16(th.device(args.device))

    results: dict[tuple[str, str], dict] = {}
    for obs in [args.obs] if args.obs else ["proprio", "pixels"]:
        pixels = obs == "pixels"
        collect_envs = args.collect_envs
        if args.quick:  # and for pixels only float32 with 2 batched envs (each pixel env takes a second to make)
            collect_envs = min(collect_envs, 2) if pixels else collect_envs
            updates, prefill, collect = str(args.updates or 1), str(args.prefill or 40), str(args.collect_steps or 8)
        else:
            updates = str(args.updates or (3 if pixels else 5))
            prefill = str(args.prefill or (500 if pixels else 100_000))
            collect = str(args.collect_steps or (200 if pixels else 2000))
        common = ["--obs", obs, "--updates", updates, "--prefill", prefill, "--collect-steps", collect]
        ours_common = [*common, "--collect-envs", str(collect_envs)]
        ours_common += ["--batched-warmup", str(2 if args.quick else args.batched_warmup)]
        if args.only != "sheeprl":
            for label, options in variants.items():
                if args.quick and pixels and label != "fp32":
                    continue
                if emulated_bf16(options, info, args):
                    print(f"[{obs}] ours, {label}: {EMULATED}", flush=True)
                    continue
                command = [sys.executable, __file__, "--worker", "ours", "--device", args.device, *options, *ours_common]
                results[f"ours, {label}", obs] = run_json(command, args.save)
            if not pixels and not args.quick:  # the other algorithms' updates (their memory is not comparable)
                for algo in ("dreamerv2", "plan2explore"):
                    command = [sys.executable, __file__, "--worker", "ours", "--device", args.device, "--algo", algo,
                               "--sizes", "sheeprl", *common[:-4], "--prefill", "5000", "--collect-steps", "200"]  # fmt: skip
                    results[f"ours {algo}, fp32", obs] = run_json(command, args.save)
        if run_sheeprl:
            python = ensure_sheeprl(args.sheeprl_venv)
            gpu = ["fabric.accelerator=gpu"] if args.device.startswith("cuda") else []  # Hydra overrides, last
            command = [str(python), str(HERE / "sheeprl_dreamer_v1.py"), *common, *gpu]
            results[SHEEPRL["32"], obs] = run_json(command, args.save)
            if sheeprl_bf16:  # sheeprl's bf16: Fabric's autocast
                results[SHEEPRL["bf16-mixed"], obs] = run_json([*command, "fabric.precision=bf16-mixed"], args.save)
    report(results, variants)
    print("\n".join(summary(results, variants, info, rates, quick=args.quick)))


CHUNKS_4 = ["--imagination-chunks", "4", "--world-model-chunks", "4"]
#: our configurations, measured in turn: at sheeprl's sizes in float32, in float32 with imagination and the world
#: model's encoder and decoder in 8 chunks (the float32 memory target), with bf16 autocast, with bf16 autocast and 4
#: chunks of each, with bf16 autocast and activation checkpointing, and at our own defaults
OUR_VARIANTS = {
    "fp32": ["--sizes", "sheeprl"],
    "fp32 + 8 chunks": ["--sizes", "sheeprl", "--imagination-chunks", "8", "--world-model-chunks", "8"],
    "bf16-mixed": ["--sizes", "sheeprl", "--precision", "bf16-mixed"],
    "bf16-mixed + 4 chunks": ["--sizes", "sheeprl", "--precision", "bf16-mixed", *CHUNKS_4],
    "bf16-mixed + checkpointing": ["--sizes", "sheeprl", "--precision", "bf16-mixed", "--activation-checkpointing"],
    "our default sizes, fp32": ["--sizes", "defaults"],
}
#: ``--quick``: float32 and bf16 autocast at tiny sizes
QUICK_VARIANTS = {
    "fp32": ["--sizes", "tiny"],
    "bf16-mixed": ["--sizes", "tiny", "--precision", "bf16-mixed"],
}
#: why a bf16-mixed variant is not measured on a CPU without native bf16 (``--emulated-bf16`` measures it anyway)
EMULATED = 'not run: bf16 is emulated on this CPU (about 30x slower products); precision="auto" computes in float32'


def emulated_bf16(options: list[str], info: dict, args: argparse.Namespace) -> bool:
    """Whether to skip a variant of ours: bf16-mixed on a CPU that emulates bf16, unless ``--emulated-bf16``."""
    bf16 = "bf16-mixed" in options
    return bf16 and args.device == "cpu" and not info["native_bf16"] and not args.emulated_bf16 and not args.quick


#: sheeprl's column names, by precision
SHEEPRL = {"32": "sheeprl DreamerV1", "bf16-mixed": "sheeprl DreamerV1, bf16-mixed"}
NOT_RUN = "not run"


def comparable(variants: dict[str, list[str]]) -> list[str]:
    """Our variants at sheeprl's sizes (or the tiny ones of ``--quick``): those compared with sheeprl."""
    return [label for label, options in variants.items() if "defaults" not in options]


def report(results: dict[tuple[str, str], dict], variants: dict[str, list[str]] = OUR_VARIANTS) -> None:
    """A Markdown table per observation type, then the target ratios of each of our configurations at sheeprl's
    sizes against sheeprl (float32)."""
    rows = [
        ("s / update", "seconds_per_update", "{:.2f}"),
        ("  world model", ("seconds_per_update_split", "world_model"), "{:.2f}"),
        ("  actor", ("seconds_per_update_split", "actor"), "{:.2f}"),
        ("  critic", ("seconds_per_update_split", "critic"), "{:.2f}"),
        ("  ensemble (Plan2Explore)", ("seconds_per_update_split", "ensemble"), "{:.2f}"),
        ("GFLOP / update", ("update_flops", "total"), "{:.4g}"),
        ("policy steps / s (1 env)", "policy_steps_per_s", "{:.0f}"),
        ("random steps / s (1 env)", "random_steps_per_s", "{:.0f}"),
        ("policy steps / s (8 envs)", "batched_policy_steps_per_s", "{:.0f}"),
        ("random steps / s (8 envs)", "batched_random_steps_per_s", "{:.0f}"),
        ("bare env, random steps / s", "env_only_random_steps_per_s", "{:.0f}"),
        ("peak memory (MB)", "peak_rss_mb_end", "{:.0f}"),
        ("replay bytes / step", "replay_bytes_per_step", "{:.0f}"),
        ("parameters: world model", ("params", "world_model"), "{:,}"),
        ("parameters: actor", ("params", "actor"), "{:,}"),
        ("parameters: critic", ("params", "critic"), "{:,}"),
    ]
    for obs in ("proprio", "pixels"):
        columns = [name for name, o in results if o == obs]
        if not columns:
            continue
        print(f"\n### walker-walk, {obs}\n")
        print("| figure | " + " | ".join(columns) + " |")
        print("|---" * (len(columns) + 1) + "|")
        for label, key, fmt in rows:
            cells = []
            for name in columns:
                value = results[name, obs]
                for part in key if isinstance(key, tuple) else (key,):
                    value = value.get(part) if isinstance(value, dict) else None
                if value is not None and key == ("update_flops", "total"):
                    value = value / 1e9
                cells.append(fmt.format(value) if value is not None else "-")
            print(f"| {label} | " + " | ".join(cells) + " |")

    print()
    sheeprl = {obs: results.get((SHEEPRL["32"], obs)) for obs in ("proprio", "pixels")}
    for label in comparable(variants):
        ours = {obs: results.get((f"ours, {label}", obs)) for obs in ("proprio", "pixels")}

        def ratio(obs: str, key: str, ours=ours) -> str:
            if not ours[obs] or not sheeprl[obs]:
                return "-"
            return f"{ours[obs][key] / sheeprl[obs][key]:.3f}"

        proprio = ours["proprio"]
        collection = "-" if not proprio else collection_ratios(proprio)
        replay = "-" if not ours["pixels"] else f"{ours['pixels']['replay_bytes_per_step'] / (64 * 64 * 3):.3f}"
        update_proprio, update_pixels = ratio("proprio", "seconds_per_update"), ratio("pixels", "seconds_per_update")
        print(f"[{label}] seconds per update, proprio, ours / sheeprl (target <= 0.6): {update_proprio}")
        print(f"[{label}] seconds per update, pixels, ours / sheeprl (target <= 0.6): {update_pixels}")
        print(f"[{label}] policy / random collection speed, proprio (target >= 0.6): {collection}")
        memory = ratio("proprio", "peak_rss_mb_end")
        print(f"[{label}] peak memory, 100k proprio steps, ours / sheeprl (target <= 0.5): {memory}")
        print(f"[{label}] replay bytes per pixel step / raw uint8 64x64x3 (target <= 1.1): {replay}")


def collection_ratios(result: dict) -> str:
    """Policy-driven / random-action steps per second with one env and (ours) with the batched envs."""
    text = f"{result['policy_steps_per_s'] / result['random_steps_per_s']:.3f} (1 env)"
    if result.get("batched_envs"):
        batched = result["batched_policy_steps_per_s"] / result["batched_random_steps_per_s"]
        text += f", {batched:.3f} ({result['batched_envs']} envs)"
    return text


def summary(
    results: dict[tuple[str, str], dict], variants: dict[str, list[str]], info: dict, rates: dict, quick: bool = False
) -> list[str]:
    """The last lines: the machine, its rates, each update against the floor and against sheeprl (float32 both;
    bf16-mixed both where sheeprl ran in bf16), collection with 1 and with the batched envs, and peak memory."""
    lines = ["", "## Summary", ""]
    if quick:
        lines.append("--quick: tiny sizes and few steps, a check of the pipeline; its times measure nothing.")
    lines += [describe_machine(info), *describe_rates(rates)]
    lines.append(
        "floor: the update's FLOPs (FlopCounterMode around one update: world model and behaviour, forward and "
        "backward) at the rates above, convolution FLOPs at the conv rate and the rest at the matmul rate, bf16 "
        "rates for bf16-mixed runs; sheeprl's model has our parameter counts at sheeprl's sizes, so its floor "
        "is our FLOP count's (that of ours, fp32)."
    )
    for obs in ("proprio", "pixels"):
        ours_fp32 = results.get(("ours, fp32", obs))
        if ours_fp32 and not info["native_bf16"]:
            skipped = [label for label, options in variants.items() if "bf16-mixed" in options]
            skipped = [label for label in skipped if (f"ours, {label}", obs) not in results]
            lines += [f"[{obs}] ours, {label}: {EMULATED}" for label in skipped]
        for (name, o), result in results.items():
            if o != obs or not name.startswith("ours"):
                continue
            precision = result["precision"]
            floor = floor_seconds(result["update_flops"], rates, precision)
            line = (
                f"[{obs}] {name}: {result['seconds_per_update']:.3g} s / update, "
                f"{result['update_flops']['total'] / 1e9:.4g} GFLOP, floor {floor:.3g} s: "
                f"{result['seconds_per_update'] / floor:.2f}x floor"
            )
            label = name.removeprefix("ours, ")
            if label not in comparable(variants):
                lines.append(line + "; sheeprl: other sizes or algorithm, not compared")
                continue
            key = "32" if precision == "32" else "bf16-mixed"
            both = "float32 both" if key == "32" else "bf16-mixed both"
            theirs = results.get((SHEEPRL[key], obs))
            if theirs is None:
                why = " (no native bf16)" if key != "32" and not info["native_bf16"] else ""
                line += f" | sheeprl ({both}): {NOT_RUN}{why}"
            else:
                line += f" | sheeprl ({both}): {theirs['seconds_per_update']:.3g} s"
                if ours_fp32:
                    sheeprl_floor = floor_seconds(ours_fp32["update_flops"], rates, key)
                    line += f", {theirs['seconds_per_update'] / sheeprl_floor:.2f}x floor"
                line += f"; ours / sheeprl {result['seconds_per_update'] / theirs['seconds_per_update']:.3f}"
            if key != "32" and results.get((SHEEPRL["32"], obs)):
                fp32 = results[SHEEPRL["32"], obs]["seconds_per_update"]
                line += f" (against sheeprl float32: {result['seconds_per_update'] / fp32:.3f})"
            lines.append(line)

    lines.append("collection, policy-driven / random-action steps per second (1 env; batched envs):")
    for obs in ("proprio", "pixels"):
        for label in comparable(variants):
            result = results.get((f"ours, {label}", obs))
            lines.append(f"  [{obs}] ours, {label}: " + (collection_ratios(result) if result else NOT_RUN))
        for name in SHEEPRL.values():
            result = results.get((name, obs))
            lines.append(f"  [{obs}] {name}: " + (collection_ratios(result) if result else NOT_RUN))

    lines.append("peak memory (MB; proprio after its prefill of random steps, pixels after theirs):")
    for obs in ("proprio", "pixels"):
        cells = []
        fp32 = results.get((SHEEPRL["32"], obs))
        for label in comparable(variants):
            result = results.get((f"ours, {label}", obs))
            if result:
                cell = f"ours, {label} {result['peak_rss_mb_end']:.0f}"
                if fp32:
                    cell += f" ({result['peak_rss_mb_end'] / fp32['peak_rss_mb_end']:.3f} of sheeprl float32)"
                cells.append(cell)
        for name in SHEEPRL.values():
            result = results.get((name, obs))
            cells.append(f"{name} " + (f"{result['peak_rss_mb_end']:.0f}" if result else NOT_RUN))
        lines.append(f"  [{obs}] " + "; ".join(cells))
    lines.append(
        f"CPU capability: {info['cpu_capability']} ({info['cpu_model']}; native bf16: "
        f"{'yes' if info['native_bf16'] else 'no'}; {info['threads']} thread(s))"
    )
    return lines


if __name__ == "__main__":
    main()
