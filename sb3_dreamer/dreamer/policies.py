"""Policies of :class:`~sb3_dreamer.Dreamer`, named as in SB3."""

from sb3_dreamer.common.policies import CnnPolicy, DreamerPolicy, MlpPolicy, MultiInputPolicy

__all__ = ["CnnPolicy", "DreamerPolicy", "MlpPolicy", "MultiInputPolicy"]
