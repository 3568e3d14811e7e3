"""Whole PyTorch training programs that run on chainrule with only their import lines changed.

How each check works (issue 26):

- A program is ONE source text, written as PyTorch code. Its torch imports are exactly these
  lines (plus ``numpy`` and ``math``, which both runs share)::

      import torch
      import torch.nn as nn
      import torch.nn.functional as F
      from torch.utils.data import ...
      import torch.optim as optim
      from torch.optim.lr_scheduler import ...

  ``as_chainrule(source)`` rewrites those lines, and only those (``import chainrule as torch``,
  ``import chainrule.nn as nn``, ``from chainrule.data import ...``, ...), and asserts that no
  other line of the text changed and that no torch import is left.
- Data come from NumPy with a fixed seed and enter through ``torch.from_numpy`` /
  ``torch.tensor``, so both libraries see the same numbers; anything random a program needs
  during training (a VAE's noise) is drawn by NumPy too and passed in as data. Shuffling is
  off and dropout is off in training (eval mode, or p=0): the libraries' random streams differ.
- Each program defines ``build()``, returning a fresh model, and ``train(model, steps)``,
  which makes its optimizer (and scheduler, loader, ...), runs ``steps`` optimizer steps and
  returns each step's loss as a float (``loss.item()``). A program may also fill a module-level
  ``REPORT`` dict with other numbers (an eval accuracy, learning rates): both runs' must agree.
- ``run_both`` runs torch's program first; before torch trains, torch's initial
  ``model.state_dict()`` is loaded into chainrule's model (``load_state_dict({k: v.numpy()})``,
  strict), so both start from the same weights whatever their initializations draw. Then both
  train, and every step's loss, the ``REPORT`` and the final ``state_dict`` (parameters and
  buffers) are compared.

Tolerance: float32 throughout, as the programs are written. One step's forward and backward
agree to float32 rounding (~1e-7 relative in the loss); training feeds each step's rounding into
the next weights, so the gap grows with the steps (faster under adaptive optimizers, whose
update divides by small second moments). Losses are compared at ``rtol = LOSS_RTOL * (1 + step /
10)``: 2e-5 at the first step, 1e-4 after 40, with ``atol`` 1e-6 for losses near zero. Final
parameters and buffers at ``rtol`` 1e-3, ``atol`` 1e-5. Measured, the worst gap of any program
uses 0.07 of the loss allowance (the CNN) and 0.13 of the parameters' (the LSTM's recurrent
weights; the others 0.03 or less), and ``test_tolerance_would_catch_a_wrong_step`` shows the other side:
one hyperparameter 0.1% off in chainrule's copy fails every program within a few steps.
A parameter whose gradient is zero in exact arithmetic (a bias just before batch norm, the
attention's key bias) gets float32 noise for a gradient, which Adam scales to full-size steps that differ
between libraries (the losses do not): the programs leave such biases out, as ResNet and
nanoGPT's ``bias=False`` do, saying so where they do.
"""

from __future__ import annotations

import linecache
import re
import textwrap

import numpy as np
import pytest

real_torch = pytest.importorskip("torch", reason="the programs are compared against PyTorch")

# ---------------------------------------------------------------------------------------------
# The mechanics: one source text, its torch imports swapped for chainrule's
# ---------------------------------------------------------------------------------------------

IMPORT_LINES = {
    "import torch": "import chainrule as torch",
    "import torch.nn as nn": "import chainrule.nn as nn",
    "import torch.nn.functional as F": "import chainrule.nn.functional as F",
    "import torch.optim as optim": "import chainrule.optim as optim",
}
IMPORT_PREFIXES = {
    "from torch.utils.data import ": "from chainrule.data import ",
    "from torch.optim.lr_scheduler import ": "from chainrule.optim.lr_scheduler import ",
}
TORCH_IMPORT = re.compile(r"^\s*(import|from)\s+torch\b")


def as_chainrule(source: str) -> str:
    """``source`` with its torch import lines rewritten to chainrule's, and nothing else changed."""
    lines = source.splitlines()
    out = []
    for line in lines:
        if line in IMPORT_LINES:
            line = IMPORT_LINES[line]
        else:
            for old, new in IMPORT_PREFIXES.items():
                if line.startswith(old):
                    line = new + line[len(old):]
        out.append(line)
    changed = [(a, b) for a, b in zip(lines, out) if a != b]
    assert len(out) == len(lines) and all(TORCH_IMPORT.match(a) for a, _ in changed), changed
    left = [line for line in out if TORCH_IMPORT.match(line)]
    assert not left, f"torch imports the rewrite does not know: {left}"
    return "\n".join(out) + "\n"


def load(source: str, name: str) -> dict:
    """Run a program's text as a module named ``name``; its namespace."""
    filename = f"<{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # tracebacks show lines
    namespace = {"__name__": name}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def start_alike(t_model, c_model) -> None:
    """Load torch's weights and buffers into chainrule's model, strictly, as NumPy arrays."""
    c_model.load_state_dict({k: v.numpy() for k, v in t_model.state_dict().items()}, strict=True)


LOSS_RTOL, LOSS_ATOL = 2e-5, 1e-6
PARAM_RTOL, PARAM_ATOL = 1e-3, 1e-5


