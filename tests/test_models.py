"""AlexNet: its parameter count, and PyTorch's weights giving PyTorch's outputs and gradients."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import torch

import chainrule as cr
from chainrule.models import AlexNetCifar, alexnet


def torch_alexnet(num_classes=1000):
    """The same network built with torch.nn (torchvision's layout, without torchvision)."""
    from torch import nn

    class AlexNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
                nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
            )  # fmt: skip
            self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
            self.classifier = nn.Sequential(
                nn.Dropout(0.5), nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(),
                nn.Linear(4096, num_classes),
            )  # fmt: skip

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    return AlexNet()


def test_parameter_count():
    assert sum(p.numel() for p in alexnet().parameters()) == 61_100_840
    assert sum(p.numel() for p in alexnet(10).parameters()) == 61_100_840 - 4097 * 990


def test_torch_weights_through_safetensors_give_torchs_outputs_and_gradients(tmp_path):
    if torch is None:
        pytest.skip("torch is not installed")
    from safetensors.numpy import save_file

    torch.manual_seed(0)
    theirs = torch_alexnet().eval()
    save_file({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()}, str(tmp_path / "alexnet.safetensors"))
    ours = cr.load(tmp_path / "alexnet.safetensors", alexnet()).eval()

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 224, 224)).astype(np.float32)
    v = rng.standard_normal((2, 1000)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    out_t = theirs(xt)
    (out_t * torch.from_numpy(v)).sum().backward()
    xc = cr.Tensor(x, requires_grad=True)
    out_c = ours(xc)
    (out_c * cr.Tensor(v)).sum().backward()

    def close(a, b, what):
        scale = np.abs(b).max()
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-4 * scale, err_msg=what)

    close(out_c.numpy(), out_t.detach().numpy(), "output")
    close(xc.grad.numpy(), xt.grad.numpy(), "input gradient")
    ours_params = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        close(ours_params[name].grad.numpy(), p.grad.numpy(), name)


def test_cifar_variant_trains_a_step():
    cr.manual_seed(0)
    net = AlexNetCifar(10)
    opt = cr.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = cr.Tensor(np.random.default_rng(0).standard_normal((4, 3, 32, 32)))
    loss = cr.nn.functional.cross_entropy(net(x), [0, 1, 2, 3])
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert np.isfinite(loss.item())
    assert AlexNetCifar(10, in_channels=1)(cr.Tensor(np.zeros((2, 1, 8, 8)))).shape == (2, 10)
