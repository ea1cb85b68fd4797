#!/usr/bin/python3
"""Export the field's networks to ONNX with PyTorch reference outputs.

Builds, with Debian's python3-torch (1.13) and python3-torchvision and
random weights from a fixed seed, the networks Nova's engine must run:

  resnet50      ResNet-50 (torchvision), the 2D classifier of COVNet
  densenet121   DenseNet-121 (torchvision)
  unet2d_r231   the lungmask R231 2D U-Net (Hofmanninger et al. 2020:
                depth 5, 64 base filters, Conv-ReLU-BN blocks, bilinear
                upsampling, 3 classes)
  unet3d        a 3D U-Net in the manner of MONAI's BasicUNet (Conv3d,
                InstanceNorm, LeakyReLU, max pooling, transposed-conv
                upsampling, skip concatenation)
  cls3d         a 3D classification CNN (Conv3d-BN-ReLU stages with stride,
                global pooling, linear head)
  segresnet     a SegResNet-style 3D network (Myronenko 2018; MONAI
                SegResNet): GroupNorm(8)-ReLU-Conv residual blocks,
                strided-conv downsampling, 1x1 conv + trilinear upsampling

Batch-norm statistics and affine parameters are randomised too, so that
folding them is actually tested.  For each model it writes NAME.onnx,
NAME.input.npy and NAME.output.npy (PyTorch's output in eval mode) into
OUTDIR, and OUTDIR/.complete when done.  Nothing it writes is committed.

Usage: export_models.py [--size small|full] [--models a,b] OUTDIR
"small" keeps `make check` fast; "full" is what bench/nn measures.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OPSET = 13


# ---------------------------------------------------------------- lungmask R231


class UNetConvBlock(nn.Module):
    """lungmask's block: (Conv-ReLU-BN) x 2."""

    def __init__(self, cin, cout):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(cout),
            nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(cout))

    def forward(self, x):
        return self.block(x)


class UNetUpBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.up = nn.Sequential(
            nn.Upsample(mode="bilinear", scale_factor=2, align_corners=False),
            nn.Conv2d(cin, cout, 1))
        self.conv = UNetConvBlock(cin, cout)

    def forward(self, x, bridge):
        return self.conv(torch.cat([self.up(x), bridge], 1))


class UNetR231(nn.Module):
    def __init__(self, in_channels=1, n_classes=3, depth=5, wf=6):
        super().__init__()
        self.down = nn.ModuleList()
        prev = in_channels
        for i in range(depth):
            self.down.append(UNetConvBlock(prev, 2 ** (wf + i)))
            prev = 2 ** (wf + i)
        self.up = nn.ModuleList()
        for i in reversed(range(depth - 1)):
            self.up.append(UNetUpBlock(prev, 2 ** (wf + i)))
            prev = 2 ** (wf + i)
        self.last = nn.Conv2d(prev, n_classes, 1)

    def forward(self, x):
        blocks = []
        for i, down in enumerate(self.down):
            x = down(x)
            if i != len(self.down) - 1:
                blocks.append(x)
                x = F.max_pool2d(x, 2)
        for i, up in enumerate(self.up):
            x = up(x, blocks[-i - 1])
        return F.softmax(self.last(x), dim=1)


# ---------------------------------------------------------------- 3D U-Net


