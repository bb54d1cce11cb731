"""The JAX environment suites (Craftax, XLand-MiniGrid, Jumanji, MuJoCo Playground) as gymnax 1.0
environments.

An id names its suite before a colon: `craftax:Craftax-Classic-Symbolic-v1`,
`xminigrid:MiniGrid-MemoryS8`, `jumanji:Snake-v1`, `playground:CartpoleBalance`. One adapter,
`SuiteEnv`, makes any of them a gymnax `Environment`, so the whole training stack (episode
statistics, flattening, vmapping, `obs_keep`, observation normalisation) and every algorithm see
them as they see gymnax's own envs. What differs between the suites is a small binding each
(`_Craftax`, `_XMinigrid`, `_Jumanji`, `_Playground`): how to reset and step the suite's env
without its own auto-reset, and what it observes. The adapter then gives all four the same
semantics:

- auto-reset inside `step` by gymnax's base class: the step key splits into (step, reset) keys,
  the pre-reset observation goes to `info["final_observation"]`;
- `terminated`: the episode ended by the task's own rule (Craftax: death or lava; XLand-MiniGrid
  and Jumanji: a last step with discount 0); `truncated`: it reached the suite's time limit
  without terminating (Craftax's `max_timesteps`, XLand-MiniGrid's `max_steps`, Jumanji's
  `time_limit`; a last step with discount 1), or the parameter `max_steps_in_episode` when it is
  lower (Playground's envs keep no time limit of their own: theirs is that parameter, set from
  the env's `episode_length`, as Playground's training wrapper sets it);
- float32 observations: Craftax's symbolic vector as it is (1345 entries); XLand-MiniGrid's
  egocentric view (view, view, 2) of tile and colour ids, which the training stack flattens
  (98 entries at the default 7x7 view: ids, not one-hot; `--env-options one_hot=True` observes
  (view, view, 25) one-hot tile and colour codes instead, 1225 entries); Jumanji's observation pytree (grid,
  board, action mask, step count, ...) flattened leaf by leaf and concatenated in the order of
  its fields;
- discrete actions (Craftax 17, XLand-MiniGrid 6, Jumanji's `num_values`); Jumanji's action
  masks are part of the observation, and a masked action is stepped as the suite steps it;
- Playground: its vector observation and continuous actions in [-1, 1]^action_size (the training
  stack clips them); `terminated` is its `done` (dm_control's tasks: only a NaN in the physics),
  the reward its reward.

Served: Craftax-Classic-Symbolic-v1; every `MiniGrid-*` id of XLand-MiniGrid (its `XLand-*` ids
need rule sets that xminigrid downloads); the single-agent Jumanji ids with one discrete action
(tested on Snake-v1 and Game2048-v1); Playground's envs with a vector observation (its
dm_control suite; tested on CartpoleBalance), stepped with MJX's JAX implementation
(`impl="jax"`, which runs on a CPU as on a GPU). Options of the suite's own
(`make(id, max_steps=20)`, or `--env-options max_steps=20` on the command line) go to its
constructor or parameters: Craftax's `EnvParams`, `xminigrid.make`, `jumanji.make`, Playground's
config overrides (`episode_length=`, `impl=`, ...); `one_hot=True` is ours (`_XMinigrid`).

Each suite is an optional dependency (the `suites` extra; Playground: the `mjx` extra) and is
imported only when one of its ids is asked for.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

SUITES = ("craftax", "xminigrid", "jumanji", "playground")
"""The suites, as the prefixes of their env ids."""

INSTALL_HINT = "it needs the suite: pip install 'purejaxrl[suites]'"
INSTALL_HINTS = {"playground": "it needs MuJoCo Playground: pip install 'purejaxrl[mjx]'"}
"""Per suite, where it is not `INSTALL_HINT`."""

CRAFTAX_IDS = ("Craftax-Classic-Symbolic-v1",)


class SuiteExtraMissingError(ImportError):
    """A suite's env id while the suite's package is not installed."""


class UnsupportedSuiteIdError(ValueError):
    """An id its suite knows but the adapter does not serve (e.g. a multi-discrete action)."""


def split_id(env_id: str) -> tuple[str, str] | None:
    """(suite, the suite's own id) of a suite id such as `jumanji:Snake-v1`; None for other ids."""
    prefix, sep, name = env_id.partition(":")
    return (prefix, name) if sep and prefix in SUITES else None


def _import(suite: str, env_id: str):
    try:
        if suite == "craftax":
            from craftax.craftax_classic.envs import craftax_symbolic_env

            return craftax_symbolic_env
        if suite == "xminigrid":
            import xminigrid

            return xminigrid
        if suite == "playground":
            from mujoco_playground import registry

            return registry
        import jumanji

        return jumanji
    except ImportError:
        hint = INSTALL_HINTS.get(suite, INSTALL_HINT)
        raise SuiteExtraMissingError(f"env id {env_id!r}: {hint}") from None


def suite_ids(suite: str, env_id: str = "") -> tuple[str, ...]:
    """The ids `suite` knows (imports it; `env_id` names the id asked for in its error)."""
    module = _import(suite, env_id or f"{suite}:")
    if suite == "craftax":
        return CRAFTAX_IDS
    if suite == "playground":
        return tuple(sorted(module.ALL_ENVS))
    return tuple(sorted(module.registered_environments()))


class _Craftax:
    """Craftax-Classic with symbolic observations: its env without auto-reset."""

    def __init__(self, name: str, **options):
        module = _import("craftax", f"craftax:{name}")
        self.env = module.CraftaxClassicSymbolicEnvNoAutoReset()
        self.params = self.env.default_params.replace(**options)
        self.episode_limit = int(self.params.max_timesteps)
        # the game-over rule without the time limit: Craftax ends an episode by death or lava too
        self._untimed = self.params.replace(max_timesteps=jnp.iinfo(jnp.int32).max)
        self.num_actions = 17
        space = self.env.observation_space(self.params)
        self.observation_space = spaces.Box(0.0, 1.0, space.shape, jnp.float32)

    def reset(self, key):
        return self.env.reset_env(key, self.params)

    def step(self, key, state, action):
        obs, state, reward, done, info = self.env.step_env(key, state, action, self.params)
        terminated = self.env.is_terminal(state, self._untimed)
        return obs, state, reward, terminated, done & ~terminated, info


def _dm_env_ends(timestep) -> tuple[jax.Array, jax.Array]:
    """(terminated, truncated) of a dm_env-style time step (XLand-MiniGrid's, Jumanji's): a last
    step with discount 0 terminates, one with a nonzero discount is a truncation."""
    last = timestep.step_type == 2  # StepType.LAST in both suites
    return last & (timestep.discount == 0), last & (timestep.discount != 0)


class _XMinigrid:
    """An XLand-MiniGrid `MiniGrid-*` env; its state is xminigrid's `TimeStep`.

    `one_hot=True` (an option of ours, not xminigrid's) observes each cell of the view as the
    one-hot codes of its tile and its colour, concatenated: (view, view, NUM_TILES + NUM_COLORS)
    in {0, 1}, so that an MLP does not read the ids as magnitudes (a key, id 7, is not "more" than
    a wall, id 2); XLand-MiniGrid's own baselines embed the ids for the same reason. The default
    observes xminigrid's ids as they are."""

    def __init__(self, name: str, one_hot: bool = False, **options):
        if not isinstance(one_hot, bool):
            raise ValueError(f"one_hot={one_hot!r}: must be True or False")
        xminigrid = _import("xminigrid", f"xminigrid:{name}")
        from xminigrid.core.constants import NUM_COLORS, NUM_TILES

        self.env, self.params = xminigrid.make(name, **options)
        self.episode_limit = int(self.params.max_steps)
        self.num_actions = int(self.env.num_actions(self.params))
        shape = tuple(int(size) for size in self.env.observation_shape(self.params))
        self.codes = (int(NUM_TILES), int(NUM_COLORS)) if one_hot else None
        if one_hot:
            self.observation_space = spaces.Box(
                0.0, 1.0, (*shape[:-1], sum(self.codes)), jnp.float32
            )
        else:
            high = max(NUM_TILES, NUM_COLORS) - 1
            self.observation_space = spaces.Box(0.0, high, shape, jnp.float32)

    def observe(self, observation: jax.Array) -> jax.Array:
        """xminigrid's (view, view, 2) ids as our float32 observation (see the class docstring)."""
        if self.codes is None:
            return observation.astype(jnp.float32)
        tiles, colours = observation[..., 0], observation[..., 1]
        return jnp.concatenate(
            [jax.nn.one_hot(tiles, self.codes[0]), jax.nn.one_hot(colours, self.codes[1])], axis=-1
        )

    def reset(self, key):
        timestep = self.env.reset(self.params, key)
        return self.observe(timestep.observation), timestep

    def step(self, key, timestep, action):
        timestep = self.env.step(self.params, timestep, action)  # its randomness is in the state
        terminated, truncated = _dm_env_ends(timestep)
        obs = self.observe(timestep.observation)
        return obs, timestep, timestep.reward, terminated, truncated, {}


def flat_observation(observation) -> jax.Array:
    """A Jumanji observation (a pytree of arrays) as one float32 vector: its leaves raveled and
    concatenated in field order."""
    leaves = jax.tree.leaves(observation)
    return jnp.concatenate([jnp.ravel(leaf).astype(jnp.float32) for leaf in leaves])


class _Jumanji:
    """A single-agent Jumanji env with one discrete action; its state is Jumanji's state."""

    def __init__(self, name: str, **options):
        jumanji = _import("jumanji", f"jumanji:{name}")
        self.env = jumanji.make(name, **options)
        action_spec = self.env.action_spec
        if not isinstance(action_spec, jumanji.specs.DiscreteArray):
            raise UnsupportedSuiteIdError(
                f"env id 'jumanji:{name}': its action is a {type(action_spec).__name__} of shape "
                f"{tuple(action_spec.shape)}; the suite adapter takes one discrete action "
                "(e.g. jumanji:Snake-v1, jumanji:Game2048-v1)"
            )
        self.num_actions = int(action_spec.num_values)
        self.episode_limit = int(getattr(self.env, "time_limit", 0) or 0)
        _, timestep = jax.eval_shape(self.env.reset, jax.random.key(0))
        size = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(timestep.observation))
        # Jumanji's specs give bounds per field; the flat vector keeps none (nothing reads them)
        self.observation_space = spaces.Box(-jnp.inf, jnp.inf, (size,), jnp.float32)

    def reset(self, key):
        state, timestep = self.env.reset(key)
        return flat_observation(timestep.observation), state

    def step(self, key, state, action):
        state, timestep = self.env.step(state, action)  # its randomness is in the state
        terminated, truncated = _dm_env_ends(timestep)
        obs = flat_observation(timestep.observation)
        return obs, state, timestep.reward, terminated, truncated, {}