def assert_losses_close(ours: list, theirs: list, what: str = "loss") -> None:
    assert len(ours) == len(theirs), f"{what}: {len(ours)} steps against torch's {len(theirs)}"
    assert all(isinstance(v, float) for v in ours), f"{what}: item() gave {[type(v) for v in ours][:3]}"
    for step, (a, b) in enumerate(zip(ours, theirs)):
        rtol = LOSS_RTOL * (1 + step / 10)
        assert abs(a - b) <= LOSS_ATOL + rtol * abs(b), f"{what} at step {step}: {a!r} against torch's {b!r}"


def numbers(value) -> np.ndarray:
    """A state_dict value as NumPy: chainrule's state_dict holds NumPy copies where torch's holds Tensors."""
    return value if isinstance(value, np.ndarray) else value.numpy()


def assert_state_close(c_model, t_model) -> None:
    ours = c_model.state_dict()
    theirs = t_model.state_dict()
    assert list(ours) == list(theirs)
    for k, v in theirs.items():
        np.testing.assert_allclose(numbers(ours[k]), v.numpy(), rtol=PARAM_RTOL, atol=PARAM_ATOL, err_msg=k)


def assert_report_close(ours: dict, theirs: dict) -> None:
    assert list(ours) == list(theirs)
    for k, v in theirs.items():
        if isinstance(v, list) and all(isinstance(x, float) for x in v):
            assert_losses_close(ours[k], v, what=k)
        elif isinstance(v, float):
            assert ours[k] == pytest.approx(v, rel=1e-4, abs=1e-6), k
        else:
            assert ours[k] == v, k


def run_both(source: str, steps: int, ours_source: str | None = None):
    """Run the program with torch, then with chainrule from torch's initial weights; compare.
    (``ours_source``: another text for chainrule's run, to show that the comparison can fail.)"""
    theirs = load(source, "torch_program")
    ours = load(as_chainrule(source if ours_source is None else ours_source), "chainrule_program")
    real_torch.manual_seed(0)
    t_model, c_model = theirs["build"](), ours["build"]()
    start_alike(t_model, c_model)
    t_losses = theirs["train"](t_model, steps)
    c_losses = ours["train"](c_model, steps)
    assert len(t_losses) == steps
    assert_losses_close(c_losses, t_losses)
    assert_report_close(ours.get("REPORT", {}), theirs.get("REPORT", {}))
    assert_state_close(c_model, t_model)
    return ours, theirs, c_losses, t_losses


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Torch on one thread: these programs are small, and its worker threads, spinning on a shared
    machine, made them 2-20x slower."""
    threads = real_torch.get_num_threads()
    real_torch.set_num_threads(1)
    yield
    real_torch.set_num_threads(threads)


def program(text: str) -> str:
    """A program's text, written indented inside this file."""
    return textwrap.dedent(text).lstrip("\n")


# ---------------------------------------------------------------------------------------------
# The programs
# ---------------------------------------------------------------------------------------------

MLP = program('''
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset
    import torch.optim as optim
    from torch.optim.lr_scheduler import StepLR

    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 10)).astype(np.float32)
    y = (X[:, :3].sum(axis=1) > 0).astype(np.int64) + (X[:, 3] > 0.5)     # 3 classes
    REPORT = {}


    class MLP(nn.Module):
        def __init__(self, d_in=10, hidden=32, classes=3):
            super().__init__()
            self.net = nn.Sequential(
                nn.Linear(d_in, hidden), nn.ReLU(),
                nn.Linear(hidden, hidden), nn.Tanh(),
                nn.Linear(hidden, classes),
            )

        def forward(self, x):
            return self.net(x)


    def build():
        return MLP()


    def train(model, steps):
        dataset = TensorDataset(torch.from_numpy(X), torch.tensor(y))
        loader = DataLoader(dataset, batch_size=32, shuffle=False)
        optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        scheduler = StepLR(optimizer, step_size=2, gamma=0.5)
        losses, lrs = [], []
        model.train()
        while len(losses) < steps:
            for xb, yb in loader:
                optimizer.zero_grad()
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                if len(losses) == steps:
                    break
            scheduler.step()
            lrs.append(scheduler.get_last_lr()[0])
        REPORT["lr"] = lrs
        with torch.no_grad():
            REPORT["train_accuracy"] = (model(torch.from_numpy(X)).argmax(dim=1) == torch.tensor(y)).float().mean().item()
        return losses
''')


def test_mlp_with_a_data_loader_and_step_lr():
    ours, _, losses, _ = run_both(MLP, steps=48)
    assert losses[-1] < 0.5 * losses[0]
    assert ours["REPORT"]["lr"] == pytest.approx([0.1, 0.05, 0.05, 0.025, 0.025, 0.0125])


