"""Evaluation curves of docs/benchmarks.md as PNG plots, for the documentation site.

The measured numbers live in one place, the Markdown of ``docs/benchmarks.md``; this script reads them from
there (nothing is re-run and nothing is added) and writes one plot per learning benchmark into ``docs/img/``:

* ``benchmark_pendulum.png``: Dreamer, ``SMALL_VECTOR``, Pendulum-v1, the table "policy steps | seed 0 | ..." and
  the seeds chosen on nothing ("seed | 2k | ...");
* ``benchmark_cartpole.png``: DreamerV2, ``DREAMERV2_SMALL_VECTOR``, CartPole-v1, the lines
  "- seed N: 2k 484, 4k 455, ...", with each seed's random-policy return from the summary table;
* ``benchmark_minatar.png``: DreamerV2, ``DREAMERV2_MINATAR``, MinAtar Breakout, the table
  "policy steps | minutes | evaluation return", mean +- std over the evaluation episodes;
* ``benchmark_dreamerv3_cartpole.png``: DreamerV3 on CartPole-v1, one panel per attempt of the DreamerV3 section
  (each paragraph starting "**CartPole-v1 ...**" and its table "seed | 2k | 4k | ...");
* ``benchmark_pixels_walker.png``: Dreamer, ``SMALL_PIXELS``, DMC walker-walk from pixels, one curve per paragraph
  "**walker-walk from pixels ...**" of the pixel section, beside the published Dreamer V1 and DreamerV2 scores;
* ``benchmark_pixels_cartpole_seeds.png``: Dreamer, ``SMALL_PIXELS``, DMC cartpole-balance from pixels, seeds 0-2
  (the section's first table) and the seeds no setting was chosen on, beside the gate;
* ``benchmark_pixels_horizon30.png``: the same task with ``SMALL_PIXELS`` at its 30-step imagination, beside the
  15-step preset's seeds (the paragraph "**`SMALL_PIXELS` with a 30-step imagination ...**" and its table
  "run | 5k | ...");
* ``benchmark_pixels_cheaper.png``: the shipped ``SMALL_PIXELS``'s seeds 0-2 beside the cheaper settings tried
  for CPUs without native bf16 (the subsections named in ``PIXELS_CHEAPER`` and their tables "run | 5k | ...");
* ``benchmark_dreamerv3.png``: DreamerV3's other rows the same way (Pendulum-v1, DMC cartpole-balance from pixels,
  MinAtar Breakout), each gate dotted, a task's one-seed runs on seeds chosen on nothing in one panel.

    pip install matplotlib
    python benchmarks/plots.py                      # after editing the numbers in docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import pathlib
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: one marker and line style per seed, so that curves on top of each other stay apart (and in grey print)
STYLES = [dict(marker="o", linestyle="-"), dict(marker="s", linestyle="--"), dict(marker="^", linestyle="-.")]
DOC = ROOT / "docs" / "benchmarks.md"
OUT = ROOT / "docs" / "img"


def sections(markdown: str) -> dict[str, str]:
    """The document's ``## `` sections by heading (``###`` subsections stay inside their section)."""
    parts = re.split(r"^## (.+)$", markdown, flags=re.MULTILINE)
    return {heading.strip(): body for heading, body in zip(parts[1::2], parts[2::2], strict=True)}


def section(markdown: str, prefix: str) -> str:
    """The body of the one section whose heading starts with ``prefix``."""
    found = [body for heading, body in sections(markdown).items() if heading.startswith(prefix)]
    if len(found) != 1:
        raise ValueError(f"{DOC} should have one section starting with {prefix!r}, found {len(found)}.")
    return found[0]


def tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table in ``text``: rows of cells, header first, the ``|---|`` line dropped."""
    found, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    return found


def table(text: str, first_header: str) -> list[list[str]]:
    """The one table whose first header cell is ``first_header``."""
    found = [t for t in tables(text) if t[0][0] == first_header]
    if len(found) != 1:
        raise ValueError(f"Expected one table with first column {first_header!r}, found {len(found)}.")
    return found[0]


def number(cell: str) -> float:
    """``"5,000"`` or ``"-134.8"`` as a float."""
    return float(cell.replace(",", ""))


def pendulum(markdown: str) -> tuple[dict[str, tuple[list[float], list[float]]], str | None]:
    """Dreamer on Pendulum-v1: each seed's (policy steps, returns), seeds 0-2 from the table "policy steps | seed 0 |
    ...", the seeds chosen on nothing from a table "seed | 2k | 4k | ...", and the random-play note if the text has
    one."""
    body = section(markdown, "Dreamer on Pendulum-v1")
    rows = table(body, "policy steps")
    header, data = rows[0], rows[1:]
    curves = {name: ([number(r[0]) for r in data], [number(r[i]) for r in data]) for i, name in enumerate(header) if i}
    for rows in tables(body):
        if rows[0][:2] == ["seed", "2k"]:
            curves.update(seed_curves(rows))
    random_note = re.search(r"Random play scores about (-?\d+) to (-?\d+)", body)
    return curves, random_note.group(0) if random_note else None


def cartpole(markdown: str) -> tuple[dict[str, tuple[list[float], list[float]]], dict[str, float]]:
    """DreamerV2 on CartPole-v1: each seed's (policy steps, returns) and random-policy return."""
    body = section(markdown, "DreamerV2 on CartPole-v1")
    curves = {}
    for seed, points in re.findall(r"^- (seed \d+): (.+)$", body, flags=re.MULTILINE):
        pairs = [point.split() for point in points.split(",")]
        curves[seed] = ([number(step.rstrip("k")) * 1000 for step, _ in pairs], [number(value) for _, value in pairs])
    if not curves:
        raise ValueError("No '- seed N: 2k 484, ...' lines in the CartPole section.")
    summary = table(body, "seed")
    column = summary[0].index("random policy")
    random = {f"seed {row[0]}": number(row[column]) for row in summary[1:]}
    return curves, random


def minatar(markdown: str) -> tuple[list[float], list[float], list[float], list[float], float | None]:
    """DreamerV2 on MinAtar Breakout: policy steps, minutes, mean and std of the evaluation return, random policy."""
    body = section(markdown, "DreamerV2 on MinAtar Breakout")
    data = table(body, "policy steps")[1:]
    steps = [number(r[0]) for r in data]
    minutes = [number(r[1]) for r in data]
    mean_std = [[number(x) for x in r[2].split("+-")] for r in data]
    random = re.search(r"Random policy: ([\d.]+) on the same evaluation episodes", body)
    return steps, minutes, [m for m, _ in mean_std], [s for _, s in mean_std], float(random.group(1)) if random else None


def seed_curves(rows: list[list[str]], label: str = "seed {}") -> dict[str, tuple[list[float], list[float]]]:
    """A table "seed | 2k | 4k | ..." (or "5k | 10k | ...") as each seed's (policy steps, returns), named by ``label``
    with the row's first cell. Cells without a number (a stopped run) are left out, and so are columns after the
    steps (training minutes, random policy)."""
    steps = [number(cell.rstrip("k")) * 1000 for cell in rows[0][1:] if re.fullmatch(r"[\d.]+k", cell)]
    curves = {}
    for row in rows[1:]:
        points = [(x, cell.strip("*")) for x, cell in zip(steps, row[1:], strict=False)]
        points = [(x, number(cell)) for x, cell in points if re.fullmatch(r"-?[\d.,]+", cell)]
        curves[label.format(row[0])] = ([x for x, _ in points], [y for _, y in points])
    return curves


def attempts(
    markdown: str, task: str, heading: str = "DreamerV3", first_header: str = "seed"
) -> dict[str, dict[str, tuple[list[float], list[float]]]]:
    """One task's attempts: for each attempt (a paragraph of the DreamerV3 section, or of the section starting
    with ``heading``, whose bold title starts with ``task``) that has a table "seed | 2k | 4k | ..." (or "5k | 10k |
    ..."), each seed's (policy steps, returns). Cells without a number (a stopped run) are left out; attempts
    without such a table are skipped. With ``first_header="run"``, a table "run | 5k | ..." whose rows are named
    in full ("horizon 30, seed 0"), and its curves by those names."""
    label = "seed {}" if first_header == "seed" else "{}"
    body = section(markdown, heading)
    found = {}
    for chunk in re.split(rf"^(?=\*\*{re.escape(task)})", body, flags=re.MULTILINE)[1:]:
        title = re.match(r"\*\*(.+?)\*\*", chunk, flags=re.DOTALL).group(1)
        rows = next((t for t in tables(chunk) if t[0][0] == first_header and re.fullmatch(r"\d+k", t[0][1])), None)
        if rows is not None:
            found[" ".join(title.split())] = seed_curves(rows, label)
    if not found:
        raise ValueError(f"No '**{task} ...**' attempts with a '{first_header} | 2k | ...' table in the section {heading!r}.")
    return found