class _Playground:
    """A MuJoCo Playground env with a vector observation; its state is the leaves of Playground's
    `State` that hold something, as a tuple (MJX's `Data` has many arrays of size 0, e.g. the
    contacts of a model without any: they are rebuilt as zeros at each step, because an array of
    size 0 loses the run axis's sharding when the runner splits runs over devices).

    Built by Playground's `registry.load` with `impl="jax"` (MJX's JAX implementation) unless the
    options override it; the options are Playground's config overrides, checked against the env's
    default config. The time limit is the config's `episode_length` (Playground's training wrapper
    truncates there), applied by `SuiteEnv` through `max_steps_in_episode`.
    """

    def __init__(self, name: str, **options):
        env_id = f"playground:{name}"
        registry = _import("playground", env_id)
        config = registry.get_default_config(name)
        allowed = sorted(config.keys())
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise UnsupportedSuiteIdError(
                f"env id {env_id!r}: {', '.join(unknown)}: not in its Playground config; it takes "
                f"{', '.join(f'{key}=' for key in allowed)}"
            )
        try:
            config.update_from_flattened_dict({"impl": "jax", **options})
            self.env = registry.load(name, config=config)
        except (TypeError, ValueError, KeyError) as error:
            first_line = str(error).strip().splitlines()[0]
            raise UnsupportedSuiteIdError(
                f"env id {env_id!r} with {options}: {first_line}"
            ) from None
        self.episode_limit = int(
            config.episode_length
        )  # read after the env has built (it may set it)
        state = jax.eval_shape(self.env.reset, _raw_key(jax.random.key(0)))
        leaves, self._treedef = jax.tree.flatten(state)
        self._empty = {i: leaf for i, leaf in enumerate(leaves) if leaf.size == 0}
        obs = state.obs
        if not isinstance(obs, jax.ShapeDtypeStruct) or len(obs.shape) != 1:
            raise UnsupportedSuiteIdError(
                f"env id {env_id!r}: its observation is {jax.tree.map(lambda x: x.shape, obs)}; the "
                "suite adapter takes one vector (e.g. playground:CartpoleBalance, the dm_control "
                "suite's envs)"
            )
        self.observation_space = spaces.Box(-jnp.inf, jnp.inf, obs.shape, jnp.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (int(self.env.action_size),), jnp.float32)

    def _pack(self, state) -> tuple[jax.Array, ...]:
        leaves = jax.tree.leaves(state)
        return tuple(leaf for i, leaf in enumerate(leaves) if i not in self._empty)

    def _unpack(self, packed: tuple[jax.Array, ...]):
        packed = iter(packed)
        leaves = [
            jnp.zeros(self._empty[i].shape, self._empty[i].dtype)
            if i in self._empty
            else next(packed)
            for i in range(self._treedef.num_leaves)
        ]
        return jax.tree.unflatten(self._treedef, leaves)

    def reset(self, key):
        state = self.env.reset(_raw_key(key))
        return state.obs.astype(jnp.float32), self._pack(state)

    def step(self, key, packed, action):
        state = self.env.step(self._unpack(packed), action)  # its randomness is in its state
        terminated = state.done > 0
        obs = state.obs.astype(jnp.float32)
        return obs, self._pack(state), state.reward, terminated, jnp.bool_(False), {}