CNN = program('''
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.optim as optim

    rng = np.random.default_rng(1)
    N = 160
    labels = rng.integers(0, 4, size=N)
    images = 0.5 * rng.standard_normal((N, 1, 16, 16)).astype(np.float32)
    for i, c in enumerate(labels):      # class c: a bright bar in row band or column band c
        if c < 2:
            images[i, 0, 4 + 6 * c:7 + 6 * c, :] += 1.0
        else:
            images[i, 0, :, 4 + 6 * (c - 2):7 + 6 * (c - 2)] += 1.0
    X_train, y_train = images[:128], labels[:128]
    X_test, y_test = images[128:], labels[128:]
    REPORT = {}


    class Net(nn.Module):
        def __init__(self, classes=4):
            super().__init__()
            # no bias before batch norm, as ResNet writes it: batch norm removes it, so its gradient is
            # float32 noise, which Adam scales up to full-size steps that differ in every library
            self.features = nn.Sequential(
                nn.Conv2d(1, 8, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(8),
                nn.ReLU(),
                nn.MaxPool2d(2),                          # (N, 8, 8, 8)
                nn.Conv2d(8, 16, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(16),
                nn.ReLU(),
                nn.MaxPool2d(2),                          # (N, 16, 4, 4)
            )
            self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4, classes))

        def forward(self, x):
            return self.classifier(self.features(x))


    def build():
        return Net()


    def evaluate(model, X, y):
        model.eval()
        with torch.no_grad():
            logits = model(torch.from_numpy(X))
            loss = F.cross_entropy(logits, torch.from_numpy(y)).item()
            correct = (logits.argmax(1) == torch.from_numpy(y)).sum().item()
        model.train()
        return loss, correct / len(y)


    def train(model, steps, batch_size=32):
        optimizer = optim.Adam(model.parameters(), lr=3e-3)
        losses = []
        model.train()
        for step in range(steps):
            i = (step * batch_size) % len(X_train)
            xb = torch.from_numpy(X_train[i:i + batch_size])
            yb = torch.from_numpy(y_train[i:i + batch_size])
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        REPORT["test_loss"], REPORT["test_accuracy"] = evaluate(model, X_test, y_test)
        return losses
''')


def test_cnn_with_batch_norm_train_and_eval():
    ours, _, losses, _ = run_both(CNN, steps=30)
    assert losses[-1] < losses[0] and ours["REPORT"]["test_accuracy"] > 0.5


CHAR_LSTM = program('''
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.optim as optim

    text = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. " * 3
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = np.array([stoi[c] for c in text], dtype=np.int64)
    REPORT = {}


    class CharLSTM(nn.Module):
        def __init__(self, vocab_size, n_embd=16, hidden=32, num_layers=2):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, n_embd)
            self.lstm = nn.LSTM(n_embd, hidden, num_layers=num_layers, batch_first=True)
            self.head = nn.Linear(hidden, vocab_size)

        def forward(self, idx, state=None):
            x = self.embed(idx)                     # (B, T, n_embd)
            out, state = self.lstm(x, state)        # (B, T, hidden)
            return self.head(out), state            # (B, T, vocab)


    def build():
        return CharLSTM(len(chars))


    def get_batch(step, batch_size=4, block_size=16):
        starts = (np.arange(batch_size) * 37 + step * block_size) % (len(data) - block_size - 1)
        x = np.stack([data[s:s + block_size] for s in starts])
        y = np.stack([data[s + 1:s + block_size + 1] for s in starts])
        return torch.from_numpy(x), torch.from_numpy(y)


    def train(model, steps):
        optimizer = optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
        losses, norms = [], []
        state = None
        for step in range(steps):
            x, y = get_batch(step)
            logits, state = model(x, state)
            state = tuple(s.detach() for s in state)    # truncated backpropagation through time
            B, T, V = logits.shape
            loss = F.cross_entropy(logits.view(B * T, V), y.view(-1))
            optimizer.zero_grad()
            loss.backward()
            norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
            optimizer.step()
            losses.append(loss.item())
            norms.append(norm.item())     # a 0-d Tensor in both libraries
        REPORT["grad_norm"] = norms
        return losses
''')


def test_character_lstm_with_adamw_and_clipping():
    ours, _, losses, _ = run_both(CHAR_LSTM, steps=30)
    assert losses[-1] < 0.7 * losses[0]
    assert max(ours["REPORT"]["grad_norm"]) > 0.5     # clipping acted


