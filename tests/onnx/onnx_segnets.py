"""A U-Net-shaped and an FCN-8s-shaped network built from cnnkit.nn layers, with the ops of the real ones
(transposed convolutions, skip connections by concatenation and by addition, crops, bilinear and nearest
upsampling), for the export tests until the zoo has U-Net and FCN-8s."""

from __future__ import annotations

import cnnkit.nn as nn
import cnnkit.nn.functional as F


def double_conv(cin: int, cout: int, padding: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=padding, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=padding, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


def center_crop(x, h: int, w: int):
    top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2
    return x[:, :, top:top + h, left:left + w]


class UNetLike(nn.Module):
    """Two down steps and two up steps: the first up step a 2x2 stride-2 transposed conv with the skip cropped and
    concatenated (the original U-Net, unpadded convs), the second a bilinear upsample (padded convs)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 4, width: int = 8):
        super().__init__()
        w = width
        self.inc = double_conv(in_channels, w)
        self.down1 = nn.Sequential(nn.MaxPool2d(2), double_conv(w, 2 * w))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), double_conv(2 * w, 4 * w, padding=0))
        self.up1 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)
        self.conv1 = double_conv(4 * w, 2 * w)
        self.up2 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.conv2 = double_conv(3 * w, w)
        self.outc = nn.Conv2d(w, num_classes, 1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        u = self.up1(x3)
        u = self.conv1(F.cat([center_crop(x2, u.shape[2], u.shape[3]), u], 1))
        u = self.up2(u)
        u = self.conv2(F.cat([center_crop(x1, u.shape[2], u.shape[3]), u], 1))
        return F.interpolate(self.outc(u), size=x.shape[-2:], mode="nearest")


class FCNLike(nn.Module):
    """FCN-8s's head on a small VGG-style backbone: class scores at strides 32, 16 and 8, 2x transposed-conv
    upsampling (kernel 4, stride 2) cropped and added to the finer scores, then 8x back to the input (a transposed
    conv, kernel 16, stride 8, cropped), as in Long et al.; ceil-mode pooling as in the Caffe original."""

    def __init__(self, in_channels: int = 3, num_classes: int = 5, width: int = 8):
        super().__init__()
        w = width

        def stage(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True))

        self.stage1 = nn.Sequential(nn.Conv2d(in_channels, w, 3, padding=10), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True))
        self.stage2 = stage(w, w)
        self.stage3 = stage(w, 2 * w)
        self.stage4 = stage(2 * w, 2 * w)
        self.stage5 = stage(2 * w, 4 * w)
        self.fc = nn.Sequential(nn.Conv2d(4 * w, 4 * w, 3), nn.ReLU(), nn.Dropout2d(0.5))
        self.score_fr = nn.Conv2d(4 * w, num_classes, 1)
        self.score_pool4 = nn.Conv2d(2 * w, num_classes, 1)
        self.score_pool3 = nn.Conv2d(2 * w, num_classes, 1)
        self.upscore2 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, bias=False)
        self.upscore_pool4 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, bias=False)
        self.upscore8 = nn.ConvTranspose2d(num_classes, num_classes, 16, stride=8, bias=False)

    def forward(self, x):
        h, w = x.shape[-2:]
        p3 = self.stage3(self.stage2(self.stage1(x)))
        p4 = self.stage4(p3)
        score = self.score_fr(self.fc(self.stage5(p4)))
        up = self.upscore2(score)
        s4 = self.score_pool4(p4)
        up = up + center_crop(s4, up.shape[2], up.shape[3])
        up = self.upscore_pool4(up)
        s3 = self.score_pool3(p3)
        up = up + center_crop(s3, up.shape[2], up.shape[3])
        out = self.upscore8(up)
        return out[:, :, 4:4 + h, 4:4 + w]
