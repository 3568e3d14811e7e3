"""The GPT and the language-modelling task: nanoGPT's layout, the key/value cache, PyTorch's
loss curve on the same weights, the train and sample commands."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.cli import main
from chainrule.models import GPT, GPTConfig
from chainrule.tasks import language

SMALL = GPTConfig(block_size=16, vocab_size=11, n_layer=2, n_head=2, n_embd=16)


def small_gpt(seed: int = 0, config: GPTConfig = SMALL) -> GPT:
    cr.manual_seed(seed)
    return GPT(config)


def test_parameter_names_are_nanogpts():
    names = set(small_gpt().state_dict())
    assert {"transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight",
            "transformer.h.1.attn.c_attn.weight", "transformer.h.1.attn.c_proj.bias", "transformer.h.0.mlp.c_fc.weight",
            "transformer.ln_f.bias"} <= names  # fmt: skip
    gpt = small_gpt()
    assert gpt.lm_head.weight is gpt.transformer["wte"].weight  # tied: one matrix, counted once
    assert sum(p.numel() for p in gpt.parameters()) == 7024


def test_the_cache_gives_the_full_passs_logits():
    gpt = small_gpt()
    idx = np.random.default_rng(0).integers(0, 11, (2, 12))
    with cr.no_grad():
        full = gpt(idx).numpy()
        caches = [{} for _ in range(SMALL.n_layer)]
        parts = [gpt(idx[:, a:b], caches).numpy() for a, b in ((0, 5), (5, 6), (6, 12))]  # a prompt, one, several
    np.testing.assert_allclose(np.concatenate(parts, axis=1), full, atol=1e-5)


def test_the_fixed_size_cache_compiled_gives_the_full_passs_logits():
    """generate's step: one token at a time into block_size-long buffers, written in place at a
    position that is data, so one trace serves every position; its logits are the full pass's."""
    gpt = small_gpt()
    idx = np.random.default_rng(1).integers(0, 11, (2, 12))
    with cr.no_grad():
        full = gpt(idx).numpy()
        logits, buffers, pos = gpt._prefill(idx[:, :5])
        step = gpt._decoder()
        rows = [logits]
        for t in range(5, 12):
            rows.append(step(idx[:, t:t + 1], np.array([pos]), buffers).numpy())
            pos += 1
    np.testing.assert_allclose(np.stack(rows[:-1], axis=1), full[:, 4:11], atol=1e-5)
    np.testing.assert_allclose(rows[-1], full[:, 11], atol=1e-5)
    assert step.traces_made == 1
    written = buffers[0][0].numpy()
    assert np.abs(written[:, :, :12]).min() > 0 and not written[:, :, 12:].any()  # 12 positions, the rest untouched


def test_generate_follows_the_models_parameters():
    """The compiled step is kept with the model, but reads its parameters afresh: changed in
    place, replaced (load_state_dict(assign=True)), copied; and threads take turns."""
    import copy
    import threading

    def fresh(model):  # the same weights, never compiled
        twin = small_gpt(1)
        twin.load_state_dict(model.state_dict())
        return twin

    gpt = small_gpt()
    first = gpt.generate([[1, 2, 3]], 30, seed=1)
    assert np.array_equal(first, fresh(gpt).generate([[1, 2, 3]], 30, seed=1))
    with cr.no_grad():
        for p in gpt.parameters():
            p *= 1.7
    changed = gpt.generate([[1, 2, 3]], 30, seed=1)
    assert not np.array_equal(changed, first) and np.array_equal(changed, fresh(gpt).generate([[1, 2, 3]], 30, seed=1))
    gpt.load_state_dict({k: v * 0.5 for k, v in gpt.state_dict().items()}, assign=True)
    assert np.array_equal(gpt.generate([[1, 2, 3]], 30, seed=1), fresh(gpt).generate([[1, 2, 3]], 30, seed=1))
    assert np.array_equal(copy.deepcopy(gpt).generate([[1, 2, 3]], 30, seed=4), gpt.generate([[1, 2, 3]], 30, seed=4))
    out = {}
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, gpt.generate([[1, 2]] * (1 + i % 2), 20, seed=i)))
               for i in range(4)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(out[i], fresh(gpt).generate([[1, 2]] * (1 + i % 2), 20, seed=i)) for i in range(4))


def test_generate_on_the_gpu_stand_in_gives_the_cpus_tokens():
    """Moved to a device (tests/strict.py: CuPy's rules on the CPU) after sampling on the CPU,
    the model samples eagerly there, its cache's buffers on the device, the same tokens."""
    from oracle import _gpu_like
    from test_devices import _to_stand_in

    gpt = small_gpt()
    want = gpt.generate([[1, 2, 3]], 20, seed=1)  # 23 > block_size 16: a rebuild on the way
    _to_stand_in(gpt)
    with _gpu_like("strict"):
        assert np.array_equal(gpt.generate([[1, 2, 3]], 20, seed=1), want)