NANOGPT = program('''
    import math
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.optim as optim
    from torch.optim.lr_scheduler import LambdaLR

    text = "first citizen: before we proceed any further, hear me speak. all: speak, speak. " * 4
    chars = sorted(set(text))
    data = np.array([chars.index(c) for c in text], dtype=np.int64)
    vocab_size, block_size, n_embd, n_head, n_layer = len(chars), 16, 32, 4, 2
    # nanoGPT's config.bias = False ("a bit better and faster"). With biases, the key projection's
    # has a zero gradient (softmax ignores a shift of each query's scores), and AdamW turns its
    # float32 noise into full-size steps that differ between libraries (the losses do not).
    bias = False
    REPORT = {}


    class CausalSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)
            self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(n_embd, dim=2)
            q = q.view(B, T, n_head, C // n_head).transpose(1, 2)        # (B, nh, T, hs)
            k = k.view(B, T, n_head, C // n_head).transpose(1, 2)
            v = v.view(B, T, n_head, C // n_head).transpose(1, 2)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            return self.c_proj(y)


    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
            self.gelu = nn.GELU()
            self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)

        def forward(self, x):
            return self.c_proj(self.gelu(self.c_fc(x)))


    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(n_embd, bias=bias)
            self.attn = CausalSelfAttention()
            self.ln_2 = nn.LayerNorm(n_embd, bias=bias)
            self.mlp = MLP()

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            x = x + self.mlp(self.ln_2(x))
            return x


    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = nn.ModuleDict(dict(
                wte=nn.Embedding(vocab_size, n_embd),
                wpe=nn.Embedding(block_size, n_embd),
                h=nn.ModuleList([Block() for _ in range(n_layer)]),
                ln_f=nn.LayerNorm(n_embd, bias=bias),
            ))
            self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
            self.transformer.wte.weight = self.lm_head.weight              # weight tying
            self.apply(self._init_weights)
            for pn, p in self.named_parameters():
                if pn.endswith("c_proj.weight"):
                    torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

        def _init_weights(self, module):
            if isinstance(module, nn.Linear):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

        def forward(self, idx, targets=None):
            b, t = idx.size()
            pos = torch.arange(0, t, dtype=torch.long)                     # (t,)
            x = self.transformer.wte(idx) + self.transformer.wpe(pos)      # (b, t, n_embd)
            for block in self.transformer.h:
                x = block(x)
            logits = self.lm_head(self.transformer.ln_f(x))                # (b, t, vocab_size)
            loss = None
            if targets is not None:
                loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
            return logits, loss

        def configure_optimizers(self, weight_decay, learning_rate, betas):
            param_dict = {pn: p for pn, p in self.named_parameters() if p.requires_grad}
            decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
            nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
            optim_groups = [
                {"params": decay_params, "weight_decay": weight_decay},
                {"params": nodecay_params, "weight_decay": 0.0},
            ]
            REPORT["decayed"] = float(sum(p.numel() for p in decay_params))
            REPORT["not_decayed"] = float(sum(p.numel() for p in nodecay_params))
            return optim.AdamW(optim_groups, lr=learning_rate, betas=betas)


    def build():
        return GPT()


    def get_batch(step, batch_size=4):
        ix = (np.arange(batch_size) * 53 + step * 7) % (len(data) - block_size - 1)
        x = torch.from_numpy(np.stack([data[i:i + block_size] for i in ix]))
        y = torch.from_numpy(np.stack([data[i + 1:i + 1 + block_size] for i in ix]))
        y[:, :2] = -1                                                      # ignored positions
        return x, y


    def train(model, steps, warmup=5):
        optimizer = model.configure_optimizers(weight_decay=0.1, learning_rate=3e-3, betas=(0.9, 0.95))
        scheduler = LambdaLR(optimizer, lambda it: min(1.0, (it + 1) / warmup))
        losses = []
        model.train()
        for step in range(steps):
            x, y = get_batch(step)
            _, loss = model(x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
        REPORT["lr"] = [group["lr"] for group in optimizer.param_groups]
        return losses
''')


def test_nanogpt_with_tied_weights_two_param_groups_and_warmup():
    ours, _, losses, _ = run_both(NANOGPT, steps=25)
    assert losses[-1] < 0.8 * losses[0]
    assert ours["REPORT"]["lr"] == [3e-3, 3e-3]


CUSTOM_FUNCTION = program('''
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.optim as optim

    rng = np.random.default_rng(3)
    X = rng.standard_normal((128, 6)).astype(np.float32)
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] - np.abs(X[:, 3])
    y = y.astype(np.float32)[:, None]
    REPORT = {}


    class LeakyStraightThroughClamp(torch.autograd.Function):
        """Clamp to [lo, hi] forward; backward pass the gradient inside, a tenth of it outside."""

        @staticmethod
        def forward(ctx, x, lo, hi):
            ctx.save_for_backward(x)
            ctx.lo, ctx.hi = lo, hi
            return x.clamp(lo, hi)

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            REPORT.setdefault("needs_input_grad", list(ctx.needs_input_grad))
            grad_x = None
            if ctx.needs_input_grad[0]:
                inside = (x >= ctx.lo) & (x <= ctx.hi)
                grad_x = torch.where(inside, grad_output, 0.1 * grad_output)
            return grad_x, None, None


    class ClampNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(6, 32)
            self.fc2 = nn.Linear(32, 32)
            self.out = nn.Linear(32, 1)

        def forward(self, x):
            h = LeakyStraightThroughClamp.apply(self.fc1(x), -1.0, 1.0)
            h = LeakyStraightThroughClamp.apply(self.fc2(h), -0.5, 0.5)
            return self.out(h)


    def build():
        return ClampNet()


    def train(model, steps, batch_size=32):
        optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        losses = []
        for step in range(steps):
            i = (step * batch_size) % len(X)
            xb, yb = torch.from_numpy(X[i:i + batch_size]), torch.from_numpy(y[i:i + batch_size])
            loss = F.mse_loss(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses
''')


def test_custom_autograd_function_in_a_model():
    ours, _, losses, _ = run_both(CUSTOM_FUNCTION, steps=40)
    assert losses[-1] < losses[0]
    assert ours["REPORT"]["needs_input_grad"] == [True, False, False]


