"""MinAtar games (Young & Tian, 2019) as image environments SB3 recognises, with partially observable variants.

MinAtar's state is a 10x10 grid of boolean channels (one per kind of object). Here it becomes a
channel-first uint8 image with values 0 and 255, so SB3's ``is_image_space`` accepts it, its
preprocessing scales it back to {0, 1}, and no transposition is needed (channel-first also keeps
Seaquest's 10 channels unambiguous). Actions are the game's minimal action set (``Discrete``).

The partially observable variant (``pomdp=True``), after the DreamerV2 MinAtar seed, removes the
channels that show where objects are moving, so one frame no longer tells their direction or speed
(see :data:`POMDP_HIDDEN_CHANNELS`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

#: MinAtar game names (``minatar.Environment(name)``)
GAMES = ("asterix", "breakout", "freeway", "seaquest", "space_invaders")
#: channels the partially observable variant removes, per game
POMDP_HIDDEN_CHANNELS = {
    "asterix": ("trail",),  # where enemies and gold were a step ago: their direction
    "breakout": ("trail",),  # where the ball was a step ago: its direction
    "freeway": ("speed1", "speed2", "speed3", "speed4", "speed5"),  # each car's speed and direction
    "seaquest": ("trail",),  # where enemies, divers and bullets were a step ago: their direction
    "space_invaders": ("alien_left", "alien_right"),  # which way the alien formation moves
}
#: one colour per channel for ``render()`` (background black), enough for Seaquest's 10 channels
PALETTE = np.array(
    [
        [0, 0, 0],
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
        [250, 190, 190],
    ],
    dtype=np.uint8,
)


class MinAtarEnv(gym.Env):
    """A MinAtar game with a channel-first uint8 image observation and Discrete minimal actions.

    :param game: one of :data:`GAMES`
    :param pomdp: remove the channels in :data:`POMDP_HIDDEN_CHANNELS` (direction and speed of motion)
    :param sticky_action_prob: probability of repeating the previous action instead (MinAtar's default 0.1)
    :param difficulty_ramping: let the game speed up as it goes on (MinAtar's default)
    :param render_mode: ``"rgb_array"`` for colour frames of the full state from ``render()``, or ``None``
    :param render_scale: pixels per grid cell in rendered frames
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(
        self,
        game: str,
        pomdp: bool = False,
        sticky_action_prob: float = 0.1,
        difficulty_ramping: bool = True,
        render_mode: str | None = None,
        render_scale: int = 16,
    ) -> None:
        if game not in GAMES:
            raise ValueError(f"Unknown MinAtar game {game!r}; valid games: {list(GAMES)}.")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"Unknown render_mode {render_mode!r}; valid: {self.metadata['render_modes']} or None.")
        try:
            from minatar import Environment
        except ImportError as error:
            raise ImportError("MinAtar environments need the minatar package: pip install 'sb3-dreamer[minatar]'.") from error
        self.game = Environment(game, sticky_action_prob=sticky_action_prob, difficulty_ramping=difficulty_ramping)
        self.game_name, self.pomdp = game, pomdp
        self.render_mode, self.render_scale = render_mode, render_scale
        names = self.game.env.channels
        hidden = POMDP_HIDDEN_CHANNELS[game] if pomdp else ()
        self.channels = [index for name, index in sorted(names.items(), key=lambda item: item[1]) if name not in hidden]
        height, width, _ = self.game.state_shape()
        self.observation_space = spaces.Box(0, 255, (len(self.channels), height, width), np.uint8)
        self.action_set = self.game.minimal_action_set()
        self.action_space = spaces.Discrete(len(self.action_set))
        self._seeded = False

    def _observation(self) -> np.ndarray:
        state = self.game.state()[:, :, self.channels]
        return np.ascontiguousarray(state.transpose(2, 0, 1), dtype=np.uint8) * np.uint8(255)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None or not self._seeded:
            # MinAtar draws from its own RandomState; seed it from ours so resets are reproducible
            self.game.seed(int(self.np_random.integers(2**31 - 1)))
            self._seeded = True
        self.game.reset()
        self.game.last_action = 0
        return self._observation(), {}

    def step(self, action: int):
        reward, terminated = self.game.act(self.action_set[int(action)])
        return self._observation(), float(reward), bool(terminated), False, {}

    def render(self) -> np.ndarray | None:
        """The full state (hidden channels included) as a uint8 colour frame, one colour per channel."""
        if self.render_mode is None:
            gym.logger.warn('render() needs render_mode="rgb_array" when the env is made.')
            return None
        state = self.game.state()
        index = np.where(state.any(-1), state.argmax(-1) + 1, 0)
        frame = PALETTE[index]
        return frame.repeat(self.render_scale, axis=0).repeat(self.render_scale, axis=1)


def make_minatar_env(game: str, **kwargs: Any) -> MinAtarEnv:
    """Make a MinAtar game for Dreamer; ``kwargs`` are those of :class:`MinAtarEnv`.

    ``make_minatar_env("breakout", pomdp=True)`` hides the ball's trail, as in the DreamerV2 MinAtar seed.
    """
    return MinAtarEnv(game, **kwargs)
