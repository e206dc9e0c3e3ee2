from sb3_dreamer.plan2explore.plan2explore import Plan2Explore
from sb3_dreamer.plan2explore.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, OneStepEnsemble, Plan2ExplorePolicy

__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy", "OneStepEnsemble", "Plan2Explore", "Plan2ExplorePolicy"]
