"""Triangle area and triplet energy against independent float64 references."""

import numpy as np
import pytest
import torch

from dynaflip.objective import anchored_energy_matrices, safe_sqrt, triangle_area, triplet_energy


def gram_area(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    """Reference: half the square root of the Gram determinant, in float64 with numpy.linalg.det."""
    edges = np.stack([a - c, b - c]).astype(np.float64)
    return 0.5 * float(np.sqrt(max(np.linalg.det(edges @ edges.T), 0.0)))


def test_area_matches_gram_determinant_in_high_dimensions():
    rng = np.random.default_rng(0)
    corners = rng.normal(size=(64, 3, 32))
    got = triangle_area(*(torch.tensor(corners[:, i], dtype=torch.float64) for i in range(3)))
    want = np.array([gram_area(*corners[n]) for n in range(64)])
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


def test_area_matches_cross_product_in_3d_float32():
    rng = np.random.default_rng(1)
    a, b, c = (rng.normal(size=(100, 3)) for _ in range(3))
    want = 0.5 * np.linalg.norm(np.cross(a - c, b - c), axis=-1)
    got = triangle_area(*(torch.tensor(x, dtype=torch.float32) for x in (a, b, c)))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-4)


def test_area_broadcasts_over_leading_dims():
    a = torch.randn(4, 1, 8)
    b = torch.randn(1, 5, 8)
    c = torch.randn(8)
    area = triangle_area(a, b, c)
    assert area.shape == (4, 5)
    assert torch.allclose(area[2, 3], triangle_area(a[2, 0], b[0, 3], c))


def test_area_is_symmetric_in_its_corners():
    a, b, c = torch.randn(3, 10, 16, dtype=torch.float64)
    reference = triangle_area(a, b, c)
    for order in ((b, c, a), (c, a, b), (b, a, c)):
        assert torch.allclose(triangle_area(*order), reference)


@pytest.mark.parametrize("case", ["coincident", "two_coincident", "collinear", "near_collinear"])
def test_gradients_are_finite_at_degenerate_triangles(case):
    base = torch.randn(16, dtype=torch.float64)
    direction = torch.randn(16, dtype=torch.float64)
    if case == "coincident":
        a, b, c = base.clone(), base.clone(), base.clone()
    elif case == "two_coincident":
        a, b, c = base.clone(), base.clone(), base + direction
    elif case == "collinear":
        a, b, c = base, base + direction, base + 2.5 * direction
    else:
        a, b, c = base, base + direction, base + 2 * direction + 1e-9 * torch.randn(16, dtype=torch.float64)
    corners = [x.clone().requires_grad_(True) for x in (a, b, c)]
    area = triangle_area(*corners)
    area.backward()
    assert area.item() == pytest.approx(0.0, abs=1e-3)
    for corner in corners:
        assert torch.isfinite(corner.grad).all()


def test_safe_sqrt_is_continuous_and_exact_above_eps():
    x = torch.tensor([0.0, 1e-10, 1e-8, 1e-6, 1.0, 4.0], dtype=torch.float64)
    y = safe_sqrt(x, eps=1e-8)
    assert y[0] == 0
    assert torch.allclose(y[3:], x[3:].sqrt())
    assert torch.isclose(
        safe_sqrt(torch.tensor(1e-8 + 1e-18, dtype=torch.float64)), torch.tensor(1e-4, dtype=torch.float64)
    )


def test_energy_matrices_match_explicit_triplets():
    """Each (row, column) entry equals A - alpha <L, F> of the triplet it stands for, built explicitly."""
    torch.manual_seed(0)
    batch, dim, alpha = 6, 12, 0.7
    z = {
        m: torch.nn.functional.normalize(torch.randn(batch, dim, dtype=torch.float64), dim=-1)
        for m in ("image", "language", "flow")
    }
    energies = anchored_energy_matrices(z, z, alpha=alpha, eps=1e-12)

    def energy(image, language, flow):
        return (triangle_area(image, language, flow, eps=1e-12) - alpha * (language * flow).sum()).item()

    for i in range(batch):
        for j in range(batch):
            assert energies["image"][i, j].item() == pytest.approx(
                energy(z["image"][i], z["language"][j], z["flow"][j]), abs=1e-10
            )
            assert energies["language"][i, j].item() == pytest.approx(
                energy(z["image"][j], z["language"][i], z["flow"][j]), abs=1e-10
            )
            assert energies["flow"][i, j].item() == pytest.approx(
                energy(z["image"][j], z["language"][j], z["flow"][i]), abs=1e-10
            )


def test_energy_of_identical_unit_vectors_is_minus_alpha():
    v = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    dots = (v * v).sum(-1)
    assert torch.allclose(triplet_energy(dots, dots, dots, alpha=1.0, eps=1e-8), -torch.ones(5), atol=1e-6)
