"""Networks and distributions: orthogonal init without LAPACK, log-probs, entropies and KLs, the
squashed Gaussian of SAC."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from purejaxrl.distributions import Categorical, DiagGaussian, SquashedGaussian
from purejaxrl.networks import (
    ActorCritic,
    AtariCNN,
    QNetwork,
    conv_by_matmul,
    orthogonal,
    resolve_torso,
)


@pytest.mark.parametrize("shape", [(4, 64), (64, 64), (64, 1), (3, 5, 7)])
def test_orthogonal_init_has_orthonormal_rows_or_columns(shape):
    w = np.asarray(orthogonal(2.0)(jax.random.key(0), shape)).reshape(-1, shape[-1]) / 2.0
    gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    np.testing.assert_allclose(gram, np.eye(gram.shape[0]), atol=1e-5)


def test_orthogonal_init_vmaps_over_seeds_without_deadlock_and_differs_per_seed():
    net = ActorCritic(action_dim=2, discrete=True)
    keys = jax.random.split(jax.random.key(0), 16)
    params = jax.jit(jax.vmap(lambda k: net.init(k, jnp.zeros((1, 4)))))(keys)
    kernel = params["params"]["MLP_0"]["Dense_0"]["kernel"]
    assert kernel.shape == (16, 4, 64)
    assert not np.allclose(kernel[0], kernel[1])


def test_categorical_matches_scipy():
    logits = jnp.log(jnp.array([0.2, 0.3, 0.5]))
    dist = Categorical(logits)
    np.testing.assert_allclose(dist.log_prob(jnp.array(2)), np.log(0.5), rtol=1e-6)
    np.testing.assert_allclose(dist.entropy(), stats.entropy([0.2, 0.3, 0.5]), rtol=1e-6)
    other = Categorical(jnp.zeros(3))
    np.testing.assert_allclose(
        dist.kl(other), stats.entropy([0.2, 0.3, 0.5], [1 / 3] * 3), rtol=1e-5
    )


def test_diag_gaussian_matches_scipy():
    mean, log_std = jnp.array([0.5, -1.0]), jnp.log(jnp.array([2.0, 0.5]))
    dist = DiagGaussian(mean, log_std)
    a = jnp.array([1.0, 0.0])
    expected = stats.norm(0.5, 2.0).logpdf(1.0) + stats.norm(-1.0, 0.5).logpdf(0.0)
    np.testing.assert_allclose(dist.log_prob(a), expected, rtol=1e-5)
    np.testing.assert_allclose(
        dist.entropy(), stats.norm(0, 2.0).entropy() + stats.norm(0, 0.5).entropy(), rtol=1e-5
    )
    other = DiagGaussian(jnp.zeros(2), jnp.zeros(2))
    # KL(N(m, s^2) || N(0, 1)) = log(1/s) + (s^2 + m^2) / 2 - 1/2, summed over dimensions
    by_hand = sum(np.log(1 / s) + (s**2 + m**2) / 2 - 0.5 for m, s in [(0.5, 2.0), (-1.0, 0.5)])
    np.testing.assert_allclose(dist.kl(other), by_hand, rtol=1e-5)


@pytest.mark.parametrize("jit", [False, True])
def test_squashed_log_probability_is_the_numeric_change_of_variables(jit):
    """log pi(a) = log N(u) - log |d tanh(u)/du| with the derivative taken by finite differences,
    and the squashed density integrates to 1 over (-1, 1)."""

    def log_prob(u, mean, log_std):
        return SquashedGaussian(mean, log_std).log_prob_presquash(u)

    log_prob = jax.jit(log_prob) if jit else log_prob
    mean, log_std = jnp.array([0.3]), jnp.array([-0.2])
    u = np.linspace(-4.0, 4.0, 81)
    h = 1e-4
    dtanh = (np.tanh(u + h) - np.tanh(u - h)) / (2 * h)
    std = np.exp(-0.2)
    log_normal = -0.5 * ((u - 0.3) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    expected = log_normal - np.log(dtanh)
    got = np.asarray(log_prob(jnp.asarray(u)[:, None], mean, log_std))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    a = np.linspace(-1 + 1e-6, 1 - 1e-6, 400_001)  # density of a, integrated by the trapezoid rule
    density = np.exp(
        np.asarray(log_prob(jnp.arctanh(jnp.asarray(a, jnp.float32))[:, None], mean, log_std))
    )
    assert np.trapezoid(density, a) == pytest.approx(1.0, abs=2e-3)


def test_squashed_samples_stay_in_bounds_and_their_log_probabilities_sum_over_dimensions():
    mean = jnp.array([[0.0, 3.0], [-2.0, 0.5]])
    log_std = jnp.array([[0.0, -1.0], [1.0, -3.0]])
    action, log_pi = SquashedGaussian(mean, log_std).sample_and_log_prob(jax.random.key(0))
    assert action.shape == (2, 2) and log_pi.shape == (2,)
    assert np.all(np.abs(np.asarray(action)) < 1.0)
    u = jnp.arctanh(action)  # recovers the pre-squash sample (exact enough away from +-1)
    per_dim = [
        SquashedGaussian(mean[:, i : i + 1], log_std[:, i : i + 1]).log_prob_presquash(
            u[:, i : i + 1]
        )
        for i in range(2)
    ]
    np.testing.assert_allclose(log_pi, per_dim[0] + per_dim[1], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("jit", [False, True])
def test_squashed_gaussian_log_probabilities_by_hand(jit):
    """log pi(tanh(u)) = log N(u; mean, std) - sum_i log(1 - tanh(u_i)^2), with
    log N(0; 0, 1) = -log(2 pi) / 2 = -0.9189385 and log(1 - tanh(1)^2) = -0.8675617."""

    def log_prob(u, mean, log_std):
        return SquashedGaussian(mean, log_std).log_prob_presquash(u)

    log_prob = jax.jit(log_prob) if jit else log_prob
    zero, one = jnp.zeros(1), jnp.ones(1)
    assert float(log_prob(zero, zero, zero)) == pytest.approx(-0.9189385, abs=1e-6)
    # u = 1: -1/2 - 0.9189385 + 0.8675617
    assert float(log_prob(one, zero, zero)) == pytest.approx(-0.5513768, abs=1e-6)
    # u = 20: log(1 - tanh^2) = log 4 - 40 + O(e^-40), finite although tanh(20) rounds to 1
    got = float(log_prob(20 * one, zero, zero))
    assert got == pytest.approx(-200 - 0.9189385 - (1.3862944 - 40), rel=1e-6)
    # two dimensions sum: (0, 1) and std (1, 2) at u = (1, 1): the second is
    # -log 2 - 0.9189385 + 0.8675617 = -0.7445240
    mean, log_std = jnp.array([0.0, 1.0]), jnp.log(jnp.array([1.0, 2.0]))
    assert float(log_prob(jnp.ones(2), mean, log_std)) == pytest.approx(
        -0.5513768 - 0.7445240, abs=1e-5
    )


@pytest.mark.parametrize("jit", [False, True])
def test_squashed_gaussian_sample_is_tanh_of_the_gaussian_sample_and_its_mode_tanh_of_the_mean(jit):
    dist = SquashedGaussian(jnp.array([0.5, -3.0]), jnp.log(jnp.array([0.1, 2.0])))
    sample = jax.jit(type(dist).sample_and_log_prob) if jit else type(dist).sample_and_log_prob
    key = jax.random.key(3)
    action, log_pi = sample(dist, key)
    u = DiagGaussian(dist.mean, dist.log_std).sample(key)
    np.testing.assert_allclose(action, np.tanh(np.asarray(u)), rtol=1e-6)
    np.testing.assert_allclose(log_pi, dist.log_prob_presquash(u), rtol=1e-6)
    np.testing.assert_allclose(dist.mode(), [np.tanh(0.5), np.tanh(-3.0)], rtol=1e-6)


@pytest.mark.parametrize(
    "height,channels,kernel,stride",
    [(84, 4, 8, 4), (20, 32, 4, 2), (9, 64, 3, 1), (11, 3, 3, 2), (85, 2, 8, 4)],
)
def test_convolution_by_matmul_equals_xla_convolution(height, channels, kernel, stride):
    x = jax.random.normal(jax.random.key(0), (2, height, height, channels))
    w = jax.random.normal(jax.random.key(1), (kernel, kernel, channels, 5))
    expected = jax.lax.conv_general_dilated(
        x, w, (stride, stride), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    np.testing.assert_allclose(conv_by_matmul(x, w, stride), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "kind,width",
    # the Nature CNN's comparison compiles for half a minute here; the layer-level check above
    # and the small CNN keep the fast tier's coverage of the same code
    [pytest.param("nature_cnn", 512, marks=pytest.mark.slow), ("small_cnn", 256)],
)
def test_atari_cnns_output_shapes_and_agree_between_implementations(kind, width):
    frames = jax.random.randint(jax.random.key(0), (3, 4, 84, 84), 0, 256).astype(jnp.uint8)
    params = AtariCNN(kind).init(jax.random.key(1), frames)
    features = AtariCNN(kind, im2col=True).apply(params, frames)
    assert features.shape == (3, width)
    np.testing.assert_allclose(
        AtariCNN(kind, im2col=False).apply(params, frames), features, rtol=1e-4, atol=1e-4
    )
    convs = [k for k in params["params"] if k.startswith("Conv2D")]
    assert len(convs) == (3 if kind == "nature_cnn" else 2)
    q = QNetwork(6, torso=kind)
    assert q.apply(q.init(jax.random.key(2), frames), frames).shape == (3, 6)
    ac = ActorCritic(6, discrete=True, torso=kind)
    dist, value = ac.apply(ac.init(jax.random.key(3), frames), frames)
    assert dist.logits.shape == (3, 6) and value.shape == (3,)


def test_auto_torso_is_the_nature_cnn_for_frames_and_an_mlp_for_vectors():
    from gymnax.environments import spaces

    assert resolve_torso("auto", spaces.Box(0, 255, (4, 84, 84), jnp.uint8)) == "nature_cnn"
    assert resolve_torso("auto", spaces.Box(-1, 1, (4,), jnp.float32)) == "mlp"
    assert resolve_torso("small_cnn", spaces.Box(-1, 1, (4,), jnp.float32)) == "small_cnn"
