from sb3_dreamer.dreamer.dreamer import Dreamer
from sb3_dreamer.dreamer.policies import CnnPolicy, MlpPolicy, MultiInputPolicy

__all__ = ["CnnPolicy", "Dreamer", "MlpPolicy", "MultiInputPolicy"]
