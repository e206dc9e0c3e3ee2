"""The README's main job and the examples run as they are (in tiny configurations)."""

import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
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
        ("cartpole_both.py", "cartpole-balance evaluation return"),
        ("minatar_breakout.py", "MinAtar/Breakout-image-pomdp-v0 evaluation return"),
        ("plan2explore_adapt.py", "return after 150 more steps of the task actor"),
    ],
)
def test_environment_examples_run_tiny(tmp_path, script, expected):
    if script.startswith("minatar"):
        pytest.importorskip("minatar")
    extra = ["--pomdp"] if script.startswith("minatar") else []
    out = run(str(ROOT / "examples" / script), "--steps", "300", "--tiny", *extra, cwd=tmp_path)
    assert expected in out


def test_pixels_example_then_record_video(tmp_path):
    out = run(str(ROOT / "examples" / "walker_pixels.py"), "--steps", "300", "--tiny", cwd=tmp_path)
    assert "walker-walk evaluation return" in out
    args = ["dreamer_walker.zip", "--env", "DMC/walker-walk-pixels-v0", "--steps", "30", "--output", "videos"]
    out = run(str(ROOT / "examples" / "record_video.py"), *args, cwd=tmp_path)
    assert "recorded 30 steps" in out
    (video,) = (tmp_path / "videos").glob("*.mp4")
    frames = iio.imread(video, index=None)
    assert len(frames) >= 30 and frames.shape[1:] == (64, 64, 3)
