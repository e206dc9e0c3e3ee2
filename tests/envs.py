"""Tiny environments and model settings for tests."""

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sb3_dreamer import presets


class ActionRewardEnv(gym.Env):
    """A bandit spread over time: the reward is the action itself (Box) or 1 for the last action
    (Discrete); the observation is noise. Episodes are truncated after ``length`` steps."""

    def __init__(self, discrete: bool = False, length: int = 10):
        self.action_space = spaces.Discrete(3) if discrete else spaces.Box(-1, 1, (1,), np.float32)
        self.observation_space = spaces.Box(-1, 1, (2,), np.float32)
        self.length = length
        self.t = 0

    def _obs(self):
        return self.np_random.uniform(-1, 1, 2).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        if isinstance(self.action_space, spaces.Discrete):
            reward = float(int(action) == 2)
        else:
            reward = float(np.asarray(action).reshape(-1)[0])
        return self._obs(), reward, False, self.t >= self.length, {}


#: tiny networks, short sequences and an early start: fast enough for unit tests
TINY = presets.TINY
