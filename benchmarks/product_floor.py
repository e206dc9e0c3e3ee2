"""An update's floor counted product by product: every matrix product and convolution of one gradient update, each
timed alone at its own shapes, against the update's time and the one-rate floor of ``benchmarks/speed.py``.

``speed.py`` puts an update's FLOPs at the best rate the machine reaches on one large product (2500 x 400 @ 400 x
400) and reports the update's time as a multiple of that ("x floor"; issue 17 asks for 1.15x). An update is not one
large product: the world model steps its RSSM through 50 small batches in turn, backward passes transpose their
operands, and shapes differ in how close to the peak rate they run. This script runs one update under a
``TorchDispatchMode`` that sees every operator, forward and backward, and for each product (``mm``, ``addmm``,
``bmm``, convolutions, oneDNN's linear) records its FLOPs and times the same call again on the same inputs (best of
``--repeats``, inputs hot in cache): the product floor is the sum of those best times. No implementation of this
update can do its products faster than each product alone at its best, so ``product floor / one-rate floor`` says
how far above the one-rate floor the products alone must stay, and ``update / product floor`` how much of the
update is everything else (element-wise work, copies, Python)::

    OMP_NUM_THREADS=1 python benchmarks/product_floor.py --obs proprio            # sheeprl's sizes, float32
    OMP_NUM_THREADS=1 MUJOCO_GL=egl python benchmarks/product_floor.py --obs pixels
    OMP_NUM_THREADS=1 MUJOCO_GL=egl python benchmarks/product_floor.py --algo dreamerv3 \
        --preset DREAMERV3_SMALL_PIXELS --env DMC/cartpole-balance-pixels-v0 --obs pixels   # a preset, its precision
    OMP_NUM_THREADS=1 python benchmarks/product_floor.py --quick                  # tiny sizes: the pipeline only

The update timed without the dispatch mode (``--updates`` of them, after a warm-up) is the one ``speed.py`` times.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "egl")

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speed
import torch as th
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

#: the operators counted as products (their overload packets' names)
PRODUCTS = {"mm", "addmm", "bmm", "baddbmm", "convolution", "convolution_backward", "_linear_pointwise"}


def _flops(func, args: tuple, kwargs: dict, out) -> int:
    """FLOPs of one product call, by torch's FLOP formulas (oneDNN's linear: ``2 numel(x) out_features``)."""
    name = func._overloadpacket.__name__
    if name == "_linear_pointwise":
        return speed.onednn_linear_flops(args[0].shape, args[1].shape)
    return int(flop_registry[func._overloadpacket](*args, **kwargs, out_val=out))


def _signature(func, args: tuple, kwargs: dict) -> tuple:
    """What makes two calls the same product: the operator, and each argument's shape, strides and dtype (tensors)
    or value (anything else)."""

    def describe(a):
        if isinstance(a, th.Tensor):
            return ("T", tuple(a.shape), tuple(a.stride()), str(a.dtype))
        if isinstance(a, (list, tuple)):
            return tuple(describe(x) for x in a)
        return repr(a)

    return (str(func), describe(args), describe(sorted(kwargs.items())))


class ProductTimer(TorchDispatchMode):
    """Times every operator call in place and, for products, the best of ``repeats`` more calls on the same inputs
    (one timing per distinct :func:`_signature`, reused for repeated calls)."""

    def __init__(self, repeats: int) -> None:
        super().__init__()
        self.repeats = repeats
        self.best: dict[tuple, float] = {}
        self.calls: dict[tuple, int] = defaultdict(int)
        self.flops: dict[tuple, int] = {}
        self.in_place_product = 0.0
        self.in_place_other: dict[str, float] = defaultdict(float)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        start = time.perf_counter()
        out = func(*args, **kwargs)
        elapsed = time.perf_counter() - start
        name = func._overloadpacket.__name__
        if name not in PRODUCTS:
            self.in_place_other[name] += elapsed
            return out
        self.in_place_product += elapsed
        key = _signature(func, args, kwargs)
        self.calls[key] += 1
        if key not in self.best:
            self.flops[key] = _flops(func, args, kwargs, out)
            best = elapsed
            for _ in range(self.repeats):
                start = time.perf_counter()
                func(*args, **kwargs)
                best = min(best, time.perf_counter() - start)
            self.best[key] = best
        return out

    @property
    def product_floor(self) -> float:
        """Seconds: every product call at its best time alone."""
        return sum(self.best[key] * n for key, n in self.calls.items())

    @property
    def product_flops(self) -> int:
        return sum(self.flops[key] * n for key, n in self.calls.items())


def _short(signature: tuple) -> str:
    """``op: shape x shape ...`` of a signature, for the table of the costliest products."""
    op = signature[0].split(".")[1] if signature[0].count(".") >= 1 else signature[0]

    def shapes(a):
        if isinstance(a, tuple) and a and a[0] == "T":
            transposed = len(a[1]) == 2 and a[2][0] == 1 and a[1][0] > 1
            return ["x".join(map(str, a[1])) + ("^T" if transposed else "")]
        if isinstance(a, tuple):
            return [s for x in a for s in shapes(x)]
        return []

    return f"{op}: " + ", ".join(shapes(signature[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--obs", choices=["proprio", "pixels"], default="proprio", help="DMC walker-walk observations")
    parser.add_argument("--precision", help='"32", "bf16-mixed" or "auto" (default: the preset\'s, else "32")')
    parser.add_argument("--algo", choices=["dreamer", "dreamerv2", "dreamerv3"], default="dreamer")
    parser.add_argument("--preset", help="a preset of sb3_dreamer.presets instead of sheeprl's sizes")
    parser.add_argument("--env", help="the task (default: DMC walker-walk from --obs)")
    parser.add_argument("--updates", type=int, default=3, help="updates timed without the dispatch mode")
    parser.add_argument("--repeats", type=int, default=5, help="timings of each distinct product alone (best kept)")
    parser.add_argument("--top", type=int, default=12, help="costliest product shapes listed")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few steps: the pipeline, not a measurement")
    args = parser.parse_args()

    from stable_baselines3.common.env_util import make_vec_env

    from sb3_dreamer import Dreamer, DreamerV2, DreamerV3, presets

    th.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    algo = {"dreamer": Dreamer, "dreamerv2": DreamerV2, "dreamerv3": DreamerV3}[args.algo]
    if args.preset:
        sizes_name, sizes = args.preset, dict(getattr(presets, args.preset))
    else:
        sizes_name = "tiny sizes" if args.quick else "sheeprl's sizes"
        sizes = dict(speed.TINY_SIZES if args.quick else speed.SHEEPRL_SIZES)
    sizes["precision"] = args.precision or sizes.get("precision", "32")
    policy = "CnnPolicy" if args.obs == "pixels" else "MlpPolicy"
    env = make_vec_env(args.env or f"DMC/walker-walk-{args.obs}-v0", n_envs=1, seed=0)
    model = algo(policy, env, seed=0, learning_starts=10**12, **sizes)
    model._train_ratio = None  # a preset's train ratio would make train() count the updates due: here one per call
    prefill = 200 if args.quick else 3000
    model.learn(prefill)  # random steps into the replay; learning_starts is never reached

    info = speed.cpu_info()
    print(speed.describe_machine(info), flush=True)
    rates = speed.machine_rates(budget_s=0.05 if args.quick else 1.0)
    for line in speed.describe_rates(rates):
        print(line)

    def update() -> None:
        model.train(gradient_steps=1, batch_size=model.batch_size)

    update()  # warm-up
    times = []
    for _ in range(args.updates):
        start = time.perf_counter()
        update()
        times.append(time.perf_counter() - start)
    seconds = min(times)
    flops = speed.update_flops(model)
    one_rate_floor = speed.floor_seconds(flops, rates, model.compute_precision)

    timer = ProductTimer(args.repeats)
    start = time.perf_counter()
    with timer:
        update()
    instrumented = time.perf_counter() - start
    other = sum(timer.in_place_other.values())

    batch = f"batch {model.batch_size} x {model.sequence_length}"
    print(f"[{args.obs}] {algo.__name__}, {sizes_name}, precision {model.compute_precision}, {batch}")
    print(f"update: {seconds:.3f} s (best of {args.updates}, batch sampling included)")
    print(f"one-rate floor (speed.py): {flops['total'] / 1e9:.1f} GFLOP at the peak rates above: {one_rate_floor:.3f} s")
    floor = timer.product_floor
    print(
        f"products: {timer.product_flops / 1e9:.1f} GFLOP in {sum(timer.calls.values())} calls of {len(timer.calls)} "
        f"distinct shapes; in place {timer.in_place_product:.3f} s, each alone at its best {floor:.3f} s "
        f"({timer.product_flops / floor / 1e9:.1f} GFLOP/s)"
    )
    print(f"other operators, in place: {other:.3f} s; the instrumented update {instrumented:.3f} s")
    costliest = sorted(timer.in_place_other.items(), key=lambda item: -item[1])[:8]
    print("other operators by time: " + ", ".join(f"{name} {t:.3f} s" for name, t in costliest))
    print("costliest product shapes (calls, total best seconds, GFLOP/s alone):")
    for key in sorted(timer.calls, key=lambda k: -timer.best[k] * timer.calls[k])[: args.top]:
        n, best = timer.calls[key], timer.best[key]
        print(f"  {_short(key)}: {n} calls, {best * n:.3f} s, {timer.flops[key] / best / 1e9:.1f} GFLOP/s")
    print(f"product floor / one-rate floor: {floor / one_rate_floor:.2f}")
    print(f"update / product floor: {seconds / floor:.2f}; update / one-rate floor: {seconds / one_rate_floor:.2f}")


if __name__ == "__main__":
    main()
