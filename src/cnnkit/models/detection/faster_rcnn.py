"""Faster R-CNN (Ren et al., 2015): a backbone, the Region Proposal Network and the Fast R-CNN head, trained end to
end by approximate joint training (the four losses summed; proposals treated as constants).

    model = faster_rcnn(num_classes=3)             # 64x64 scenes: small batch-norm backbone, stride 8
    losses = model(images, targets)                # training: loss_objectness, loss_rpn_box_reg, loss_classifier,
                                                   #           loss_box_reg
    model.eval(); detections = model(images)       # [{"boxes", "scores", "labels"}, ...] NumPy arrays
"""

from __future__ import annotations

from ... import nn
from ...autograd import no_grad
from ...errors import InputError
from .backbones import Backbone, named_backbone
from .parts import AnchorGenerator
from .roi_heads import RoIHeads
from .rpn import RegionProposalNetwork
from .targets import check_targets

__all__ = ["FasterRCNN", "faster_rcnn", "SHAPES_ANCHOR_FRACTIONS"]

# Anchor sizes as fractions of the image for the Shapes scenes (objects 20-44% of the image wide): 12, 20, 28 px at 64.
SHAPES_ANCHOR_FRACTIONS = (0.1875, 0.3125, 0.4375)


class FasterRCNN(nn.Module):
    """``forward(images, targets=None)``: images (N, C, H, W); in training mode ``targets`` (one
    ``{"boxes", "labels"}`` per image, labels 0-based) and a dict of the four losses back; in eval mode a list of
    ``{"boxes", "scores", "labels"}`` per image."""

    def __init__(self, backbone: Backbone, rpn: RegionProposalNetwork, roi_heads: RoIHeads):
        super().__init__()
        self.backbone, self.rpn, self.roi_heads = backbone, rpn, roi_heads

    def forward(self, images, targets=None):
        if images.ndim != 4:
            raise InputError(f"FasterRCNN: expected images (N, C, H, W), got shape {tuple(images.shape)}")
        if self.training:
            if targets is None:
                raise InputError("FasterRCNN: training mode needs targets (one dict of boxes and labels per image)")
            targets = check_targets("FasterRCNN", targets, images.shape[0], self.roi_heads.num_classes)
        image_size = tuple(images.shape[-2:])
        if not self.training:
            with no_grad():
                features = self.backbone(images)
                proposals, _ = self.rpn(features, image_size)
                return self.roi_heads(features, proposals, image_size)
        features = self.backbone(images)
        proposals, losses = self.rpn(features, image_size, targets)
        return {**losses, **self.roi_heads(features, proposals, image_size, targets)}


def faster_rcnn(num_classes: int = 3, in_channels: int = 3, backbone: str = "shapes", image_size: int = 64,
                anchor_sizes=None, aspect_ratios=(0.5, 1.0, 2.0), pool: str = "align", representation_size: int = 256,
                rpn_pre_nms_top_n=(600, 300), rpn_post_nms_top_n=(300, 100), rpn_batch_size_per_image: int = 256,
                box_batch_size_per_image: int = 128, score_thresh: float = 0.05,
                detections_per_img: int = 100) -> FasterRCNN:
    """Faster R-CNN for ``num_classes`` object classes. ``backbone``: ``"shapes"`` (a small batch-norm net,
    stride 8) or the name of a zoo classifier whose feature stages are taken (e.g. ``"vgg11_bn"``,
    ``"resnet18"``). Anchors: 3 sizes (``SHAPES_ANCHOR_FRACTIONS`` of ``image_size`` unless given) x 3 ratios.
    The RPN keeps ``rpn_pre_nms_top_n`` / ``rpn_post_nms_top_n`` (training, test) proposals; the head pools
    (``pool``: "align" or "pool") 7x7 regions into two ``representation_size`` FC layers."""
    body = named_backbone(backbone, in_channels, "faster_rcnn")
    if anchor_sizes is None:
        anchor_sizes = tuple(round(image_size * f) for f in SHAPES_ANCHOR_FRACTIONS)
    anchors = AnchorGenerator(anchor_sizes, aspect_ratios)
    rpn = RegionProposalNetwork(anchors, body.out_channels, batch_size_per_image=rpn_batch_size_per_image,
                                pre_nms_top_n=rpn_pre_nms_top_n, post_nms_top_n=rpn_post_nms_top_n)
    heads = RoIHeads(body.out_channels, num_classes, pool=pool, representation_size=representation_size,
                     batch_size_per_image=box_batch_size_per_image, score_thresh=score_thresh,
                     detections_per_img=detections_per_img)
    return FasterRCNN(body, rpn, heads)
