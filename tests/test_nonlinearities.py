"""The one list of nonlinearities: every name works in every view, or that view refuses it in one line."""

import pytest
import torch

from infwidth import nonlinearities as nl
from infwidth.errors import UserError
from infwidth.parametrizations import mup, ntp, sp

NAMES = [*nl.NAMES, "linear", "leaky_relu:0.2"]
F64 = torch.float64


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and text
    return text


@pytest.mark.parametrize("name", NAMES)
def test_entry_is_consistent(name):
    entry = nl.get(name)
    x = torch.linspace(-3, 3, 61, dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(entry.phi(x).sum(), x)
    keep = x.detach().abs() > 1e-6  # relu's kink
    torch.testing.assert_close(entry.dphi(x.detach())[keep], grad[keep])
    assert (entry.phi(torch.zeros(1, dtype=F64)).item() == 0) == entry.zero_at_zero
    assert entry.growth in ("linear", "saturating", "oscillating")
    if entry.homogeneous:
        torch.testing.assert_close(entry.phi(2.5 * x.detach()), 2.5 * entry.phi(x.detach()))


def test_unknown_name_is_one_line_naming_the_choices():
    with pytest.raises(UserError) as err:
        nl.get("swish")
    assert "relu" in one_line(err) and "leaky_relu" in str(err.value)
    with pytest.raises(UserError) as err:
        nl.get("leaky_relu:nan")
    one_line(err)


@pytest.mark.parametrize("name", NAMES)
def test_finite_network(name):
    net = mup(2).mlp(16, 3, 2, nonlinearity=name, dtype=F64, seed=0)
    x = torch.randn(4, 3, dtype=F64)
    f, acts = net.forward_with_activations(x)
    torch.testing.assert_close(acts["x1"], nl.get(name).phi(acts["h1"]))
    assert torch.isfinite(f).all()


@pytest.mark.parametrize("name", NAMES)
def test_kernel_limit(name):
    k = ntp(2).kernel_limit(3, nonlinearity=name)
    x = torch.randn(4, 3, dtype=F64)
    out = k(x)
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in (out.nngp, out.ntk))


@pytest.mark.parametrize("name", NAMES)
def test_mean_field_limit(name):
    # the 1-hidden-layer muP limit takes every name (quadrature of the shared phi, phi')
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(4, 2, generator=g, dtype=F64), torch.randn(4, 1, generator=g, dtype=F64)
    lim = mup(1).feature_learning_limit(2, 1, nonlinearity=name)
    run = lim.train(x, y, 0.5, 2, 2, x, method="mc", samples=512, replicas=4, seed=0)
    assert torch.isfinite(run.f).all()


@pytest.mark.parametrize("name", NAMES)
def test_deep_feature_learning_limit(name):
    # deep linear: the exact fast path; every other name: the Tensor-Program engine
    from infwidth.limits.feature_learning import DeepLinearMupLimit
    from infwidth.limits.feature_learning.tp_mlp import TensorProgramMupLimit

    lim = mup(2).feature_learning_limit(2, 1, nonlinearity=name)
    linear = nl.get(name).name == "identity"
    assert isinstance(lim, DeepLinearMupLimit if linear else TensorProgramMupLimit)
    if not linear:
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(4, 2, generator=g, dtype=F64), torch.randn(4, 1, generator=g, dtype=F64)
        run = lim.train(x, y, 0.5, 2, 2, x, particles=256, replicas=4)
        assert torch.isfinite(run.f).all() and run.method == "mc"


@pytest.mark.parametrize("name", NAMES)
def test_classification_predictions(name):
    from infwidth.parametrizations.predict import predicted_exponents

    if nl.get(name).growth == "oscillating":
        with pytest.raises(UserError) as err:
            predicted_exponents(sp(2), phi=name)
        assert name in one_line(err)
        return
    rule = "tanh" if nl.get(name).growth == "saturating" else "relu"
    assert predicted_exponents(sp(2), phi=name) == predicted_exponents(sp(2), phi=rule)


@pytest.mark.parametrize("name", NAMES)
def test_coordinate_check(name):
    from infwidth.coordcheck import prediction_note, run_coordcheck

    cc = run_coordcheck(mup(2), [32, 64], steps=1, seeds=1, d_in=4, d_out=2, nonlinearity=name)
    assert cc.config["nonlinearity"] == nl.canonical(name)
    assert (prediction_note(name) is None) == (nl.get(name).growth != "oscillating")
