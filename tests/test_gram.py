"""The weight-gradient norm from Gram matrices (network._weight_grad_norm) against an
independent float64 product, in both forms and where the Gram sum cancels."""

from __future__ import annotations

import numpy as np
import pytest

from varprop.network import _weight_grad_norm, use_gram


@pytest.mark.parametrize(("batch", "n_in", "n_out"), [(8, 64, 64), (64, 64, 64), (5, 300, 7)])
@pytest.mark.parametrize("alike", [False, True])
def test_norm_matches_float64_product(batch, n_in, n_out, alike):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((batch, n_in)).astype(np.float32)
    if alike:  # deep ReLU stacks make samples alike: large off-diagonal Gram terms
        a = (1 + 0.01 * a) * rng.standard_normal(n_in).astype(np.float32)
    d = rng.standard_normal((batch, n_out)).astype(np.float32)
    if alike:
        d -= d.mean(axis=0)  # gradients that cancel over the batch
    exact = np.linalg.norm(a.astype(np.float64).T @ d.astype(np.float64))
    got = _weight_grad_norm(a, d, np.empty(n_in * n_out, dtype=np.float32))
    # The direct form is a float32 product (<= 300 terms: ~1e-6 relative, measured); the
    # Gram form is float64 even where its terms are ~100x the result and cancel.
    assert got == pytest.approx(exact, rel=1e-5)


def test_the_cheaper_form_is_chosen_by_shape():
    assert use_gram(64, 512, 512)  # 2 * 64 * 1024 < 512 * 512
    assert not use_gram(128, 512, 512)  # equal cost: the direct form
    assert not use_gram(1000, 30, 512)
