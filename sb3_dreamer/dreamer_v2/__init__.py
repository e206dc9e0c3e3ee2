from sb3_dreamer.dreamer_v2.dreamer_v2 import DreamerV2
from sb3_dreamer.dreamer_v2.policies import CnnPolicy, DreamerV2Policy, MlpPolicy, MultiInputPolicy

__all__ = ["CnnPolicy", "DreamerV2", "DreamerV2Policy", "MlpPolicy", "MultiInputPolicy"]
