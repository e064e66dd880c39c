"""muP is the only parametrization on a grid that updates every layer maximally and
initializes the readout maximally, up to the symmetry (Tensor Programs IV)."""

import itertools
from fractions import Fraction as F

import pytest

from infwidth.parametrizations import Parametrization, classify, mup

H = F(1, 2)


def _maximal(p):
    c = classify(p)
    return c.stable and all(c.updated_maximally) and c.readout_initialized_maximally


@pytest.mark.parametrize(
    "L, a_vals, b_vals, c_vals, a_out_vals",
    [
        (1, (-1, -H, 0, H, 1), (-H, 0, H, 1), (-1, -H, 0, H, 1), (-H, 0, H, 1)),
        (2, (-1, -H, 0, H), (0, H, 1), (-1, 0, 1), (0, H)),
    ],
)
def test_mup_is_the_unique_maximal_one(L, a_vals, b_vals, c_vals, a_out_vals):
    found = []
    for a_in in itertools.product(a_vals, repeat=L):
        for a_out in a_out_vals:
            for b in itertools.product(b_vals, repeat=L + 1):
                for c in c_vals:
                    p = Parametrization(a=(*a_in, a_out), b=b, c=c)
                    if _maximal(p):
                        found.append(p)
    assert found, "muP itself lies on the grid"
    assert all(p.equivalent(mup(L)) for p in found)
    # both the table form (a_{L+1} = 1/2) and the canonical one (a_{L+1} = 0) are on the grid
    assert {F(0), H} <= {p.a[-1] for p in found}


def test_neighbours_of_mup_are_not_maximal():
    L = 3
    p = mup(L)
    for i in range(L + 1):
        for d in (F(-1, 4), F(1, 4)):
            a = list(p.a)
            a[i] += d
            assert not _maximal(Parametrization(a=tuple(a), b=p.b, c=p.c))
            b = list(p.b)
            b[i] += d
            assert not _maximal(Parametrization(a=p.a, b=tuple(b), c=p.c))
