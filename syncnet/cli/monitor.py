"""syncnet-monitor (python -m syncnet.monitor): live lip-sync monitoring of a stream: a JSON line
per hop and per alarm, Prometheus metrics, a live page, and at the end a summary and the timeline."""
import sys

from syncnet.cli import add_common_options, add_model_options, add_options, make_parser, model_options, run_command

STATUS_EVERY_S = 1.0


def build_parser(argv=None):
    from syncnet.monitor.options import FACE_BOXES, MonitorOptions
    from syncnet.monitor.presets import PRESETS

    parser = make_parser("syncnet-monitor", "Watch the lip sync of a live stream (anything ffmpeg opens: udp://, "
                         "rtp://, srt://, rtmp://, http(s):// and HLS, a device, a named pipe, a file): a JSON "
                         "line per hop and per alarm, Prometheus metrics, a live page.", argv, "syncnet.monitor")
    parser.add_argument("source", metavar="SOURCE", help="the stream: a URL, a device, a named pipe or a file")
    parser.add_argument("--name", default=None,
                        help="the source label of every record and metric (default: SOURCE without credentials)")
    parser.add_argument("--face_box", default="full", choices=FACE_BOXES,
                        help="full: the whole frame is the face, as demo_syncnet.py scores a face crop (a feed "
                             "already cropped to a face) (default full)")
    parser.add_argument("--realtime", action="store_true",
                        help="read a file at its own pace, as a live feed arrives (rehearsals, tests)")
    parser.add_argument("--follow", action="store_true", help="read a file that is still being written")
    parser.add_argument("--exit_on_eof", action="store_true",
                        help="end when a live source ends, instead of reconnecting with backoff")
    add_options(parser, MonitorOptions, skip=("vshift", "tolerance_ms", "preset"))
    # Checked by MonitorOptions rather than argparse's choices, so that a bad name is one line.
    parser.add_argument("--preset", default=MonitorOptions.preset,
                        help=f"the tolerance, named for its standard: {', '.join(PRESETS)} (docs/monitor.md "
                             f"cites each) (default {MonitorOptions.preset})")
    parser.add_argument("--tolerance_ms", default=None,
                        help="your own in-sync window instead of --preset's, in ms: N (meaning -N..+N) or "
                             "EARLY/LATE such as +45/-125")
    parser.add_argument("--jsonl", metavar="FILE", default=None, help="write the JSON lines here (default stdout)")
    parser.add_argument("--timeline", metavar="FILE.json", default=None,
                        help="at the end, write the whole run's timeline, as demo_syncnet.py --timeline does")
    parser.add_argument("--metrics", metavar="HOST:PORT", default=None,
                        help="serve Prometheus metrics at http://HOST:PORT/metrics")
    parser.add_argument("--http", metavar="HOST:PORT", default=None,
                        help="serve the live page at http://HOST:PORT/ (PORT alone: on 127.0.0.1)")
    add_model_options(parser)
    add_common_options(parser)
    return parser


def monitor_options(args):
    from syncnet.monitor.options import MonitorOptions

    return MonitorOptions(window_s=args.window_s, hop_s=args.hop_s, hold_s=args.hold_s, preset=args.preset,
                          tolerance_ms=args.tolerance_ms, min_conf=args.min_conf, step_frames=args.step_frames,
                          stride=args.stride, vshift=args.vshift)


def run(args):
    """Check everything that can be checked, then load the network and watch until the source ends
    or SIGINT/SIGTERM; the summary is the last line."""
    from syncnet.cli import stop_on_signals
    from syncnet.errors import InputError
    from syncnet.monitor.live import MonitorRun, SourceOptions, check_source
    from syncnet.monitor.records import as_line, redact_source
    from syncnet.monitor.web import parse_address

    options = monitor_options(args)
    check_source(args.source)
    if args.timeline and not args.timeline.lower().endswith(".json"):
        raise InputError(f"--timeline {args.timeline}: the timeline is written as JSON; name it FILE.json")
    name = args.name or redact_source(args.source)
    outputs = []
    try:
        page = metrics = None
        if args.http:
            from syncnet.monitor.web import LivePage

            page = LivePage(*parse_address(args.http, "--http"), name, options.tolerance, options.tolerance_name)
            outputs.append(page)
        if args.metrics:
            from syncnet.monitor.metrics import Metrics

            metrics = Metrics(name)
            metrics.serve(*parse_address(args.metrics, "--metrics"))
            outputs.append(metrics)
        jsonl = open(args.jsonl, "w", encoding="utf-8") if args.jsonl else sys.stdout  # noqa: SIM115
        if args.jsonl:
            outputs.append(jsonl)
        from syncnet import VideoScorer

        scorer = VideoScorer.from_options(model_options(args))
        scorer.load(detector=False)
        watch = MonitorRun(scorer.syncnet, args.source, options,
                           SourceOptions(realtime=args.realtime, follow=args.follow, exit_on_eof=args.exit_on_eof),
                           name=name)
        if page:
            page.start()
        with stop_on_signals() as stop:
            for record in watch.records(stop):
                status = {"connected": watch.connected, "frames_dropped": watch.monitor.counts["frames_dropped"],
                          "reconnects": watch.reconnects, "realtime_factor": watch.realtime_factor}
                print(as_line(record), file=jsonl, flush=True)
                if metrics:
                    metrics.update(record, watch.realtime_factor)
                if page:
                    if record["type"] == "hop" and watch.monitor.thumbnail is not None:
                        page.set_thumbnail(watch.monitor.thumbnail)
                    page.publish(record, status)
        if args.timeline:
            from syncnet.io.fileio import save_json

            save_json(watch.timeline().record(), args.timeline)
    finally:
        for output in reversed(outputs):
            output.close()


def main(argv=None):
    return run_command(build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