VAE = program('''
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset
    import torch.optim as optim

    rng = np.random.default_rng(4)
    prototypes = (rng.random((4, 24)) < 0.4).astype(np.float32)
    X = prototypes[rng.integers(0, 4, size=192)]
    flips = rng.random(X.shape) < 0.05
    X = np.where(flips, 1.0 - X, X).astype(np.float32)        # binary data: 4 noisy patterns
    BATCH, LATENT = 32, 3
    NOISE = rng.standard_normal((1000, BATCH, LATENT)).astype(np.float32)   # eps, one draw per step


    class VAE(nn.Module):
        def __init__(self, d=24, hidden=32, latent=LATENT):
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(d, hidden), nn.ReLU())
            self.fc_mu = nn.Linear(hidden, latent)
            self.fc_logvar = nn.Linear(hidden, latent)
            self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, d))

        def encode(self, x):
            h = self.encoder(x)
            return self.fc_mu(h), self.fc_logvar(h)

        def reparameterize(self, mu, logvar, eps):
            std = torch.exp(0.5 * logvar)
            return mu + eps * std                   # eps ~ N(0, 1), given as data (torch.randn_like(std))

        def forward(self, x, eps):
            mu, logvar = self.encode(x)
            z = self.reparameterize(mu, logvar, eps)
            return self.decoder(z), mu, logvar


    def loss_function(logits, x, mu, logvar):
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (bce + kld) / x.size(0)


    def build():
        return VAE()


    def train(model, steps):
        loader = DataLoader(TensorDataset(torch.from_numpy(X)), batch_size=BATCH, shuffle=False, drop_last=True)
        optimizer = optim.Adam(model.parameters(), lr=5e-3)
        losses = []
        model.train()
        while len(losses) < steps:
            for (x,) in loader:
                eps = torch.from_numpy(NOISE[len(losses)])
                logits, mu, logvar = model(x, eps)
                loss = loss_function(logits, x, mu, logvar)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                if len(losses) == steps:
                    break
        return losses
''')


def test_variational_autoencoder_with_noise_as_data():
    _, _, losses, _ = run_both(VAE, steps=36)
    assert losses[-1] < 0.8 * losses[0]


CHECKPOINT = program('''
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset
    import torch.optim as optim
    from torch.optim.lr_scheduler import CosineAnnealingLR

    rng = np.random.default_rng(5)
    X = rng.standard_normal((96, 8)).astype(np.float32)
    y = (X @ rng.standard_normal((8, 4))).argmax(axis=1)
    EPOCHS = 6


    def build():   # no bias before batch norm (see the CNN)
        return nn.Sequential(nn.Linear(8, 32, bias=False), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 4))


    def make_optimizer(model):
        optimizer = optim.Adam(model.parameters(), lr=2e-2, weight_decay=1e-4)
        scheduler = CosineAnnealingLR(optimizer, T_max=EPOCHS, eta_min=1e-3)
        return optimizer, scheduler


    def run_epochs(model, optimizer, scheduler, first, last, losses):
        loader = DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(y)), batch_size=24)
        model.train()
        for epoch in range(first, last):
            for xb, yb in loader:
                optimizer.zero_grad()
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            scheduler.step()


    def train(model, steps):
        optimizer, scheduler = make_optimizer(model)
        losses = []
        run_epochs(model, optimizer, scheduler, 0, EPOCHS, losses)
        return losses[:steps]


    def train_and_resume(model, path, stop_after=2):
        optimizer, scheduler = make_optimizer(model)
        losses = []
        run_epochs(model, optimizer, scheduler, 0, stop_after, losses)
        torch.save({"model": model.state_dict(), "optim": optimizer.state_dict(),
                    "sched": scheduler.state_dict(), "epoch": stop_after, "losses": losses}, path)
        del model, optimizer, scheduler

        checkpoint = torch.load(path)        # as a new process would: fresh objects, all state from the file
        model = build()
        model.load_state_dict(checkpoint["model"])
        optimizer, scheduler = make_optimizer(model)
        optimizer.load_state_dict(checkpoint["optim"])
        scheduler.load_state_dict(checkpoint["sched"])
        losses = checkpoint["losses"]
        run_epochs(model, optimizer, scheduler, checkpoint["epoch"], EPOCHS, losses)
        return model, losses
''')


def test_checkpoint_and_resume_equals_an_uninterrupted_run(tmp_path):
    steps = 6 * 4                                       # EPOCHS x batches per epoch
    ours, theirs, c_losses, t_losses = run_both(CHECKPOINT, steps=steps)
    real_torch.manual_seed(0)
    t_model = theirs["build"]()                         # the same initial weights as run_both's
    c_model = ours["build"]()
    start_alike(t_model, c_model)
    t_model, t_resumed = theirs["train_and_resume"](t_model, tmp_path / "torch.pt")
    c_model, c_resumed = ours["train_and_resume"](c_model, tmp_path / "chainrule.pt")
    assert t_resumed == t_losses                        # torch resumes exactly
    assert c_resumed == c_losses                        # so does chainrule
    assert_losses_close(c_resumed, t_resumed)
    assert_state_close(c_model, t_model)


