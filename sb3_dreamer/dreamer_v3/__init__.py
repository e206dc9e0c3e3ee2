from sb3_dreamer.dreamer_v3.dreamer_v3 import DreamerV3
from sb3_dreamer.dreamer_v3.policies import SIZES, CnnPolicy, DreamerV3Policy, MlpPolicy, MultiInputPolicy

__all__ = ["SIZES", "CnnPolicy", "DreamerV3", "DreamerV3Policy", "MlpPolicy", "MultiInputPolicy"]
