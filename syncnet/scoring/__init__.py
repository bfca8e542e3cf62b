"""run_syncnet's and the demo's stage: MFCC, 5-frame windows, shifted distances, offsets and
confidences, and the result files they write."""