def hidden_together(
    found: dict[str, dict[str, tuple[list[float], list[float]]]],
) -> dict[str, dict[str, tuple[list[float], list[float]]]]:
    """``found`` (one task's attempts) with the one-seed attempts "... on seed N, chosen on nothing ..." drawn as one
    attempt, "... on seeds N, M and K, chosen on nothing (one run each) ...", in the place of the first of them."""
    pattern = r"on seed (\d+), chosen on nothing"
    hidden = [title for title in found if re.search(pattern, title) and len(found[title]) == 1]
    if len(hidden) < 2:
        return found
    seeds = [re.search(pattern, title).group(1) for title in hidden]
    listed = ", ".join(seeds[:-1]) + f" and {seeds[-1]}"
    merged_title = re.sub(pattern, f"on seeds {listed}, chosen on nothing (one run each)", hidden[0])
    merged: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    for title, curves in found.items():
        if title == hidden[0]:
            merged[merged_title] = {name: curve for other in hidden for name, curve in found[other].items()}
        elif title not in hidden:
            merged[title] = curves
    return merged


def dreamerv3_cartpole(markdown: str) -> dict[str, dict[str, tuple[list[float], list[float]]]]:
    """DreamerV3 on CartPole-v1: :func:`attempts` of the paragraphs titled "**CartPole-v1 ...**"."""
    return attempts(markdown, "CartPole-v1")


#: Dreamer's walker-walk from pixels: the section, the paragraphs' title, and the published scores at 100k env steps
WALKER = (
    "Dreamer from 64x64 pixels",
    "walker-walk from pixels",
    {"Dreamer V1, published": 132.0, "DreamerV2, published": 430.0},
)

#: Dreamer's cartpole-balance from pixels: the section (its first table: seeds 0-2), the title of the paragraph with
#: the seeds no setting was chosen on, and the gate (Dreamer V1's published score at 100k env steps)
PIXELS_CARTPOLE = ("Dreamer from 64x64 pixels", "cartpole-balance from pixels on three seeds", 455.0)


def pixels_cartpole(markdown: str) -> dict[str, tuple[list[float], list[float]]]:
    """Dreamer ``SMALL_PIXELS`` on DMC cartpole-balance from pixels: each seed's curve, seeds 0-2 from the section's
    first table and the further seeds from the paragraph "**cartpole-balance from pixels on three seeds ...**"."""
    heading, task, _ = PIXELS_CARTPOLE
    curves = seed_curves(tables(section(markdown, heading))[0])
    for more in attempts(markdown, task, heading).values():
        curves.update(more)
    return curves


#: Dreamer's cartpole-balance from pixels with a 30-step imagination: the paragraph's title; its table "run | 5k |
#: ..." has rows "horizon 30, seed N" and the earlier 15-step preset's "horizon 15 (before), seed N"
PIXELS_HORIZON = "`SMALL_PIXELS` with a 30-step imagination"


def pixels_horizon(markdown: str) -> dict[str, tuple[list[float], list[float]]]:
    """Each run's curve of the first table "run | 5k | ..." after the paragraph "**`SMALL_PIXELS` with a 30-step
    imagination ...**" of the pixel section: the 30-step imagination's seeds and the 15-step preset's, by the row's
    name."""
    (curves,) = attempts(markdown, PIXELS_HORIZON, PIXELS_CARTPOLE[0], first_header="run").values()
    return curves


#: The cheaper settings of ``SMALL_PIXELS`` tried for CPUs without native bf16: subsections of the pixel section, each
#: with a table "run | 5k | ..." whose rows are named "<setting>, seed N"
PIXELS_CHEAPER = ("### Train ratio 64 with the 30-step imagination", "### A CNN of depth 8", "### Batches of 8 sequences")


def pixels_cheaper(markdown: str) -> dict[str, tuple[list[float], list[float]]]:
    """The shipped ``SMALL_PIXELS``'s seeds 0-2 (rows "horizon 30, seed N" of :func:`pixels_horizon`, named
    "shipped, seed N"), then each cheaper setting's curves: the table "run | 5k | ..." of each subsection in
    :data:`PIXELS_CHEAPER`, by the row's name."""
    shipped = pixels_horizon(markdown)
    curves = {f"shipped, seed {k}": shipped[f"horizon 30, seed {k}"] for k in (0, 1, 2)}
    for heading in PIXELS_CHEAPER:
        text = markdown.split(heading, 1)[1].split("\n### ", 1)[0]
        curves.update(seed_curves(table(text, "run"), label="{}"))
    return curves


#: DreamerV3's other rows, one panel per attempt: (title prefix in the DreamerV3 section, issue 16's gate, y-limits)
DREAMERV3_ROWS = [("Pendulum-v1", -300.0, (-1700, 0)), ("DMC cartpole-balance", 455.0, (0, 1000)), ("MinAtar", 1.0, (0, 5))]


