"""Architectures. Every model maps inputs in [0, 1] to logits; normalisation lives inside the model.

Models that support CAM/Grad-CAM expose ``cam_layer`` (the module whose output is the last spatial
feature map) and, for a GAP + bias-free linear head, ``classifier`` (so CAM_c = Σ_k W_ck A_k and
mean_{h,w} CAM_c = logit_c exactly, Boopathy et al. 2020).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from bench.registry import Registry

if TYPE_CHECKING:
    from bench.track import Track

ARCHITECTURES: Registry[Callable[..., nn.Module]] = Registry("architecture")
ACTIVATIONS: Registry[Callable[[], nn.Module]] = Registry("activation")

# Dataset statistics used by the models' internal normalisation (train-split means/stds).
NORMALISATION: dict[int, tuple[tuple[float, ...], tuple[float, ...]]] = {
    1: ((0.1307,), (0.3081,)),
    3: ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, inside the model so attacks work in [0, 1] pixel space."""

    mean: Tensor
    std: Tensor

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


def half_huber_relu(x: Tensor, delta: float = 0.5) -> Tensor:
    """Woods et al. (2019) half-Huber ReLU: 0 for x ≤ 0; x²/(2δ) for 0 < x ≤ δ; x − δ/2 for x > δ.

    Its derivative is ``clamp(x, 0, δ)/δ`` (continuous, unlike ReLU's).

    >>> half_huber_relu(torch.tensor([-1.0, 0.25, 2.0])).tolist()
    [0.0, 0.0625, 1.75]
    """
    xc = x.clamp(0.0, delta)
    return torch.where(x >= delta, x - delta / 2, xc * xc / (2 * delta))


class HalfHuberReLU(nn.Module):
    """Module form of :func:`half_huber_relu`."""

    def __init__(self, delta: float = 0.5) -> None:
        super().__init__()
        self.delta = delta

    def forward(self, x: Tensor) -> Tensor:
        return half_huber_relu(x, self.delta)


ACTIVATIONS.add("relu", nn.ReLU)
ACTIVATIONS.add("half_huber", HalfHuberReLU)


class Head(StrEnum):
    """How a CAM network turns its last feature map A into logits (both bias-free, so CAM is exact)."""

    GAP = "gap"  # global average pooling, then a linear layer (Zhou et al. 2016; Boopathy et al. 2020)
    LINEAR = "linear"  # a linear layer on the flattened map


def class_activation_map(a: Tensor, weight: Tensor, head: Head) -> Tensor:
    """CAM of every class, (N, K, H, W), for a bias-free linear head on the feature map ``a`` (N, C, H, W).

    GAP (Zhou et al. 2016, https://arxiv.org/abs/1512.04150): CAM_c = Σ_k W_ck A_k. LINEAR (weights W_ckhw on the
    flattened map): CAM_c(h, w) = H·W·Σ_k W_ckhw A_khw, the per-position contribution scaled by the map's area. In
    both, mean_{h,w} CAM_c = logit_c exactly.

    >>> a, w = torch.rand(2, 3, 4, 4), torch.rand(5, 3 * 16)
    >>> torch.allclose(class_activation_map(a, w, Head.LINEAR).mean(dim=(2, 3)), a.flatten(1) @ w.T)
    True
    """
    if head is Head.GAP:
        return torch.einsum("nkhw,ck->nchw", a, weight)
    _, k, h, w = a.shape
    return torch.einsum("nkhw,ckhw->nchw", a, weight.view(-1, k, h, w)) * (h * w)


class CamNet(nn.Module):
    """Normalisation → ``features`` (the last one is the CAM map A) → a bias-free linear ``head``.

    Subclasses build ``features``; ``cam(x)`` is exact for either head (:func:`class_activation_map`).
    """

    def __init__(
        self,
        features: nn.Sequential,
        channels: int,
        num_classes: int,
        head: Head,
        spatial: tuple[int, int],
        mean: tuple[float, ...],
        std: tuple[float, ...],
    ) -> None:
        super().__init__()
        self.head = Head(head)
        self.normalize = Normalize(mean, std)
        self.features = features
        fan_in = channels * spatial[0] * spatial[1] if self.head is Head.LINEAR else channels
        self.classifier = nn.Linear(fan_in, num_classes, bias=False)

    @property
    def cam_layer(self) -> nn.Module:
        """The module whose output is the last spatial feature map A (for CAM / Grad-CAM)."""
        return self.features

    def feature_map(self, x: Tensor) -> Tensor:
        """A(x): the last conv map, shape (N, C′, H′, W′)."""
        return self.features(self.normalize(x))

    def cam(self, x: Tensor) -> Tensor:
        """CAM for every class, shape (N, K, H′, W′), whose spatial mean is the logit."""
        return class_activation_map(self.feature_map(x), self.classifier.weight, self.head)

    def forward(self, x: Tensor) -> Tensor:
        a = self.feature_map(x)
        return self.classifier(a.mean(dim=(2, 3)) if self.head is Head.GAP else a.flatten(1))


