"""Networks and distributions: orthogonal init without LAPACK, log-probs, entropies and KLs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from purejaxrl.distributions import Categorical, DiagGaussian
from purejaxrl.networks import ActorCritic, orthogonal


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