def _raw_key(key: jax.Array) -> jax.Array:
    """`key` as a raw uint32 key (Playground splits and reshapes keys as uint32 arrays)."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    return key


_BINDINGS = {
    "craftax": _Craftax,
    "xminigrid": _XMinigrid,
    "jumanji": _Jumanji,
    "playground": _Playground,
}
"""A binding, per suite, built from the suite's own id and options: `reset(key) -> (obs, state)`,
`step(key, state, action) -> (obs, state, reward, terminated, truncated, info)` without auto-reset
(obs float32 of `observation_space.shape`, the rest scalars), `observation_space`, either
`num_actions` (discrete actions) or `action_space` (a Box), and `episode_limit` (0: none).
Adding a suite: a binding here, its prefix in `SUITES`, its import in `_import` and its ids in
`suite_ids`."""


@struct.dataclass
class SuiteState(environment.EnvState):
    inner: Any  # the suite's own state (xminigrid: its TimeStep)
    truncated: jax.Array  # () bool, whether the step into this state hit the time limit


@struct.dataclass
class SuiteParams(environment.EnvParams):
    max_steps_in_episode: int = 0
    """The time limit (0: none), the suite's own by default; a lower one truncates episodes
    earlier (a higher one does not lift the suite's own). The suite's own parameters stay with its
    binding."""


class SuiteEnv(environment.Environment[SuiteState, SuiteParams]):
    """One env of a JAX suite as a gymnax env (see the module docstring for the semantics)."""

    def __init__(self, env_id: str, **options):
        super().__init__()
        parts = split_id(env_id)
        if parts is None:
            raise ValueError(f"{env_id!r} is not a suite id ({', '.join(SUITES)}:<id>)")
        self.env_id = env_id
        suite, name = parts
        if suite == "xminigrid" and not name.startswith("MiniGrid-"):
            raise UnsupportedSuiteIdError(
                f"env id {env_id!r}: XLand-MiniGrid's XLand-* ids need rule sets that xminigrid "
                "downloads; the MiniGrid-* ids are served (e.g. xminigrid:MiniGrid-MemoryS8)"
            )
        self.binding = _BINDINGS[suite](name, **options)

    @property
    def default_params(self) -> SuiteParams:
        return SuiteParams(max_steps_in_episode=self.binding.episode_limit)

    @property
    def name(self) -> str:
        return self.env_id

    @property
    def num_actions(self) -> int:
        return self.binding.num_actions

    def reset_env(self, key, params):
        obs, inner = self.binding.reset(key)
        return obs, SuiteState(time=0, inner=inner, truncated=jnp.bool_(False))

    def step_env(self, key, state: SuiteState, action, params):
        discrete = isinstance(self.action_space(), spaces.Discrete)
        action = jnp.asarray(action, jnp.int32 if discrete else jnp.float32)
        obs, inner, reward, terminated, truncated, info = self.binding.step(
            key, state.inner, action
        )
        time = state.time + 1
        limit = params.max_steps_in_episode  # 0: none; the suite's own limit applies besides it
        truncated = truncated | ((limit > 0) & (time >= limit) & ~terminated)
        state = SuiteState(time=time, inner=inner, truncated=truncated)
        return obs, state, jnp.asarray(reward, jnp.float32), terminated, info

    def is_truncated(self, state: SuiteState, params) -> jax.Array:
        return state.truncated

    def action_space(self, params=None):
        if hasattr(self.binding, "action_space"):
            return self.binding.action_space
        return spaces.Discrete(self.binding.num_actions)

    def observation_space(self, params=None):
        return self.binding.observation_space
