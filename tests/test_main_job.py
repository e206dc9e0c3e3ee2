"""The README's main job and the examples run as they are (in tiny configurations)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path) -> str:
    result = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_main_job_then_load_and_act(tmp_path):
    out = run("-m", "sb3_dreamer", "--steps", "1100", "--eval-episodes", "1", "--output", "model.zip", cwd=tmp_path)
    assert "Before training: mean return" in out and "After training (model.zip): mean return" in out
    assert "Train ratio: 266.667" in out
    assert (tmp_path / "model.zip").is_file()
    out = run(str(ROOT / "examples" / "load_and_act.py"), "model.zip", "--episodes", "1", cwd=tmp_path)
    assert out.startswith("episode 0: return")


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("walker_pixels.py", "walker-walk evaluation return"),
        ("cartpole_both.py", "cartpole-balance evaluation return"),
        ("minatar_breakout.py", "MinAtar/Breakout-image-pomdp-v0 evaluation return"),
    ],
)
def test_environment_examples_run_tiny(tmp_path, script, expected):
    if script.startswith("minatar"):
        pytest.importorskip("minatar")
    extra = ["--pomdp"] if script.startswith("minatar") else []
    out = run(str(ROOT / "examples" / script), "--steps", "300", "--tiny", *extra, cwd=tmp_path)
    assert expected in out
