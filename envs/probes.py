"""Probe environments: tiny MDPs whose optimal values and policies are known by heart.

Each isolates one thing an algorithm must get right (the idea of Andy Jones's "debugging RL"
probes, also used by rejax), so a failing probe points at the bug:

    Probe-Constant       obs 0, one step, reward 1              -> V = 1        (value fitting)
    Probe-ObsReward      obs +-1, one step, reward = obs        -> V(o) = o     (value uses obs)
    Probe-TwoStep        obs 0 then 1, reward 1 at the end      -> V = (gamma, 1) (discounting)
    Probe-ActionReward   obs 0, one step, reward for action     -> pi = best action (policy)
    Probe-ObsActionReward  obs +-1, reward when action matches   -> pi(o) = matching action
    Probe-FirstObsMemory   a +-1 cue at the episode's first step, -> pi = the first obs's action
                           then +-1 distractors; 1 to 8 steps      (memory, reset at episode starts)

Each id comes in a discrete form ("-v0", actions {0, 1}) and a continuous form ("Continuous-v0",
one action in [-1, 1]). Discrete reward for actions: 1 for the rewarded action, 0 otherwise.
Continuous: 1 - (a - a*)^2 with a* = 0.5 (ActionReward) or a* = obs / 2 (ObsActionReward).

Probe-FirstObsMemory (`MemoryProbe`) is the probe of recurrent agents: every observation is an
independent fair sign +-1, and every step rewards the action matching the sign shown at the
episode's *first* step (discrete: action (cue > 0); continuous: a* = cue / 2). Episodes last
1 to 8 steps, uniformly, and nothing in an observation marks where one begins, so only a memory
reset exactly at episode starts can tell which sign was the cue: the optimal policy scores 1 per
step; one whose memory runs on across episodes cannot beat guessing from the recent signs
(about 0.6 per step; see tests/purejaxrl/test_ppo_rnn.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class ProbeState(environment.EnvState):
    obs: jax.Array  # () the current observation value
    step: jax.Array  # () steps taken in this episode


@struct.dataclass
class ProbeParams(environment.EnvParams):
    max_steps_in_episode: int = 100


KINDS = ("Constant", "ObsReward", "TwoStep", "ActionReward", "ObsActionReward")


class SignSpaces:
    """The spaces every probe shares: a one-entry observation in [-1, 1], and two actions (or
    one continuous action in [-1, 1] when `self.continuous`); `step` decides when it ends."""

    continuous: bool

    def is_terminated(self, state, params) -> jax.Array:
        return jnp.bool_(False)

    def action_space(self, params=None):
        if self.continuous:
            return spaces.Box(-1.0, 1.0, (1,), jnp.float32)
        return spaces.Discrete(2)

    def observation_space(self, params=None):
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)


class Probe(SignSpaces, environment.Environment[ProbeState, ProbeParams]):
    """One probe MDP; `kind` is one of `KINDS`, `continuous` picks the action space."""

    def __init__(self, kind: str, continuous: bool = False):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown probe kind {kind!r}; one of {', '.join(KINDS)}")
        self.kind, self.continuous = kind, continuous

    @property
    def default_params(self) -> ProbeParams:
        return ProbeParams()

    @property
    def name(self) -> str:
        return probe_id(self.kind, self.continuous)

    @property
    def num_actions(self) -> int:
        return 1 if self.continuous else 2

    def _random_sign(self, key) -> jax.Array:
        if self.kind in ("ObsReward", "ObsActionReward"):
            return jnp.where(jax.random.bernoulli(key), 1.0, -1.0)
        return jnp.float32(0.0)

    def reset_env(self, key, params):
        state = ProbeState(time=0, obs=self._random_sign(key), step=jnp.int32(0))
        return self.observe(key, state, None, params), state

    def step_env(self, key, state: ProbeState, action, params):
        action = jnp.asarray(action)
        if self.continuous:
            a = jnp.reshape(action, (-1,))[0]
            target = 0.5 if self.kind == "ActionReward" else state.obs / 2
            action_reward = 1.0 - (a - target) ** 2
        else:
            target = 1 if self.kind == "ActionReward" else (state.obs > 0).astype(jnp.int32)
            action_reward = (action == target).astype(jnp.float32)
        reward, terminated, next_obs = {
            "Constant": (jnp.float32(1.0), True, 0.0),
            "ObsReward": (state.obs, True, state.obs),
            "TwoStep": (
                jnp.where(state.step == 1, 1.0, 0.0),
                state.step == 1,
                jnp.float32(1.0),
            ),
            "ActionReward": (action_reward, True, 0.0),
            "ObsActionReward": (action_reward, True, state.obs),
        }[self.kind]
        terminated = jnp.asarray(terminated)
        new_state = ProbeState(time=state.time + 1, obs=jnp.float32(next_obs), step=state.step + 1)
        obs = self.observe(key, new_state, action, params)
        return obs, new_state, jnp.float32(reward), terminated, {}

    def observe(self, key, state: ProbeState, action, params) -> jax.Array:
        return jnp.reshape(state.obs, (1,)).astype(jnp.float32)


@struct.dataclass
class MemoryProbeState(environment.EnvState):
    cue: jax.Array  # () +-1, the sign shown at the episode's first step
    obs: jax.Array  # () +-1, the sign shown now
    step: jax.Array  # () steps taken in this episode
    length: jax.Array  # () steps this episode lasts, uniform in [1, max_length]


class MemoryProbe(SignSpaces, environment.Environment[MemoryProbeState, ProbeParams]):
    """Probe-FirstObsMemory: reward for recalling the episode's first observation (see above)."""

    max_length: int = 8

    def __init__(self, continuous: bool = False):
        super().__init__()
        self.continuous = continuous

    @property
    def default_params(self) -> ProbeParams:
        return ProbeParams()

    @property
    def name(self) -> str:
        return probe_id("FirstObsMemory", self.continuous)

    @property
    def num_actions(self) -> int:
        return 1 if self.continuous else 2

    def reset_env(self, key, params):
        sign_key, length_key = jax.random.split(key)
        cue = jnp.where(jax.random.bernoulli(sign_key), 1.0, -1.0)
        length = jax.random.randint(length_key, (), 1, self.max_length + 1)
        state = MemoryProbeState(time=0, cue=cue, obs=cue, step=jnp.int32(0), length=length)
        return self.observe(state), state

    def step_env(self, key, state: MemoryProbeState, action, params):
        action = jnp.asarray(action)
        if self.continuous:
            reward = 1.0 - (jnp.reshape(action, (-1,))[0] - state.cue / 2) ** 2
        else:
            reward = (action == (state.cue > 0).astype(jnp.int32)).astype(jnp.float32)
        step = state.step + 1
        distractor = jnp.where(jax.random.bernoulli(key), 1.0, -1.0)
        new_state = state.replace(time=state.time + 1, obs=distractor, step=step)
        return self.observe(new_state), new_state, jnp.float32(reward), step >= state.length, {}

    def observe(self, state: MemoryProbeState) -> jax.Array:
        return jnp.reshape(state.obs, (1,)).astype(jnp.float32)


def probe_id(kind: str, continuous: bool) -> str:
    return f"Probe-{kind}{'Continuous' if continuous else ''}-v0"


def make_probe(kind: str, continuous: bool, **kwargs):
    """The probe env of `kind` (one of `KINDS` or "FirstObsMemory")."""
    if kind == "FirstObsMemory":
        return MemoryProbe(continuous, **kwargs)
    return Probe(kind, continuous, **kwargs)


PROBES = {probe_id(k, c): (k, c) for k in (*KINDS, "FirstObsMemory") for c in (False, True)}
"""Every probe id -> (kind, continuous)."""
