"""A CIFAR-10 ResNet-18 written from scratch (He et al. 2016, https://arxiv.org/abs/1512.03385; CIFAR stem:
3×3 stride-1 first convolution, no max-pool) — robex does not register this architecture.

``robex submit`` runs this file only inside the isolated build: it calls ``build_model(track)``, loads the
checked ``model.safetensors`` into it and exports the network with ``torch.export``; the scorer only ever
sees the exported graph and its weights. Inputs are images in [0, 1]; normalisation lives in the model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with batch norm and an identity (or 1×1 projection) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 for 32×32 inputs: widths 64-128-256-512, two blocks per stage, global average pool."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 64) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(CIFAR10_MEAN[:in_channels]).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CIFAR10_STD[:in_channels]).view(1, -1, 1, 1), persistent=False)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        widths = [width, 2 * width, 4 * width, 8 * width]
        layers, cin = [], width
        for i, w in enumerate(widths):
            layers += [BasicBlock(cin, w, 1 if i == 0 else 2), BasicBlock(w, w, 1)]
            cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = self.layers(self.stem((x - self.mean) / self.std))
        return self.fc(h.mean(dim=(2, 3)))


def build_model(track: object, width: int = 64) -> nn.Module:
    """The network for ``track`` (robex passes the Track; its input shape and class count size the model)."""
    channels, classes = track.input_shape[0], track.num_classes  # type: ignore[attr-defined]
    return ResNet18(in_channels=channels, num_classes=classes, width=width)
