"""tipsd.analysis: stored studies to tables, heatmaps, importance, statistics and reports."""
