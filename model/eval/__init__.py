"""tipsd.model.eval: PoseTrack mAP (as poseval computes it), COCO OKS AP, prediction export."""
