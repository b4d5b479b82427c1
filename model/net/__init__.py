"""tipsd.model.net: the TIPSD-style network and its loss terms."""
from tipsd.model.net.backbone import HRBackbone
from tipsd.model.net.losses import (
    TERM_NAMES, complementary_infonce, heatmap_mse, interim_synthesis_loss, localization_loss,
    part_variance_loss, redundancy_loss, total_loss,
)
from tipsd.model.net.tipsd_net import NUM_JOINTS, PART_GROUPS, NetOutput, SingleFrameNet, TIPSDNet

__all__ = [
    "HRBackbone", "NUM_JOINTS", "NetOutput", "PART_GROUPS", "SingleFrameNet", "TERM_NAMES", "TIPSDNet",
    "complementary_infonce", "heatmap_mse", "interim_synthesis_loss", "localization_loss",
    "part_variance_loss", "redundancy_loss", "total_loss",
]
