"""`pets_fastai.loss` against PyTorch over many shapes, scales and precisions.

The comparison `matches_torch` is itself tested: it must reject a naive softmax at large activations and a
mean taken over the wrong dimension, so a passing run means the checks could have failed."""
import math
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pets_fastai.loss import logsumexp, softmax, log_softmax, nll_loss, cross_entropy, entropy

SHAPES = [(1, 2), (2, 2), (7, 3), (32, 37), (64, 10), (3, 1000), (4, 6, 3), (2, 5, 4, 4)]  # (N, C, d1, ...)
SCALES = [1e-3, 1., 10., 1e3, 1e4]
DTYPES = [torch.float32, torch.float64]
REDUCTIONS = ['none', 'mean', 'sum']
CASES = [(s, k, d) for s in SHAPES for k in SCALES for d in DTYPES]
IDS = [f'{"x".join(map(str, s))}-scale{k:g}-{str(d)[6:]}' for s, k, d in CASES]

def make(shape, scale, dtype=torch.float32, seed=0):
    "Random activations of `shape` times `scale`, and random class indices for them (classes along dim 1)"
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=dtype) * scale
    return x, torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=g)

def matches_torch(ce, x, targ)->bool:
    "Does `ce(x, targ, reduction)` equal `F.cross_entropy` and `nn.CrossEntropyLoss` for every reduction?"
    for r in REDUCTIONS:
        ours = ce(x, targ, r)
        for ref in (F.cross_entropy(x, targ, reduction=r), nn.CrossEntropyLoss(reduction=r)(x, targ)):
            if ours.shape != ref.shape or not torch.allclose(ours, ref, rtol=1e-5, atol=1e-5): return False
    return True

def naive_ce(x, targ, reduction):
    "Cross-entropy through `exp(x)/exp(x).sum()`, as in the formula: overflows for large activations"
    e = x.exp()
    return nll_loss((e / e.sum(1, keepdim=True)).log(), targ, reduction)

def mean_over_classes_ce(x, targ, reduction):
    "A wrong 'mean': the summed loss divided by the number of classes instead of the number of items"
    return cross_entropy(x, targ, 'sum') / x.shape[1] if reduction == 'mean' else cross_entropy(x, targ, reduction)

@pytest.mark.parametrize('shape,scale,dtype', CASES, ids=IDS)
def test_cross_entropy_matches_torch(shape, scale, dtype):
    x, targ = make(shape, scale, dtype)
    assert matches_torch(cross_entropy, x, targ)

def test_check_rejects_naive_softmax():
    x, targ = make((32, 37), 1.)
    assert matches_torch(naive_ce, x, targ)  # a fair implementation at small scale ...
    x, targ = make((32, 37), 1e3)
    assert x.exp().isinf().any()
    assert not matches_torch(naive_ce, x, targ)  # ... that the check catches once exp overflows
    assert not matches_torch(naive_ce, -x.abs() - 200, targ)  # ... or underflows to 0/0

def test_check_rejects_wrong_reduction():
    x, targ = make((32, 37), 1.)
    assert not matches_torch(mean_over_classes_ce, x, targ)
    swapped = lambda x, targ, r: cross_entropy(x, targ, {'mean': 'sum', 'sum': 'mean'}.get(r, r))
    assert not matches_torch(swapped, x, targ)
    per_class = lambda x, targ, r: -log_softmax(x, 1) * F.one_hot(targ, x.shape[1]) if r == 'none' else cross_entropy(x, targ, r)
    assert not matches_torch(per_class, x, targ)

@pytest.mark.parametrize('shape,scale,dtype', CASES, ids=IDS)
def test_softmax_family_matches_torch(shape, scale, dtype):
    x, _ = make(shape, scale, dtype)
    for dim in range(-x.ndim, x.ndim):
        torch.testing.assert_close(softmax(x, dim), torch.softmax(x, dim))
        torch.testing.assert_close(log_softmax(x, dim), torch.log_softmax(x, dim))
        torch.testing.assert_close(logsumexp(x, dim), torch.logsumexp(x, dim))
        torch.testing.assert_close(logsumexp(x, dim, keepdim=True), torch.logsumexp(x, dim, keepdim=True))
        assert softmax(x, dim).isfinite().all() and log_softmax(x, dim).isfinite().all()
        torch.testing.assert_close(softmax(x, dim).sum(dim), torch.ones((), dtype=dtype).expand_as(x.sum(dim)))

