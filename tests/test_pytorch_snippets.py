"""Short PyTorch programs, run unchanged on chainrule: only the imports differ.

Each snippet is written once, as PyTorch code, against the module names ``torch`` and ``F`` it
is handed; the test runs it with PyTorch and with chainrule (``import chainrule as torch``,
``import chainrule.nn.functional as F``) on the same data and compares what comes out. Data
come in as NumPy arrays (``torch.from_numpy``), since the two libraries' random streams differ;
the snippets' own random draws are compared by their properties.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch as real_torch
import torch.nn.functional as real_F

import chainrule as cr
import chainrule.nn.functional as cr_F

BOTH = [pytest.param(real_torch, real_F, id="pytorch"), pytest.param(cr, cr_F, id="chainrule")]


def numbers(t) -> np.ndarray:
    return np.asarray(t.detach().numpy() if hasattr(t, "detach") else t.numpy())


# -- 1. a softmax classifier trained by hand: the lecture's loop, CS231n's notebook ------------


def softmax_classifier(torch, F, X_np, y_np, steps=60, lr=1.0, reg=1e-3):
    X = torch.from_numpy(X_np)
    y = torch.from_numpy(y_np)
    N, D = X.shape
    C = int(y.max().item()) + 1
    W = torch.zeros(D, C, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(C, dtype=torch.float64, requires_grad=True)
    losses = []
    for _ in range(steps):
        scores = X @ W + b
        loss = F.cross_entropy(scores, y) + reg * (W * W).sum()
        loss.backward()
        with torch.no_grad():
            W -= lr * W.grad
            b -= lr * b.grad
            W.grad.zero_()
            b.grad.zero_()
        losses.append(loss.item())
    pred = scores.argmax(dim=1)
    accuracy = (pred == y).float().mean().item()
    return losses, numbers(W), accuracy


def test_softmax_classifier_with_manual_sgd():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = (X @ rng.standard_normal((4, 3))).argmax(axis=1)
    theirs = softmax_classifier(real_torch, real_F, X, y)
    ours = softmax_classifier(cr, cr_F, X, y)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-9, atol=1e-12)
    assert ours[2] == theirs[2] > 0.9


# -- 2. masked (causal) attention scores -------------------------------------------------------


def causal_attention(torch, F, q_np, k_np, v_np):
    q, k, v = (torch.from_numpy(a).requires_grad_() for a in (q_np, k_np, v_np))
    B, T, C = q.size()
    scores = q @ k.transpose(-2, -1) / math.sqrt(k.size(-1))          # (B, T, T)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    scores = scores.masked_fill(~mask, float("-inf"))
    att = F.softmax(scores, dim=-1)
    out = att @ v                                                      # (B, T, C)
    heads = out.view(B, T, 2, C // 2).transpose(1, 2)                  # (B, 2, T, C/2)
    loss = heads.pow(2).sum(dim=(-1, -2)).mean() + att.max(dim=-1).values.sum()
    loss.backward()
    return [numbers(x) for x in (out, att, q.grad, k.grad, v.grad)]


def test_causal_attention_scores():
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((2, 5, 4)) for _ in range(3))
    for ours, theirs in zip(causal_attention(cr, cr_F, q, k, v), causal_attention(real_torch, real_F, q, k, v)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


# -- 3. a character model: counts, a one-hot neural bigram, sampling (makemore's first steps) --


WORDS = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "ella", "ada", "lia"]


def bigram_model(torch, F, words, steps=30):
    chars = sorted(set("".join(words)))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    V = len(stoi)
    N = torch.zeros((V, V), dtype=torch.int32)
    xs, ys = [], []
    for w in words:
        cs = ["."] + list(w) + ["."]
        for c1, c2 in zip(cs, cs[1:]):
            N[stoi[c1], stoi[c2]] += 1
            xs.append(stoi[c1])
            ys.append(stoi[c2])
    P = (N + 1).float()
    P /= P.sum(1, keepdim=True)
    xs, ys = torch.tensor(xs), torch.tensor(ys)
    W = torch.from_numpy(np.linspace(-1.0, 1.0, V * V).reshape(V, V)).requires_grad_()
    for _ in range(steps):
        xenc = F.one_hot(xs, num_classes=V).double()
        logits = xenc @ W
        counts = logits.exp()
        probs = counts / counts.sum(1, keepdims=True)
        loss = -probs[torch.arange(len(ys)), ys].log().mean() + 0.01 * (W**2).mean()
        W.grad = None
        loss.backward()
        W.data += -10 * W.grad
    return numbers(N), numbers(P), loss.item(), numbers(W), P


def sample_names(torch, P, n=20, seed=2147483647):
    torch.manual_seed(seed)
    out = []
    for _ in range(n):
        ix, name = 0, []
        while True:
            ix = torch.multinomial(P[ix], num_samples=1, replacement=True).item()
            if ix == 0:
                break
            name.append(ix)
        out.append(name)
    return out


def test_character_bigram_counts_training_and_sampling():
    ours = bigram_model(cr, cr_F, WORDS)
    theirs = bigram_model(real_torch, real_F, WORDS)
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-10)
    np.testing.assert_allclose(ours[3], theirs[3], rtol=1e-10)
    P = ours[4]
    names = sample_names(cr, P)
    assert names == sample_names(cr, P)  # one seeded stream: the same names again
    V = P.shape[0]
    assert all(0 < ix < V for name in names for ix in name)
    # every step of every name is a bigram the counts allow (P > 0 everywhere here: +1 smoothing)
    assert len(names) == 20 and any(names)


# -- 4. the factories, ops and reductions of an everyday script ---------------------------------


def everyday(torch, F, x_np):
    x = torch.from_numpy(x_np).requires_grad_()
    parts = torch.chunk(x, 2, dim=1)
    y = torch.cat([parts[1], parts[0]], dim=1).clamp(min=-1.0, max=1.0)
    z = torch.stack([y.sin(), y.cos()], dim=0).sum(dim=0)
    idx = torch.argsort(z, dim=-1, descending=True)
    top = torch.gather(z, 1, idx[:, :2])
    stats = torch.cumsum(top, dim=1).prod(dim=1) + z.std(dim=1) + torch.logsumexp(z, dim=1)
    e = torch.einsum("ij,kj->ik", z, z).triu(diagonal=1)
    loss = stats.sum() + e.sum() + F.normalize(z, dim=1).sum() + F.pad(z, (1, 2), mode="reflect").sum()
    loss.backward()
    return numbers(loss), numbers(x.grad)


def test_everyday_ops():
    x = np.random.default_rng(4).uniform(-1.5, 1.5, (3, 6))
    ours, theirs = everyday(cr, cr_F, x), everyday(real_torch, real_F, x)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
