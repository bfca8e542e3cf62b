"""The stream path: a video decoded once into memory, faces detected on a subset of frames and
tracked between, crops cut in memory, and every live track's windows scored together by the
faithful path's scoring code (docs/stream.md)."""