REGRESSION = program('''
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset
    import torch.optim as optim
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    rng = np.random.default_rng(6)
    X = rng.standard_normal((160, 8)).astype(np.float32)
    w_true = rng.standard_normal(8).astype(np.float32)
    y = (X @ w_true + 0.5 * np.tanh(X[:, 0] * X[:, 1])).astype(np.float32)
    y[::17] += 8.0                                              # outliers: the Huber loss's reason
    X_train, y_train, X_val, y_val = X[:128], y[:128], X[128:], y[128:]
    REPORT = {}


    class Regressor(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(8, 64), nn.SiLU(), nn.Dropout(0.2), nn.Linear(64, 32), nn.SiLU())
            self.head = nn.Linear(32, 1)

        def forward(self, x):
            return self.head(self.body(x)).squeeze(-1)


    def build():
        return Regressor()


    def train(model, steps):
        activations = {}

        def keep(name):
            def hook(module, inputs, output):
                activations[name] = output.detach()
            return hook

        handles = [m.register_forward_hook(keep(name)) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
        decay = [p for name, p in model.named_parameters() if name.endswith("weight")]
        no_decay = [p for name, p in model.named_parameters() if not name.endswith("weight")]
        optimizer = optim.SGD([{"params": decay, "weight_decay": 1e-3}, {"params": no_decay}], lr=0.05, momentum=0.9)
        scheduler = ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=0, threshold=0.05)
        criterion = nn.HuberLoss(delta=1.0)
        loader = DataLoader(TensorDataset(torch.from_numpy(X_train), torch.from_numpy(y_train)), batch_size=32)
        losses, val_losses, lrs = [], [], []
        # dropout stays off in training (eval mode) so both libraries compute the same thing:
        # their random masks differ
        model.eval()
        while len(losses) < steps:
            for xb, yb in loader:
                optimizer.zero_grad(set_to_none=True)
                loss = criterion(model(xb), yb)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            with torch.no_grad():
                val_loss = F.mse_loss(model(torch.from_numpy(X_val)), torch.from_numpy(y_val)).item()
            scheduler.step(val_loss)
            val_losses.append(val_loss)
            lrs.append(optimizer.param_groups[0]["lr"])
        for h in handles:
            h.remove()
        REPORT["val_loss"], REPORT["lr"] = val_losses, lrs
        REPORT["activation_means"] = [activations[name].abs().mean().item() for name in sorted(activations)]
        optimizer.zero_grad(set_to_none=True)
        REPORT["grads_left"] = float(sum(p.grad is not None for p in model.parameters()))
        return losses[:steps]
''')


def test_regression_with_huber_plateau_and_forward_hooks():
    ours, _, losses, _ = run_both(REGRESSION, steps=40)
    assert losses[-1] < 0.8 * losses[0] and ours["REPORT"]["val_loss"][-1] < ours["REPORT"]["val_loss"][0]
    assert ours["REPORT"]["grads_left"] == 0
    lrs = ours["REPORT"]["lr"]
    assert lrs[0] == 0.05 and lrs[-1] < 0.05                     # the plateau cut the rate
    assert len(ours["REPORT"]["activation_means"]) == 3           # body.0, body.3, head


GRU_CLASSIFIER = program('''
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset
    import torch.optim as optim
    from torch.optim.lr_scheduler import MultiStepLR

    rng = np.random.default_rng(7)
    N, T = 96, 12
    labels = rng.integers(0, 3, size=N)
    t = np.linspace(0, 1, T, dtype=np.float32)
    freq = np.array([1.0, 2.0, 3.0], dtype=np.float32)[labels]
    signal = np.sin(2 * np.pi * freq[:, None] * t + rng.random((N, 1)))           # (N, T)
    X = np.stack([signal, np.cos(3 * signal), rng.standard_normal((N, T)) * 0.1], axis=-1).astype(np.float32)


    class GRUClassifier(nn.Module):
        def __init__(self, hidden=24, classes=3):
            super().__init__()
            self.gru = nn.GRU(input_size=3, hidden_size=hidden, num_layers=1, batch_first=True)
            self.fc = nn.Linear(hidden, classes)

        def forward(self, x):
            _, h_n = self.gru(x)               # h_n: (num_layers, B, hidden)
            return self.fc(h_n[-1])


    def build():
        return GRUClassifier()


    def train(model, steps):
        loader = DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(labels)), batch_size=16)
        # at lr=5e-3 RMSprop's first steps (sign-like while its averages are small) amplify float32
        # rounding ~30x for a few steps, near the tolerance; in float64 both agree to 1e-15 there
        optimizer = optim.RMSprop(model.parameters(), lr=2e-3)
        scheduler = MultiStepLR(optimizer, milestones=[2, 4], gamma=0.3)
        losses = []
        while len(losses) < steps:
            for xb, yb in loader:
                loss = F.cross_entropy(model(xb), yb, label_smoothing=0.1)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            scheduler.step()
        return losses[:steps]
''')


def test_gru_sequence_classifier_with_rmsprop():
    _, _, losses, _ = run_both(GRU_CLASSIFIER, steps=30)
    assert losses[-1] < 0.8 * losses[0]


