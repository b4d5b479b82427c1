"""tipsd.model.data: PoseTrack18-format loading, the synthetic video generator, the crop cache."""