def test_generate_is_seeded_and_runs_past_the_block():
    gpt = small_gpt()
    a = gpt.generate([[1, 2, 3]], 40, seed=3)  # 43 > block_size 16: the cache is rebuilt on the way
    b = gpt.generate([[1, 2, 3]], 40, seed=3)
    assert a.shape == (1, 43) and np.array_equal(a, b) and a[0, :3].tolist() == [1, 2, 3]
    greedy = gpt.generate([[1, 2, 3]], 5, temperature=1e-6)
    with cr.no_grad():
        first = int(np.argmax(gpt([[1, 2, 3]]).numpy()[0, -1]))
    assert greedy[0, 3] == first
    assert set(gpt.generate([[1]], 30, top_k=1, seed=0)[0, 1:].tolist()) <= set(range(11))
    with pytest.raises(ValueError, match="block_size is 16"):
        gpt(np.zeros((1, 17), dtype=np.int64))
    with pytest.raises(ValueError, match="temperature"):
        gpt.generate([[1]], 2, temperature=0)


class TorchGPT(torch.nn.Module):
    """nanoGPT's model in PyTorch, the same layout (the oracle for the loss curve)."""

    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        nn = torch.nn
        self.c = c
        self.transformer = nn.ModuleDict({
            "wte": nn.Embedding(c.vocab_size, c.n_embd), "wpe": nn.Embedding(c.block_size, c.n_embd),
            "h": nn.ModuleList([nn.ModuleDict({
                "ln_1": nn.LayerNorm(c.n_embd), "ln_2": nn.LayerNorm(c.n_embd),
                "attn": nn.ModuleDict({"c_attn": nn.Linear(c.n_embd, 3 * c.n_embd),
                                       "c_proj": nn.Linear(c.n_embd, c.n_embd)}),
                "mlp": nn.ModuleDict({"c_fc": nn.Linear(c.n_embd, 4 * c.n_embd),
                                      "c_proj": nn.Linear(4 * c.n_embd, c.n_embd)})}) for _ in range(c.n_layer)]),
            "ln_f": nn.LayerNorm(c.n_embd)})  # fmt: skip
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        C, nh = self.c.n_embd, self.c.n_head
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(T))
        for h in self.transformer.h:
            q, k, v = h.attn.c_attn(h.ln_1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, nh, C // nh).transpose(1, 2) for t in (q, k, v))
            y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + h.attn.c_proj(y.transpose(1, 2).reshape(B, T, C))
            x = x + h.mlp.c_proj(torch.nn.functional.gelu(h.mlp.c_fc(h.ln_2(x))))
        return self.lm_head(self.transformer.ln_f(x))


def test_pytorch_trains_the_same_curve_from_our_weights():
    """Our initial weights loaded into PyTorch's GPT (state_dict keys alike), 50 Adam steps on
    the same batches: the two loss curves agree to float32 tolerance."""
    text = language.read_text("text:pydoc")[:20000]
    splits = language.split_text(text, 0.1, seed=0)
    config = GPTConfig(block_size=32, vocab_size=len(splits.vocab), n_layer=2, n_head=4, n_embd=32)
    ours = small_gpt(0, config)
    theirs = TorchGPT(config)
    state = {k: torch.tensor(np.asarray(v)) for k, v in ours.state_dict().items()}
    state["lm_head.weight"] = state["transformer.wte.weight"]
    theirs.load_state_dict(state)  # strict: the key sets are equal
    opt_ours = cr.optim.Adam(ours.parameters(), lr=1e-3)
    opt_theirs = torch.optim.Adam(theirs.parameters(), lr=1e-3)
    stream = iter(language.WindowStream(splits.train, 32, batch=8, seed=1))
    curves: tuple[list, list] = ([], [])
    for _ in range(50):
        x, y = next(stream)
        loss = language.lm_loss(ours(x), y)
        opt_ours.zero_grad()
        loss.backward()
        opt_ours.step()
        t_loss = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)).reshape(-1, config.vocab_size),
                                                   torch.tensor(y).reshape(-1))  # fmt: skip
        opt_theirs.zero_grad()
        t_loss.backward()
        opt_theirs.step()
        curves[0].append(loss.item())
        curves[1].append(t_loss.item())
    np.testing.assert_allclose(curves[0], curves[1], rtol=1e-3)
    assert curves[0][-1] < curves[0][0] - 0.4  # and it learned