MNIST_EXAMPLE = program('''
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset
    import torch.optim as optim
    from torch.optim.lr_scheduler import StepLR

    # pytorch/examples' mnist/main.py, on 12x12 synthetic digits: strokes of 3 kinds plus noise
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 3, size=96)
    images = 0.3 * rng.random((96, 1, 12, 12)).astype(np.float32)
    for i, c in enumerate(labels):
        if c == 0:
            images[i, 0, 5:7, 2:10] = 1.0
        elif c == 1:
            images[i, 0, 2:10, 5:7] = 1.0
        else:
            images[i, 0, np.arange(2, 10), np.arange(2, 10)] = 1.0
    REPORT = {}


    class Net(nn.Module):
        def __init__(self, dropout=0.0):      # the example's 0.25 and 0.5: off, as masks differ by library
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, 1)
            self.conv2 = nn.Conv2d(8, 16, 3, 1)
            self.dropout1 = nn.Dropout(dropout)
            self.dropout2 = nn.Dropout(dropout)
            self.fc1 = nn.Linear(16 * 4 * 4, 32)
            self.fc2 = nn.Linear(32, 3)

        def forward(self, x):
            x = self.conv1(x)
            x = F.relu(x)
            x = self.conv2(x)
            x = F.relu(x)
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = self.fc1(x)
            x = F.relu(x)
            x = self.dropout2(x)
            x = self.fc2(x)
            output = F.log_softmax(x, dim=1)
            return output


    def build():
        return Net()


    def test(model, device, test_loader):
        model.eval()
        test_loss = 0
        correct = 0
        with torch.no_grad():
            for data, target in test_loader:
                data, target = data.to(device), target.to(device)
                output = model(data)
                test_loss += F.nll_loss(output, target, reduction="sum").item()  # sum up batch loss
                pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
                correct += pred.eq(target.view_as(pred)).sum().item()
        test_loss /= len(test_loader.dataset)
        return test_loss, correct


    def train(model, steps):
        use_cuda = torch.cuda.is_available()
        device = torch.device("cuda" if use_cuda else "cpu")
        model = model.to(device)
        dataset = TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))
        train_loader = DataLoader(dataset, batch_size=16)
        test_loader = DataLoader(dataset, batch_size=48)
        optimizer = optim.Adadelta(model.parameters(), lr=1.0)
        scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
        losses = []
        for epoch in range(1, steps // len(train_loader) + 1):
            model.train()
            for batch_idx, (data, target) in enumerate(train_loader):
                data, target = data.to(device), target.to(device)
                optimizer.zero_grad()
                output = model(data)
                loss = F.nll_loss(output, target)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            REPORT[f"test_loss_{epoch}"], REPORT[f"correct_{epoch}"] = test(model, device, test_loader)
            scheduler.step()
        return losses
''')


def test_pytorch_examples_mnist_main_on_synthetic_digits():
    ours, _, losses, _ = run_both(MNIST_EXAMPLE, steps=18)
    assert losses[-1] < 0.7 * losses[0] and ours["REPORT"]["correct_3"] > 80


TEXT_CNN = program('''
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset
    import torch.optim as optim

    # sentences of 20 tokens over 30 words; the label says which of three 3-grams occurs
    rng = np.random.default_rng(11)
    motifs = np.array([[3, 4, 5], [6, 7, 8], [9, 10, 11]])
    labels = rng.integers(0, 3, size=120)
    tokens = rng.integers(12, 30, size=(120, 20))
    for i, c in enumerate(labels):
        at = rng.integers(0, 17)
        tokens[i, at:at + 3] = motifs[c]


    class TextCNN(nn.Module):
        def __init__(self, vocab=30, n_embd=16, channels=24, classes=3):
            super().__init__()
            self.embed = nn.Embedding(vocab, n_embd, padding_idx=0)
            self.conv = nn.Conv1d(n_embd, channels, kernel_size=3, padding=1)
            self.norm = nn.GroupNorm(4, channels)
            self.pool = nn.AdaptiveMaxPool1d(1)
            self.fc = nn.Linear(channels, classes)

        def forward(self, idx):
            x = self.embed(idx).transpose(1, 2)         # (B, n_embd, T): channels first for Conv1d
            x = F.relu(self.norm(self.conv(x)))         # (B, channels, T)
            return self.fc(self.pool(x).squeeze(-1))    # (B, classes)


    def build():
        return TextCNN()


    def train(model, steps):
        loader = DataLoader(TensorDataset(torch.from_numpy(tokens), torch.from_numpy(labels)), batch_size=24)
        optimizer = optim.Adam(model.parameters(), lr=1e-2)
        losses = []
        while len(losses) < steps:
            for xb, yb in loader:
                loss = F.cross_entropy(model(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
        return losses[:steps]
''')


def test_conv1d_text_classifier():
    _, _, losses, _ = run_both(TEXT_CNN, steps=25)
    assert losses[-1] < 0.5 * losses[0]


AUTOENCODER = program('''
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.optim as optim

    rng = np.random.default_rng(12)
    yy, xx = np.mgrid[0:16, 0:16]
    centers = rng.uniform(4, 12, size=(64, 2))
    images = np.exp(-((yy - centers[:, 0, None, None]) ** 2 + (xx - centers[:, 1, None, None]) ** 2) / 8.0)
    images = images[:, None].astype(np.float32)                  # (64, 1, 16, 16) blobs


    class AutoEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(),      # (B, 8, 8, 8)
                nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),     # (B, 16, 4, 4)
            )
            self.decoder = nn.Sequential(
                nn.ConvTranspose2d(16, 8, kernel_size=2, stride=2), nn.ReLU(),   # (B, 8, 8, 8)
                nn.Upsample(scale_factor=2, mode="nearest"),                      # (B, 8, 16, 16)
                nn.Conv2d(8, 1, 3, padding=1),
            )

        def forward(self, x):
            return self.decoder(self.encoder(x))


    def build():
        return AutoEncoder()


    def train(model, steps, batch_size=16):
        optimizer = optim.Adam(model.parameters(), lr=5e-3)
        criterion = nn.BCEWithLogitsLoss()
        losses = []
        for step in range(steps):
            i = (step * batch_size) % len(images)
            x = torch.from_numpy(images[i:i + batch_size])
            loss = criterion(model(x), x)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses
''')


