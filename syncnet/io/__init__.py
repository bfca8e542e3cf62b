"""Files and media: every ffmpeg call, decoded frames, atomic writes and safe pickles, the
py*/REFERENCE folders and their locks, and local or s3:// storage."""
