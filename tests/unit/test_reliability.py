"""The batch's state file survives a run killed mid-line. (The runs interrupted, killed and raced
with real signals and processes: integration/test_reliability.py.)"""


def test_a_cut_state_line_does_not_eat_the_next_record(tmp_path):
    from syncnet.batch.state import STATE_FILE, append_state, read_state

    state = tmp_path / STATE_FILE
    first = {"video": "/v/a.mp4", "size": 1, "mtime_ns": 2, "status": "ok"}
    append_state(state, first)
    with open(state, "a") as handle:
        handle.write('{"video": "/v/b.mp4", "si')  # a run killed while writing
    second = {"video": "/v/c.mp4", "size": 3, "mtime_ns": 4, "status": "failed"}
    append_state(state, second)
    assert read_state(state) == {("/v/a.mp4", 1, 2): first, ("/v/c.mp4", 3, 4): second}