def test_conv_transpose_autoencoder_with_upsample():
    _, _, losses, _ = run_both(AUTOENCODER, steps=30)
    assert losses[-1] < 0.8 * losses[0]


# ---------------------------------------------------------------------------------------------
# The comparison can fail: one hyperparameter off by 0.1% in chainrule's copy is caught
# ---------------------------------------------------------------------------------------------

PERTURBED = [
    ("mlp", MLP, "lr=0.1,", "lr=0.1001,", 48),
    ("cnn", CNN, "lr=3e-3", "lr=3.003e-3", 30),
    ("lstm", CHAR_LSTM, "lr=1e-2", "lr=1.001e-2", 30),
    ("gpt", NANOGPT, "learning_rate=3e-3", "learning_rate=3.003e-3", 25),
    ("function", CUSTOM_FUNCTION, "0.1 * grad_output", "0.1001 * grad_output", 40),
    ("vae", VAE, "lr=5e-3", "lr=5.005e-3", 36),
    ("checkpoint", CHECKPOINT, "lr=2e-2", "lr=2.002e-2", 24),
    ("regression", REGRESSION, "momentum=0.9", "momentum=0.9009", 40),
    ("gru", GRU_CLASSIFIER, "lr=2e-3", "lr=2.002e-3", 30),
    ("mnist", MNIST_EXAMPLE, "lr=1.0", "lr=1.001", 18),
    ("text_cnn", TEXT_CNN, "lr=1e-2", "lr=1.001e-2", 25),
    ("autoencoder", AUTOENCODER, "lr=5e-3", "lr=5.005e-3", 30),
]


@pytest.mark.parametrize("source, old, new, steps", [p[1:] for p in PERTURBED], ids=[p[0] for p in PERTURBED])
def test_tolerance_would_catch_a_wrong_step(source, old, new, steps):
    assert source.count(old) == 1
    with pytest.raises(AssertionError, match="at step"):
        run_both(source, steps, ours_source=source.replace(old, new))


def test_the_rewrite_changes_only_import_lines():
    source = program("""
        import math
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from torch.utils.data import DataLoader, TensorDataset
        import torch.optim as optim
        from torch.optim.lr_scheduler import StepLR, LambdaLR
        x = torch.tensor([math.pi])   # import torch stays as it is in a comment
    """)
    ours = as_chainrule(source)
    assert ours.splitlines() == [
        "import math",
        "import chainrule as torch",
        "import chainrule.nn as nn",
        "import chainrule.nn.functional as F",
        "from chainrule.data import DataLoader, TensorDataset",
        "import chainrule.optim as optim",
        "from chainrule.optim.lr_scheduler import StepLR, LambdaLR",
        "x = torch.tensor([math.pi])   # import torch stays as it is in a comment",
    ]
    for unknown in ("import torch.distributed as dist", "from torch import nn", "    import torch"):
        with pytest.raises(AssertionError, match="torch imports the rewrite does not know"):
            as_chainrule(unknown + "\n")


def test_the_spellings_these_programs_needed():
    """Names the programs hit that chainrule lacked (now there): comparison and arithmetic methods,
    ``t()``, ``torch.cuda.is_available()``; each against torch, gradients included."""
    import chainrule as cr

    rng = np.random.default_rng(9)
    a_np, b_np = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    a_np[0, 0] = b_np[0, 0]                                  # a tie, for eq/le/ge
    for lib in (cr, real_torch):
        a, b = lib.tensor(a_np), lib.tensor(b_np)
        compared = [getattr(a, op)(b).numpy() for op in ("eq", "ne", "lt", "le", "gt", "ge")]
        compared += [a.gt(0.5).numpy(), a.argmax(dim=1, keepdim=True).eq(lib.tensor([[0], [1], [2]])).numpy()]
        if lib is cr:
            ours = compared
        else:
            for x, y in zip(ours, compared):
                assert x.dtype == y.dtype == np.bool_
                np.testing.assert_array_equal(x, y)

    def arithmetic(lib):
        a = lib.tensor(a_np, requires_grad=True)
        b = lib.tensor(b_np, requires_grad=True)
        out = a.add(b).mul(a).sub(b.t().t()).div(b.abs() + 1).t()
        (out * lib.tensor(rng.standard_normal((4, 3)))).sum().backward()
        return out.detach().numpy(), a.grad.numpy(), b.grad.numpy()

    rng = np.random.default_rng(10)
    ours = arithmetic(cr)
    rng = np.random.default_rng(10)
    for x, y in zip(ours, arithmetic(real_torch)):
        np.testing.assert_allclose(x, y, rtol=1e-12)
    assert cr.ones(3).t().shape == (3,) and cr.tensor(2.0).t().shape == ()
    with pytest.raises(ValueError, match=r"t: expected a tensor of at most 2 dimensions, got shape \(2, 3, 4\)"):
        cr.ones(2, 3, 4).t()
    assert cr.cuda.is_available() is cr.cuda_available() and cr.cuda.device_count() >= 0
    w = cr.tensor([1.0], requires_grad=True)
    assert w.grad_fn is None and (w * 2).sum().grad_fn.fn.__name__ == "Sum"
