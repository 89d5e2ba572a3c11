import pytest
import torch

from gmiqa.models import GaussianHead, LevelDiscriminator, TypeDiscriminator


def test_triplet_loss_values():
    a = torch.tensor([1.0, 0.0])
    p = torch.tensor([1.0, 0.0])
    n = torch.tensor([0.0, 1.0])
    loss = TypeDiscriminator.triplet_loss
    # d(a, n) = sqrt(2) > margin: satisfied, zero loss
    assert loss(a, p, n, margin=0.1).item() == pytest.approx(0.0, abs=1e-5)
    # swapping positive and negative violates it by sqrt(2) + margin
    assert loss(a, n, p, margin=0.1).item() == pytest.approx(2**0.5 + 0.1, abs=1e-4)
    # normalisation: scaling a code does not change the loss; without it it does
    assert loss(3 * a, n, p).item() == pytest.approx(loss(a, n, p).item(), abs=1e-5)
    assert loss(3 * a, n, p, normalize=False).item() != pytest.approx(
        loss(a, n, p).item(), abs=1e-3
    )


def test_triplet_detach_option_stops_gradients_to_positive_and_negative():
    a, p, n = (torch.randn(4, 6, requires_grad=True) for _ in range(3))
    TypeDiscriminator.triplet_loss(a, p, n, margin=5.0, detach_positive_negative=True).backward()
    assert a.grad is not None and p.grad is None and n.grad is None
    a2, p2, n2 = (t.detach().clone().requires_grad_() for t in (a, p, n))
    TypeDiscriminator.triplet_loss(a2, p2, n2, margin=5.0).backward()
    assert p2.grad.abs().sum() > 0 and n2.grad.abs().sum() > 0


def test_gaussian_head_sigma_positive_and_noise_only_in_training():
    torch.manual_seed(0)
    head = GaussianHead(6, 8)
    h = torch.cat([torch.randn(3, 6), torch.full((1, 6), -1e4), torch.full((1, 6), 1e4)])
    mu, sigma = head(h)
    assert mu.shape == sigma.shape == (5,)
    assert (sigma > 0).all() and torch.isfinite(sigma).all()
    head.train()
    assert not torch.equal(head.predict(mu, sigma), mu)
    head.eval()
    assert torch.equal(head.predict(mu, sigma), mu)
    # the reparameterised sample is differentiable in mu and sigma
    m, s = mu.detach().requires_grad_(), sigma.detach().requires_grad_()
    GaussianHead.sample(m, s).sum().backward()
    assert (m.grad == 1).all() and s.grad.abs().sum() > 0


def test_type_and_level_discriminators_shapes():
    torch.manual_seed(0)
    td = TypeDiscriminator(8, layers=2)
    nodes, code = td(torch.randn(5, 8), torch.rand(5, 5))
    assert nodes.shape == (5, 8) and code.shape == (8,)
    torch.testing.assert_close(code, nodes.mean(0))
    ld = LevelDiscriminator(8, 4).eval()
    mu, sigma = ld(torch.randn(5, 8), torch.randn(5, 5, 4))
    assert mu.shape == sigma.shape == (5,) and (sigma > 0).all()
    assert torch.equal(ld.predict(mu, sigma), mu)
