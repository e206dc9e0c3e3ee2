"""Plan2Explore: "Planning to Explore via Self-Supervised World Models", Sekar et al., ICML 2020.

https://arxiv.org/abs/2005.05960
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback
from stable_baselines3.common.utils import update_learning_rate

from sb3_dreamer.common.buffers import SequenceSamples
from sb3_dreamer.common.losses import frozen
from sb3_dreamer.common.rssm import LatentState
from sb3_dreamer.dreamer.dreamer import Dreamer
from sb3_dreamer.plan2explore.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, Plan2ExplorePolicy

SelfPlan2Explore = TypeVar("SelfPlan2Explore", bound="Plan2Explore")

#: world models Plan2Explore can sit on: the argument defaults each one changes
WORLD_MODELS: dict[str, dict[str, Any]] = {
    "dreamer": {},
    "dreamerv2": {"kl_balance": 0.8, "policy": {"stochastic_size": 32, "latent_classes": 32}},
}


class Plan2Explore(Dreamer):
    """
    Plan2Explore: a Dreamer that first explores without reward, seeking the states where an ensemble of
    one-step models disagrees, then adapts to the task. Two actor-critics learn in imagination from the
    same world model: ``"explore"`` on the ensemble's disagreement (the intrinsic reward, Eq. 5) and
    ``"task"`` on the RewardModel's prediction of the extrinsic reward, which keeps learning from all data.

    For the first ``exploration_steps`` policy steps the exploration actor collects data and the task
    reward never reaches behaviour learning of the exploration actor; after them the task actor collects
    (few-shot adaptation). ``predict`` always acts with the task actor (zero-shot evaluation at any time);
    ``with model.policy.acting_as("explore"): model.predict(obs)`` acts with the exploration actor.

    The training step is :class:`Dreamer`'s (world-model learning, then behaviour learning), with the
    ensemble trained after the world model on its detached states and the exploration behaviour added.

    Paper: https://arxiv.org/abs/2005.05960

    :param policy: the policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy, ...); its
        ``policy_kwargs`` include ``ensemble_size`` (10) and ``ensemble_target`` (``"embed"``, ``"stoch"`` or ``"obs"``)
    :param env: the environment to learn from (if registered in Gym, can be str)
    :param exploration_steps: policy steps collected by the exploration actor before the task actor takes over
    :param intrinsic_reward_scale: factor on the ensemble disagreement, the exploration actor's reward
    :param log_disagreement: reward the logarithm of the disagreement rather than the disagreement itself, as
        the authors' code does (``disag_log``): the reward no longer depends on the target's scale, and a
        state twice as uncertain earns a fixed bonus however small the variances have become
    :param world_model: ``"dreamer"`` (V1's Gaussian latents) or ``"dreamerv2"`` (32 x 32 categorical latents
        and KL balancing 0.8, unless ``kl_balance`` or the policy's ``latent_classes`` say otherwise)
    :param kwargs: every other argument of :class:`~sb3_dreamer.Dreamer`, with its defaults; the ensemble
        trains with the world model's ``learning_rate``
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: Plan2ExplorePolicy

    def __init__(
        self,
        policy: str | type[Plan2ExplorePolicy],
        env: GymEnv | str,
        exploration_steps: int = 100_000,
        intrinsic_reward_scale: float = 1.0,
        log_disagreement: bool = False,
        world_model: str = "dreamer",
        **kwargs: Any,
    ) -> None:
        if world_model not in WORLD_MODELS:
            raise ValueError(f"world_model must be one of {sorted(WORLD_MODELS)}, got {world_model!r}.")
        self.exploration_steps = exploration_steps
        self.intrinsic_reward_scale = intrinsic_reward_scale
        self.log_disagreement = log_disagreement
        self.world_model = world_model
        if "kl_balance" in WORLD_MODELS[world_model]:
            kwargs.setdefault("kl_balance", WORLD_MODELS[world_model]["kl_balance"])
        super().__init__(policy, env, **kwargs)

    @property
    def exploring(self) -> bool:
        """Whether the run is in its reward-free exploration phase (the exploration actor collects)."""
        return self.num_timesteps < self.exploration_steps

    def _build_policy_kwargs(self, policy_kwargs: dict[str, Any]) -> dict[str, Any]:
        world_model_defaults = WORLD_MODELS[self.world_model].get("policy", {})
        return super()._build_policy_kwargs({**world_model_defaults, **policy_kwargs})

    def _update_learning_rates(self, progress: float) -> None:
        super()._update_learning_rates(progress)
        update_learning_rate(self.policy.ensemble_optimizer, self.lr_schedule(progress))

    # ------------------------------------------------------------------ collection
    def _sample_action(
        self,
        learning_starts: int,
        action_noise: ActionNoise | None = None,
        n_envs: int = 1,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The exploration actor collects during the exploration phase, the task actor after it."""
        with self.policy.acting_as("explore" if self.exploring else "task"):
            return super()._sample_action(learning_starts, action_noise, n_envs)

    # ------------------------------------------------------------------ training
    def _train_behaviors(self, batch: SequenceSamples, posterior: LatentState, embed: th.Tensor) -> dict[str, th.Tensor]:
        """Ensemble learning on the replayed transitions, then both behaviours in imagination from the same
        start states: the task actor-critic on the predicted reward, the exploration one on the disagreement."""
        metrics = self._train_ensemble(batch, posterior, embed)
        start, start_weight = self._imagination_starts(posterior, batch.is_terminal)
        behaviors = self.policy.behaviors()
        replay = (batch, posterior)
        metrics.update(self._train_behavior(start, start_weight, behaviors["task"], self._task_reward, replay=replay))
        with frozen(self.policy.ensemble):  # for the actor's backward pass too (recomputed with checkpointing)
            explore = self._train_behavior(start, start_weight, behaviors["explore"], self._intrinsic_reward)
        metrics.update({f"explore_{key}": value for key, value in explore.items()})
        metrics["exploring"] = th.tensor(float(self.exploring), device=self.device)
        return metrics

    def _train_ensemble(self, batch: SequenceSamples, posterior: LatentState, embed: th.Tensor) -> dict[str, th.Tensor]:
        """Fit each one-step model to ``(s_t, a_{t+1}) -> x_{t+1}`` on the batch (``actions[:, t]`` led to
        ``o_t``), skipping pairs across an episode start; states and targets are detached, so no gradient
        reaches the world model."""
        ensemble = self.policy.ensemble
        features = posterior.features[:, :-1].detach()
        actions = batch.actions[:, 1:]
        kind = self.policy.ensemble_target
        target = embed if kind == "embed" else posterior.stoch if kind == "stoch" else self._flat_observations(batch)
        mask = (~batch.is_first[:, 1:]).to(features.dtype)
        loss = ensemble.loss(features, actions, target[:, 1:].detach(), mask)
        self._step(self.policy.ensemble_optimizer, loss, ensemble.parameters())
        with th.no_grad():
            disagreement = ensemble.disagreement(features, actions)
        return {"ensemble_loss": loss.detach(), "replay_disagreement": (disagreement * mask).sum() / mask.sum().clamp(min=1)}

    def _flat_observations(self, batch: SequenceSamples) -> th.Tensor:
        """The batch's observations as the world model reads them, flattened and joined: ``(B, L, D)``."""
        obs = self.policy.preprocess(batch.observations, batch_dims=2)
        return th.cat([value.flatten(2) for value in obs.values()], dim=-1)

    def _intrinsic_reward(self, features: th.Tensor, actions: th.Tensor) -> th.Tensor:
        """The exploration reward of imagined step ``k + 1``: the ensemble's disagreement about it given
        ``(s_k, a_k)`` (Eq. 5), or its logarithm, times ``intrinsic_reward_scale``; the ensemble is frozen
        meanwhile."""
        disagreement = self.policy.ensemble.disagreement(features[:-1], actions)
        if self.log_disagreement:
            disagreement = disagreement.clamp(min=th.finfo(disagreement.dtype).tiny).log()
        return self.intrinsic_reward_scale * disagreement

    # ------------------------------------------------------------------ saving
    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, tensors = super()._get_torch_save_params()
        extra = ["policy.explore_actor_optimizer", "policy.explore_critic_optimizer", "policy.ensemble_optimizer"]
        return [*state_dicts, *extra], tensors

    def learn(
        self: SelfPlan2Explore,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "Plan2Explore",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfPlan2Explore:
        return super().learn(total_timesteps, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)
