"""Test settings that must hold before torch and MuJoCo load."""

import os

# One torch thread: on small shared machines two threads turn erratic when anything else runs.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "egl")

import torch as th

th.set_num_threads(1)