class SmallCNN(CamNet):
    """Boopathy et al.'s "Small" CAM network, sized for 28×28 (or 32×32) inputs.

    conv 4×4/2 (c1) → act → conv 4×4/2 (c2) → act → conv 7×7/1 "same" (c3, the CAM map, not activated)
    → ``head`` (global average pool by default) → bias-free linear. On 28×28 the CAM map is 7×7.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        widths: tuple[int, int, int] = (16, 32, 64),
        activation: str = "relu",
        mean: tuple[float, ...] = (0.1307,),
        std: tuple[float, ...] = (0.3081,),
        head: Head = Head.GAP,
        spatial: tuple[int, int] = (7, 7),
    ) -> None:
        c1, c2, c3 = widths
        act = ACTIVATIONS.get(activation)
        features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 4, stride=2, padding=1),
            act(),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),
            act(),
            nn.Conv2d(c2, c3, 7, stride=1, padding=3),
        )
        super().__init__(features, c3, num_classes, head, spatial, mean, std)


@ARCHITECTURES.register("small_cnn")
def small_cnn(track: Track, activation: str = "relu") -> nn.Module:
    """The reference MNIST-scale architecture (GAP head, 7×7 CAM on 28×28)."""
    c = track.input_shape[0]
    mean, std = NORMALISATION[c]
    return SmallCNN(in_channels=c, num_classes=track.num_classes, activation=activation, mean=mean, std=std)


@ARCHITECTURES.register("small_cnn_linear")
def small_cnn_linear(track: Track, activation: str = "relu") -> nn.Module:
    """:func:`small_cnn` with a bias-free linear head on the flattened 7×7 CAM map instead of global average
    pooling: the class score is still the mean of an exact class-activation map (:func:`class_activation_map`),
    and the head can weight positions, which adversarial training on MNIST needs (same features, same cost)."""
    c, h, w = track.input_shape
    mean, std = NORMALISATION[c]
    return SmallCNN(
        in_channels=c,
        num_classes=track.num_classes,
        activation=activation,
        mean=mean,
        std=std,
        head=Head.LINEAR,
        spatial=(h // 4, w // 4),
    )


class MnistCNN(CamNet):
    """A Madry-style MNIST CNN whose head keeps an exact class-activation decomposition.

    conv 3×3 (c1) → act → conv 3×3 (c1) → act → max-pool 2 → conv 3×3 (c2) → act → conv 3×3 (c2) → act
    → max-pool 2 → A (c2 × H/4 × W/4, the CAM map) → ``head`` (a linear layer on the flattened map by default).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        widths: tuple[int, int] = (32, 64),
        activation: str = "relu",
        head: Head = Head.LINEAR,
        spatial: tuple[int, int] = (7, 7),
        mean: tuple[float, ...] = (0.1307,),
        std: tuple[float, ...] = (0.3081,),
    ) -> None:
        c1, c2 = widths
        act = ACTIVATIONS.get(activation)
        features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1),
            act(),
            nn.Conv2d(c1, c1, 3, padding=1),
            act(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1),
            act(),
            nn.Conv2d(c2, c2, 3, padding=1),
            act(),
            nn.MaxPool2d(2),
        )
        super().__init__(features, c2, num_classes, head, spatial, mean, std)


@ARCHITECTURES.register("mnist_cnn")
def mnist_cnn(track: Track, activation: str = "relu", width: int = 32) -> nn.Module:
    """MNIST-scale reference CNN (conv widths ``width``-``width``-``2·width``-``2·width``, CAM map H/4 × W/4,
    bias-free linear head on the flattened map)."""
    c, h, w = track.input_shape
    mean, std = NORMALISATION[c]
    return MnistCNN(
        c, track.num_classes, (width, 2 * width), activation, Head.LINEAR, (h // 4, w // 4), mean=mean, std=std
    )


class TimmClassifier(nn.Module):
    """A timm network behind the normalisation layer; ``cam_layer`` is its last feature stage."""

    def __init__(self, net: nn.Module, mean: tuple[float, ...], std: tuple[float, ...], cam_layer: str) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net
        self._cam_layer_name = cam_layer

    @property
    def cam_layer(self) -> nn.Module:
        """The last spatial stage (e.g. ``layer4`` of a ResNet)."""
        return self.net.get_submodule(self._cam_layer_name)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.normalize(x))


@ARCHITECTURES.register("resnet18")
def resnet18(track: Track, activation: str = "relu") -> nn.Module:
    """timm ``resnet18`` with a CIFAR stem (3×3 stride-1 conv, no max-pool), random init."""
    import timm

    c = track.input_shape[0]
    net = timm.create_model("resnet18", pretrained=False, num_classes=track.num_classes, in_chans=c)
    net.conv1 = nn.Conv2d(c, 64, 3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    mean, std = NORMALISATION[c]
    return TimmClassifier(net, mean, std, cam_layer="layer4")


def build_architecture(name: str, track: Track, **kwargs: object) -> nn.Module:
    """Build a registered architecture for ``track``."""
    return ARCHITECTURES.create(name, track, **kwargs)