def test_the_text_task_pieces():
    s = language.split_text("the cat sat on the mat. " * 40, val_fraction=0.25, seed=1)
    assert len(s.val) == 240 and len(s.train) == 720 and s.vocab.decode(s.vocab.encode("cat")) == "cat"
    again = language.split_text("the cat sat on the mat. " * 40, val_fraction=0.25, seed=1)
    assert np.array_equal(s.val, again.val)  # seeded
    stream = language.WindowStream(s.train, 8, batch=4, seed=0)
    first = [next(iter(stream)) for _ in range(2)]
    state = stream.state_dict()
    later = next(iter(stream))
    stream.load_state_dict(state)
    assert np.array_equal(next(iter(stream))[0], later[0]) and not np.array_equal(first[0][0], first[1][0])
    logits = np.random.default_rng(0).standard_normal((2, 3, 5))
    y = np.array([[0, 1, 4], [2, 2, 3]])
    ref = torch.nn.functional.cross_entropy(torch.tensor(logits).reshape(-1, 5), torch.tensor(y).reshape(-1))
    assert language.lm_loss(cr.Tensor(logits, dtype="float64"), y).item() == pytest.approx(ref.item(), rel=1e-12)
    assert language.unigram_entropy(np.array([0, 0, 1, 1, 2, 2, 3, 3])) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        s.vocab.encode("dog!")
    with pytest.raises(ValueError, match="expected at least 64"):
        language.split_text("short")


def test_train_and_sample_from_the_command_line(tmp_path, capsys):
    text = tmp_path / "tiny.txt"
    text.write_text("to be or not to be, that is the question. " * 60, encoding="utf-8")
    out = tmp_path / "run"
    args = ["train", "--model", "gpt", "--data", f"text:{text}", "--steps", "40", "--block-size", "16", "--n-layer",
            "1", "--n-head", "2", "--n-embd", "16", "--batch-size", "8", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "epoch 8/8  step 40" in printed and "val loss" in printed and "bpc" in printed
    summary = json.loads((out / "summary.json").read_text())
    last = summary["final"]
    assert last["val_bpc"] == pytest.approx(last["val_loss"] / math.log(2))
    assert last["val_bpc"] < summary["unigram_entropy_bpc"]  # it learned more than letter counts
    assert main(["sample", str(out), "--prompt", "to be", "--length", "30", "--seed", "1", "--top-k", "5",
                 "--attention", str(tmp_path / "attn.png")]) == 0  # fmt: skip
    sampled = capsys.readouterr().out.rstrip("\n")
    assert sampled.startswith("to be") and len(sampled) == 35 and set(sampled) <= set(text.read_text())
    assert (tmp_path / "attn.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["sample", str(out), "--prompt", "to be?", "--length", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not in the model's vocabulary" in err and "'?'" in err
    assert main(["train", "--model", "lstm", "--data", f"text:{text}", "--steps", "10", "--block-size", "16",
                 "--batch-size", "8", "--out", str(tmp_path / "lstm")]) == 0  # fmt: skip
    assert main(["sample", str(tmp_path / "lstm"), "--prompt", "to", "--length", "10"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("to")


def test_bad_text_and_lying_headers_get_one_line(tmp_path, capsys):
    assert main(["train", "--model", "gpt", "--data", f"text:{tmp_path / 'none.txt'}"]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe" * 100)
    assert main(["train", "--model", "gpt", "--data", f"text:{bad}", "--out", str(tmp_path / "o")]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    gpt = small_gpt()
    cfg = {"task": "language", "model": "gpt", "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 1 << 19,
           "hidden": 256}  # fmt: skip
    cr.save(gpt, tmp_path / "w.safetensors", metadata={"config": cfg, "vocab": "abcdefghijk"})
    assert main(["sample", str(tmp_path / "w.safetensors")]) == 2
    assert "refused before building it" in capsys.readouterr().err


def test_a_compiled_training_step_follows_the_eager_one():
    losses = []
    for compiled in (False, True):
        gpt = small_gpt(1)
        opt = cr.optim.Adam(gpt.parameters(), lr=1e-2)

        def step(x, y):
            loss = language.lm_loss(gpt(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        run = cr.compile(step) if compiled else step
        stream = iter(language.WindowStream(np.arange(200) % 11, 16, batch=4, seed=0))
        losses.append([run(*next(stream)).item() for _ in range(4)])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)


def test_two_ranks_train_the_language_model_as_one_process(tmp_path):
    from test_distributed import one_and_two_ranks

    text = tmp_path / "t.txt"
    text.write_text("a stitch in time saves nine. " * 40, encoding="utf-8")
    args = ["train", "--model", "gpt", "--data", f"text:{text}", "--steps", "4", "--block-size", "8", "--n-layer", "1",
            "--n-head", "2", "--n-embd", "8", "--batch-size", "4"]  # fmt: skip
    _, a, b = one_and_two_ranks(tmp_path, args)
    for k in a:  # each rank takes half of every global batch of windows
        np.testing.assert_allclose(b[k], a[k], rtol=1e-4, atol=1e-6, err_msg=k)
