"""run_pipeline's stage: convert, detect faces, find scenes, track and crop, staged and
swapped in whole."""
