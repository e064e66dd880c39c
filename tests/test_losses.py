"""The one list of losses: one canonical spelling per loss, aliases accepted by every view."""

import pytest
import torch

from infwidth import losses
from infwidth.errors import UserError


@pytest.mark.parametrize(("name", "canonical"), [("mse", "mse"), ("xent", "cross_entropy"),
                                                 ("cross_entropy", "cross_entropy"), ("CE", "cross_entropy")])
def test_every_view_takes_every_spelling(name, canonical):
    from infwidth.coordcheck import CoordCheckConfig
    from infwidth.limits.kernels.training import loss_gradient
    from infwidth.limits.sgd import resolve_loss
    from infwidth.parametrizations import mup

    assert losses.canonical(name) == canonical
    assert CoordCheckConfig(mup(1), (8, 16), loss=name, d_out=3).loss == canonical
    f = torch.randn(4, 3, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 0]) if canonical == "cross_entropy" else torch.randn(4, 3, dtype=torch.float64)
    assert torch.isclose(resolve_loss(name)(f, y), losses.get(canonical)(f, y))
    value, _ = loss_gradient(name, f, y)
    assert value == pytest.approx(float(losses.get(canonical)(f, y)))


def test_unknown_loss_is_one_line():
    with pytest.raises(UserError) as err:
        losses.canonical("hinge")
    assert "\n" not in str(err.value) and "cross_entropy" in str(err.value)


def test_cross_entropy_takes_one_hot_rows_like_labels():
    f = torch.randn(5, 4)
    labels = torch.tensor([3, 0, 1, 1, 2])
    assert torch.isclose(losses.cross_entropy(f, labels), losses.cross_entropy(f, torch.eye(4)[labels]))