@pytest.mark.parametrize('scale', SCALES)
def test_softmax_shift_invariant_and_two_class_sigmoid(scale):
    x, _ = make((16, 2), scale, torch.float64)
    torch.testing.assert_close(softmax(x + 123.), softmax(x))
    torch.testing.assert_close(softmax(x)[:, 0], (x[:, 0] - x[:, 1]).sigmoid())

def test_logsumexp_infinite_rows():
    x = torch.tensor([[-math.inf, -math.inf], [0., -math.inf], [math.inf, 0.]])
    torch.testing.assert_close(logsumexp(x), torch.logsumexp(x, -1))

@pytest.mark.parametrize('shape,scale', [(s, k) for s in SHAPES for k in SCALES])
def test_nll_loss_matches_torch(shape, scale):
    x, targ = make(shape, scale)
    logp = torch.log_softmax(x, 1)
    for r in REDUCTIONS: torch.testing.assert_close(nll_loss(logp, targ, r), F.nll_loss(logp, targ, reduction=r))

@pytest.mark.parametrize('shape,scale', [(s, k) for s in SHAPES for k in SCALES])
def test_probability_targets(shape, scale):
    x, targ = make(shape, scale, torch.float64)
    onehot = F.one_hot(targ, shape[1]).movedim(-1, 1).double()
    soft = torch.softmax(torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64), 1)
    for r in REDUCTIONS:
        torch.testing.assert_close(cross_entropy(x, onehot, r), cross_entropy(x, targ, r))
        torch.testing.assert_close(cross_entropy(x, soft, r), F.cross_entropy(x, soft, reduction=r))

def test_one_hot_is_minus_log_p_of_true_class():
    x, targ = make((32, 37), 3.)
    p = torch.softmax(x, 1)
    torch.testing.assert_close(cross_entropy(x, targ, 'none'), -p[range(32), targ].log())

@pytest.mark.parametrize('reduction', REDUCTIONS)
def test_gradient_matches_torch(reduction):
    x, targ = make((32, 37), 10., torch.float64)
    ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    w = torch.rand(32, dtype=torch.float64) if reduction == 'none' else torch.tensor(1., dtype=torch.float64)
    (cross_entropy(ours, targ, reduction) * w).sum().backward()
    (F.cross_entropy(theirs, targ, reduction=reduction) * w).sum().backward()
    torch.testing.assert_close(ours.grad, theirs.grad)
    if reduction == 'mean':  # softmax minus one-hot, averaged over the 32 items
        torch.testing.assert_close(ours.grad, (torch.softmax(x, 1) - F.one_hot(targ, 37)) / 32)

@pytest.mark.parametrize('n', [1, 2, 3, 37, 1000])
def test_entropy_bounds(n):
    torch.testing.assert_close(entropy(torch.full((n,), 1 / n, dtype=torch.float64)), torch.tensor(math.log(n), dtype=torch.float64))
    onehot = F.one_hot(torch.arange(n), n).float()
    assert torch.equal(entropy(onehot), torch.zeros(n)) and not entropy(onehot).signbit().any()
    p = torch.softmax(torch.randn(50, n, generator=torch.Generator().manual_seed(n)) * 5, 1)
    h = entropy(p)
    assert ((h >= 0) & (h <= math.log(n) + 1e-5)).all()
    torch.testing.assert_close(h, cross_entropy(p.log(), p, 'none'))
    torch.testing.assert_close(entropy(p.T, dim=0), h)

def test_entropy_two_classes():
    p = torch.linspace(0, 1, 101, dtype=torch.float64)
    h = entropy(torch.stack([p, 1 - p], 1))
    expected = -(p * p.log() + (1 - p) * (1 - p).log())
    torch.testing.assert_close(h[1:-1], expected[1:-1])
    assert torch.equal(h[[0, -1]], torch.zeros(2, dtype=torch.float64)) and int(h.argmax()) == 50

def test_errors_name_the_bad_value():
    x, targ = make((4, 5), 1.)
    with pytest.raises(ValueError, match="reduction='avg'"): cross_entropy(x, targ, 'avg')
    with pytest.raises(ValueError, match='from 0 to 4; these run from'): cross_entropy(x, targ + 5)
    with pytest.raises(ValueError, match=r'need targets of shape \(4,\), not \(3,\)'): cross_entropy(x, targ[:3])
    with pytest.raises(ValueError, match="activations' shape"): cross_entropy(x, torch.rand(4, 3))
