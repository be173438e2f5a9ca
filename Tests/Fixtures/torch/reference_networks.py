"""Independent PyTorch implementations of brainseg's four networks, written from MODELS.md,
with parameter names equal to brainseg's (the student's are the released checkpoint's).

Imported by make_model_fixtures.py (parity fixtures) and Benchmarks/torch_models.py (timings).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

LRELU = 0.01


def up2(x):
    return F.interpolate(x, scale_factor=2, mode="trilinear", align_corners=False)


# ---------------------------------------------------------------- student (released names)
class Conv1Holder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv3d(c, c, 3, padding=1, bias=False)


class StudentBlock(nn.Module):
    def __init__(self, c, downsample_from=None):
        super().__init__()
        if downsample_from is not None:
            self.downsample = nn.Sequential(nn.Conv3d(downsample_from, c, 2, stride=2, bias=False))
        else:
            self.downsample = None
        self.conv1 = Conv1Holder(c)
        self.conv2 = Conv1Holder(c)
        self.norm1 = nn.GroupNorm(8, c)
        self.norm2 = nn.GroupNorm(8, c)

    def forward(self, x):
        if self.downsample is not None:
            x = self.downsample(x)
        y = F.leaky_relu(self.norm1(self.conv1.conv1(x)), LRELU)
        y = F.leaky_relu(self.norm2(self.conv2.conv1(y)), LRELU)
        return x + y


class Student(nn.Module):
    def __init__(self):
        super().__init__()
        w = [16, 32, 64, 128]
        self.conv_input = nn.Conv3d(4, 16, 3, padding=1, bias=False)
        self.norm_input = nn.GroupNorm(8, 16)
        self.conv_first = nn.ModuleList([StudentBlock(16)])
        counts = [2, 2, 4]
        self.encoder_convs = nn.ModuleList([
            nn.ModuleList([StudentBlock(w[l + 1], w[l] if b == 0 else None) for b in range(counts[l])]) for l in range(3)])
        self.upsampling = nn.ModuleList([nn.Sequential(nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False),
                                                       nn.Conv3d(w[l + 1], w[l], 1, bias=False)) for l in range(3)])
        self.decoder_convs = nn.ModuleList([nn.ModuleList([StudentBlock(w[l])]) for l in range(4)])   # .3 unused
        self.decoder_convs1x1 = nn.ModuleList([nn.Conv3d(2 * w[l], w[l], 1, bias=False) for l in range(4)])  # .3 unused
        self.conv_output = nn.Conv3d(16, 3, 3, padding=1, bias=True)

    def forward(self, x):
        x = self.conv_first[0](self.norm_input(self.conv_input(x)))
        skips = [x]
        for l in range(3):
            for block in self.encoder_convs[l]:
                x = block(x)
            if l < 2:
                skips.append(x)
        for l in (2, 1, 0):
            up = F.leaky_relu(self.upsampling[l](x), LRELU)
            x = self.decoder_convs[l][0](self.decoder_convs1x1[l](torch.cat([skips[l], up], 1)))
        return self.conv_output(x)


# ---------------------------------------------------------------- unet (No-New-Net)
class DoubleConv(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.norm1 = nn.InstanceNorm3d(cout, affine=True)
        self.conv2 = nn.Conv3d(cout, cout, 3, padding=1, bias=False)
        self.norm2 = nn.InstanceNorm3d(cout, affine=True)

    def forward(self, x):
        x = F.leaky_relu(self.norm1(self.conv1(x)), LRELU)
        return F.leaky_relu(self.norm2(self.conv2(x)), LRELU)


class DecoderLevel(DoubleConv):
    def __init__(self, cin, cout):
        super().__init__(cin, cout, 1)
        self.reduce = nn.Conv3d(2 * cout, cout, 1, bias=False)


class UNet(nn.Module):
    def __init__(self, base):
        super().__init__()
        w = [base << l for l in range(5)]
        self.encoder = nn.ModuleList([DoubleConv(4 if l == 0 else w[l - 1], w[l], 1 if l == 0 else 2) for l in range(5)])
        self.decoder = nn.ModuleList([DecoderLevel(2 * w[l], w[l]) for l in range(4)])
        self.head = nn.Conv3d(base, 3, 1, bias=True)

    def forward(self, x):
        skips = []
        for l in range(5):
            x = self.encoder[l](x)
            if l < 4:
                skips.append(x)
        for l in (3, 2, 1, 0):
            level = self.decoder[l]
            x = level(torch.cat([skips[l], up2(level.reduce(x))], 1))
        return self.head(x)


# ---------------------------------------------------------------- resunet-vae (segmentation path)
class PRes(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, c)
        self.conv1 = nn.Conv3d(c, c, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(8, c)
        self.conv2 = nn.Conv3d(c, c, 3, padding=1, bias=False)

    def forward(self, x):
        return x + self.conv2(F.relu(self.norm2(self.conv1(F.relu(self.norm1(x))))))


class EncoderLevel(nn.Module):
    def __init__(self, cin, c, blocks, down):
        super().__init__()
        if down:
            self.down = nn.Conv3d(cin, c, 3, stride=2, padding=1, bias=False)
        self.blocks = nn.ModuleList([PRes(c) for _ in range(blocks)])


class ResDecoderLevel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.reduce = nn.Conv3d(2 * c, c, 1, bias=False)
        self.block = PRes(c)


class Head(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = nn.GroupNorm(8, c)
        self.conv = nn.Conv3d(c, 3, 1, bias=True)


class ResUNet(nn.Module):
    def __init__(self, f):
        super().__init__()
        w = [f << l for l in range(4)]
        setattr(self, "init", nn.Conv3d(4, f, 3, padding=1, bias=False))
        counts = [1, 2, 2, 4]
        self.encoder = nn.ModuleList([EncoderLevel(w[l - 1] if l else 4, w[l], counts[l], l > 0) for l in range(4)])
        self.decoder = nn.ModuleList([ResDecoderLevel(w[l]) for l in range(3)])
        self.head = Head(f)

    def forward(self, x):
        x = getattr(self, "init")(x)
        skips = []
        for l in range(4):
            level = self.encoder[l]
            if l > 0:
                x = level.down(x)
            for block in level.blocks:
                x = block(x)
            if l < 3:
                skips.append(x)
        for l in (2, 1, 0):
            x = self.decoder[l].block(up2(self.decoder[l].reduce(x)) + skips[l])
        return self.head.conv(F.relu(self.head.norm(x)))


# ---------------------------------------------------------------- cascade
class CBlock(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.norm1 = nn.InstanceNorm3d(c, affine=True)
        self.conv1 = nn.Conv3d(c, c, 3, padding=1, groups=groups, bias=True)
        self.norm2 = nn.InstanceNorm3d(c, affine=True)
        self.conv2 = nn.Conv3d(c, c, 3, padding=1, groups=groups, bias=True)

    def forward(self, x):
        return x + self.conv2(F.relu(self.norm2(self.conv1(F.relu(self.norm1(x))))))


class CEncoder(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, 3, stride=stride, padding=1, groups=4, bias=True)
        self.block = CBlock(cout, 4)


class CDecoder(nn.Module):
    def __init__(self, cin_up, cout, skip, cascade):
        super().__init__()
        self.up = nn.ConvTranspose3d(cin_up, cout, 2, stride=2, bias=False)
        self.merge = nn.Conv3d(cout + skip + cascade, cout, 1, bias=True)
        self.block = CBlock(cout, 1)


def merge_max(x):
    n, c = x.shape[:2]
    return x.view(n, 4, c // 4, *x.shape[2:]).max(dim=1).values


class Stage(nn.Module):
    def __init__(self, f, quarter, half):
        super().__init__()
        ew = [4 * f, 8 * f, 16 * f, 32 * f]
        self.encoder = nn.ModuleList([CEncoder(4 if l == 0 else ew[l - 1], ew[l], 1 if l == 0 else 2) for l in range(4)])
        self.decoder = nn.ModuleList([CDecoder(8 * f, 8 * f, 4 * f, quarter), CDecoder(8 * f, 4 * f, 2 * f, half),
                                      CDecoder(4 * f, 2 * f, f, 0)])
        self.head = nn.Conv3d(2 * f, 4, 1, bias=True)

    def forward(self, x, quarter=None, half=None):
        skips = []
        for level in self.encoder:
            x = level.block(level.conv(x))
            skips.append(merge_max(x))
        y = skips[3]
        extra = [quarter, half, None]
        for s, level in enumerate(self.decoder):
            parts = [level.up(y), skips[2 - s]] + ([extra[s]] if extra[s] is not None else [])
            y = level.block(level.merge(torch.cat(parts, 1)))
        return F.softmax(self.head(y), dim=1)


class Cascade(nn.Module):
    def __init__(self):
        super().__init__()
        self.stagequarter = Stage(16, 0, 0)
        self.stagehalf = Stage(8, 0, 4)
        self.stagefull = Stage(4, 4, 4)

    def forward(self, x):
        pq = self.stagequarter(F.avg_pool3d(x, 4))
        ph = self.stagehalf(F.avg_pool3d(x, 2), half=pq)
        return self.stagefull(x, quarter=pq, half=ph)