class TwoConv3d(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(
            nn.Conv3d(cin, cout, 3, padding=1),
            nn.InstanceNorm3d(cout, affine=True), nn.LeakyReLU(0.1),
            nn.Conv3d(cout, cout, 3, padding=1),
            nn.InstanceNorm3d(cout, affine=True), nn.LeakyReLU(0.1))


class UNet3D(nn.Module):
    def __init__(self, cin=1, cout=2, features=(16, 32, 64, 128)):
        super().__init__()
        self.enc = nn.ModuleList()
        prev = cin
        for f in features:
            self.enc.append(TwoConv3d(prev, f))
            prev = f
        self.ups = nn.ModuleList()
        self.dec = nn.ModuleList()
        for f in reversed(features[:-1]):
            self.ups.append(nn.ConvTranspose3d(prev, f, 2, stride=2))
            self.dec.append(TwoConv3d(2 * f, f))
            prev = f
        self.head = nn.Conv3d(prev, cout, 1)

    def forward(self, x):
        skips = []
        for i, e in enumerate(self.enc):
            x = e(x)
            if i < len(self.enc) - 1:
                skips.append(x)
                x = F.max_pool3d(x, 2)
        for up, dec in zip(self.ups, self.dec):
            x = dec(torch.cat([up(x), skips.pop()], 1))
        return self.head(x)


# ---------------------------------------------------------------- 3D classifier


class Cls3D(nn.Module):
    def __init__(self, cin=1, classes=2, widths=(16, 32, 64, 128)):
        super().__init__()
        layers = []
        prev = cin
        for i, w in enumerate(widths):
            layers += [nn.Conv3d(prev, w, 3, stride=1 if i == 0 else 2,
                                 padding=1, bias=False),
                       nn.BatchNorm3d(w), nn.ReLU(),
                       nn.Conv3d(w, w, 3, padding=1, bias=False),
                       nn.BatchNorm3d(w), nn.ReLU()]
            prev = w
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(prev, classes)

    def forward(self, x):
        x = F.adaptive_avg_pool3d(self.features(x), 1)
        return self.fc(torch.flatten(x, 1))


# ---------------------------------------------------------------- SegResNet


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n1 = nn.GroupNorm(8, c)
        self.c1 = nn.Conv3d(c, c, 3, padding=1, bias=False)
        self.n2 = nn.GroupNorm(8, c)
        self.c2 = nn.Conv3d(c, c, 3, padding=1, bias=False)

    def forward(self, x):
        y = self.c1(F.relu(self.n1(x)))
        y = self.c2(F.relu(self.n2(y)))
        return x + y


class SegResNet(nn.Module):
    def __init__(self, cin=1, cout=2, init=16, blocks_down=(1, 2, 2, 4)):
        super().__init__()
        self.stem = nn.Conv3d(cin, init, 3, padding=1, bias=False)
        self.down = nn.ModuleList()
        c = init
        for i, nb in enumerate(blocks_down):
            pre = nn.Identity() if i == 0 else nn.Conv3d(c // 2, c, 3, stride=2,
                                                         padding=1, bias=False)
            self.down.append(nn.Sequential(pre, *[ResBlock(c) for _ in range(nb)]))
            c *= 2
        c //= 2
        self.up_conv = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for _ in range(len(blocks_down) - 1):
            self.up_conv.append(nn.Conv3d(c, c // 2, 1, bias=False))
            self.up_blocks.append(ResBlock(c // 2))
            c //= 2
        self.norm = nn.GroupNorm(8, c)
        self.head = nn.Conv3d(c, cout, 1)

    def forward(self, x):
        x = self.stem(x)
        skips = []
        for d in self.down:
            x = d(x)
            skips.append(x)
        skips.pop()
        for conv, block in zip(self.up_conv, self.up_blocks):
            x = F.interpolate(conv(x), scale_factor=2, mode="trilinear",
                              align_corners=False)
            x = block(x + skips.pop())
        return self.head(F.relu(self.norm(x)))


# ---------------------------------------------------------------- export


def randomise_norms(model, gen):
    """Random BN statistics and affine parameters (fixed seed)."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=gen) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(c, generator=gen) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(c, generator=gen) * 0.1)
        elif isinstance(m, (nn.GroupNorm, nn.InstanceNorm3d)) and m.affine:
            c = m.weight.numel()
            m.weight.data.copy_(torch.rand(c, generator=gen) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(c, generator=gen) * 0.1)


def build(name, size):
    import torchvision
    small = size == "small"
    if name == "resnet50":
        return torchvision.models.resnet50(weights=None), \
            (1, 3, 64, 64) if small else (1, 3, 224, 224)
    if name == "densenet121":
        return torchvision.models.densenet121(weights=None), \
            (1, 3, 64, 64) if small else (1, 3, 224, 224)
    if name == "unet2d_r231":
        return UNetR231(), (1, 1, 32, 32) if small else (1, 1, 256, 256)
    if name == "unet3d":
        return UNet3D(), (1, 1, 16, 16, 16) if small else (1, 1, 64, 64, 64)
    if name == "cls3d":
        return Cls3D(), (1, 1, 16, 16, 16) if small else (1, 1, 64, 64, 64)
    if name == "segresnet":
        return SegResNet(), (1, 1, 16, 16, 16) if small else (1, 1, 64, 64, 64)
    raise SystemExit(f"unknown model {name}")


ALL = ["resnet50", "densenet121", "unet2d_r231", "unet3d", "cls3d",
       "segresnet"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", choices=["small", "full"], default="small")
    ap.add_argument("--models", default=",".join(ALL))
    ap.add_argument("outdir")
    args = ap.parse_args()
    marker = os.path.join(args.outdir, ".complete")
    if os.path.exists(marker):
        return 0
    os.makedirs(args.outdir, exist_ok=True)
    torch.set_num_threads(2)
    for name in args.models.split(","):
        torch.manual_seed(20240601)
        gen = torch.Generator().manual_seed(7)
        model, shape = build(name, args.size)
        model.eval()
        with torch.no_grad():
            randomise_norms(model, gen)
            x = torch.randn(*shape, generator=gen)
            y = model(x)
        path = os.path.join(args.outdir, name + ".onnx")
        torch.onnx.export(model, x, path, opset_version=OPSET,
                          input_names=["input"], output_names=["output"],
                          do_constant_folding=True)
        np.save(os.path.join(args.outdir, name + ".input.npy"),
                x.numpy().astype(np.float32))
        np.save(os.path.join(args.outdir, name + ".output.npy"),
                y.numpy().astype(np.float32))
        print(f"export_models: {name} {tuple(shape)} -> {path}",
              file=sys.stderr)
    with open(marker, "w") as f:
        f.write(args.size + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
