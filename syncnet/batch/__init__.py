"""The batch runner: a driver that plans and records, two engines (local, Ray) that hand
videos to workers, the worker that runs one video, and curation of the kept clips."""