def _finish(ax: plt.Axes, title: str, path: pathlib.Path, **legend: object) -> None:
    """Title, labels and legend (``legend``: more arguments for it), then save ``path``."""
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("policy steps")
    ax.set_ylabel("evaluation return (10 episodes, deterministic)")
    ax.grid(alpha=0.3)
    ax.legend(**{"fontsize": 9, **legend})
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=120)
    plt.close(ax.figure)
    print(f"wrote {path}")


def _panels(
    panels: list[tuple[str, dict[str, tuple[list[float], list[float]]], float, tuple[float, float]]],
    gate_note: str,
    path: pathlib.Path,
    sharex: bool = False,
) -> None:
    """One panel per (title, curves by seed, gate, y-limits), stacked, each gate a dotted line; ``sharex`` for
    attempts on one task."""
    figure, axes = plt.subplots(len(panels), 1, figsize=(7, 2.4 * len(panels)), sharex=sharex, squeeze=False)
    for ax, (title, curves, gate, ylim) in zip(axes[:, 0], panels, strict=True):
        for name, (steps, returns) in curves.items():  # "seed N" keeps its style (and colour) in every panel
            seed = int(name.split()[-1])
            ax.plot(steps, returns, markersize=3, alpha=0.85, label=name, color=f"C{seed}", **STYLES[seed % 3])
        ax.axhline(gate, color="grey", linestyle=":", linewidth=1)
        ax.set_ylim(*ylim)
        ax.set_title(title if len(title) <= 110 else title[:107] + "...", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[-1, 0].set_xlabel("policy steps")
    axes[len(panels) // 2, 0].set_ylabel(f"evaluation return (10 episodes, deterministic); {gate_note}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(f"wrote {path}")


def seed_style(name: str) -> tuple[str, dict]:
    """The legend label and line style of curve ``"seed N"``: seeds 0-2 solid, the seeds chosen on nothing (3 and up)
    dashed and labelled so, each seed in its own colour."""
    seed = int(name.split()[-1])
    chosen_on = "" if seed < 3 else ", chosen on nothing"
    return f"{name}{chosen_on}", dict(marker="os^"[seed % 3], linestyle="-" if seed < 3 else "--", color=f"C{seed}")


def plot_all(markdown: str, out: pathlib.Path) -> list[pathlib.Path]:
    """Write the nine PNGs into ``out`` and return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "benchmark_pendulum.png", out / "benchmark_cartpole.png", out / "benchmark_minatar.png"]

    curves, random_note = pendulum(markdown)
    _, ax = plt.subplots(figsize=(9, max(4.6, 0.21 * len(curves) + 0.9)))  # tall enough for a legend line per seed
    if random_note:
        low, high = (float(x) for x in re.findall(r"-?\d+", random_note))
        ax.axhspan(min(low, high), max(low, high), color="grey", alpha=0.15, label="random play (about)")
    for name, (steps, returns) in curves.items():
        label, style = seed_style(name)
        ax.plot(steps, returns, markersize=4, label=label, **style)
    title = f"Dreamer, SMALL_VECTOR, Pendulum-v1 ({len(curves)} seeds)"
    _finish(ax, title, paths[0], loc="upper left", bbox_to_anchor=(1.01, 1))  # the legend beside the axes

    curves, random = cartpole(markdown)
    _, ax = plt.subplots(figsize=(9, 4.6))
    for name, (steps, returns) in curves.items():
        label, style = seed_style(name)
        ax.plot(steps, returns, markersize=4, alpha=0.85, label=label, **style)
        if name in random:
            ax.axhline(random[name], color=style["color"], linestyle=":", linewidth=1)
    if random:
        ax.plot([], [], color="grey", linestyle=":", label="random policy (per seed)")
    title = f"DreamerV2, DREAMERV2_SMALL_VECTOR, CartPole-v1 ({len(curves)} seeds)"
    _finish(ax, title, paths[1], loc="upper left", bbox_to_anchor=(1.01, 1))  # the legend beside the axes

    steps, minutes, mean, std, random_return = minatar(markdown)
    _, ax = plt.subplots(figsize=(7, 4.2))
    ax.errorbar(steps, mean, yerr=std, marker="o", markersize=4, capsize=3, label="seed 0 (mean +- std over episodes)")
    if random_return is not None:
        ax.axhline(random_return, color="grey", linestyle=":", label="random policy")
    for x, m in zip(steps, minutes, strict=True):  # wall-clock minutes along the bottom edge
        ax.annotate(
            f"{m:g} min",
            (x, 0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            fontsize=7,
            color="dimgrey",
        )
    _finish(ax, "DreamerV2, DREAMERV2_MINATAR, MinAtar Breakout (60 CPU minutes)", paths[2])

    paths.append(out / "benchmark_dreamerv3_cartpole.png")
    panels = [(title, curves, 450.0, (0, 520)) for title, curves in dreamerv3_cartpole(markdown).items()]
    _panels(panels, "gate 450 dotted", paths[-1], sharex=True)

    paths.append(out / "benchmark_pixels_walker.png")
    heading, task, published = WALKER
    _, ax = plt.subplots(figsize=(7, 4.2))
    for k, (title, curves) in enumerate(attempts(markdown, task, heading).items()):
        for name, (steps, returns) in curves.items():
            label = f"{title[len(task) :].strip() or title}, {name}".replace("`", "")  # Markdown code marks
            ax.plot(steps, returns, markersize=4, label=label, **STYLES[k % 3])
    for k, (name, score) in enumerate(published.items()):
        ax.axhline(score, color=f"C{k + 5}", linestyle=":", linewidth=1.2, label=f"{name} (100k env steps)")
    _finish(ax, "Dreamer, SMALL_PIXELS, DMC walker-walk from 64x64 pixels", paths[-1])

    paths.append(out / "benchmark_pixels_cartpole_seeds.png")
    _, ax = plt.subplots(figsize=(7, 4.2))
    for name, (steps, returns) in pixels_cartpole(markdown).items():
        label, style = seed_style(name)
        ax.plot(steps, returns, markersize=4, alpha=0.85, label=label, **style)
    ax.axhline(PIXELS_CARTPOLE[2], color="grey", linestyle=":", label="gate: Dreamer V1, published (100k env steps)")
    ax.set_ylim(0, 620)  # room for the legend below the curves
    title = "Dreamer, SMALL_PIXELS (train ratio 128, 15 imagined steps), DMC cartpole-balance from 64x64 pixels"
    _finish(ax, title, paths[-1], fontsize=8, ncol=2, loc="lower right")

    paths.append(out / "benchmark_pixels_horizon30.png")
    _, ax = plt.subplots(figsize=(7, 4.2))
    for name, (steps, returns) in pixels_horizon(markdown).items():
        seed = int(name.split()[-1])
        before = name.startswith("horizon 15")
        style = dict(marker="os^"[seed % 3], linestyle="--" if before else "-", alpha=0.5 if before else 0.9)
        ax.plot(steps, returns, markersize=4, label=name, color=f"C{seed}", **style)
    ax.axhline(PIXELS_CARTPOLE[2], color="grey", linestyle=":", label="gate: Dreamer V1, published (100k env steps)")
    ax.set_ylim(0, 720)
    title = "Dreamer, SMALL_PIXELS, cartpole-balance, pixels: imagination 30 (solid), 15 (dashed)"
    _finish(ax, title, paths[-1], fontsize=8, ncol=2, loc="lower right")

    paths.append(out / "benchmark_pixels_cheaper.png")
    _, ax = plt.subplots(figsize=(9, 4.2))
    cheaper = pixels_cheaper(markdown)
    settings = list(dict.fromkeys(name.rsplit(", seed ", 1)[0] for name in cheaper))
    for name, (steps, returns) in cheaper.items():
        setting, seed = name.rsplit(", seed ", 1)
        style = STYLES[int(seed) % 3]
        ax.plot(steps, returns, markersize=4, alpha=0.85, label=name, color=f"C{settings.index(setting)}", **style)
    ax.axhline(PIXELS_CARTPOLE[2], color="grey", linestyle=":", label="gate: Dreamer V1, published (100k env steps)")
    ax.set_ylim(0, 720)
    title = "Dreamer, SMALL_PIXELS and cheaper settings, cartpole-balance, pixels"
    _finish(ax, title, paths[-1], fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # the legend beside the axes

    paths.append(out / "benchmark_dreamerv3.png")
    panels = []
    for task, gate, ylim in DREAMERV3_ROWS:
        found = hidden_together(attempts(markdown, task))
        panels += [(f"DreamerV3, {title}", curves, gate, ylim) for title, curves in found.items()]
    _panels(panels, "gates dotted", paths[-1])
    return paths


def main() -> None:
    """Read ``--doc`` and write the plots into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doc", type=pathlib.Path, default=DOC, help="the Markdown file with the measured numbers")
    parser.add_argument("--out", type=pathlib.Path, default=OUT, help="folder for the PNG files")
    args = parser.parse_args()
    plot_all(args.doc.read_text(), args.out)


if __name__ == "__main__":
    main()
