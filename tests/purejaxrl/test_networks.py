"""Networks and distributions: orthogonal init without LAPACK, log-probs, entropies and KLs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from purejaxrl.distributions import Categorical, DiagGaussian
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


@pytest.mark.parametrize("kind,width", [("nature_cnn", 512), ("small_cnn", 256)])
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
