"""Prometheus metrics of a monitor, served at /metrics in the Prometheus text format
(prometheus_client: the `monitor` extra). Every metric carries the `source` label, so that one
Prometheus server can scrape a fleet of monitors."""
from syncnet.errors import InputError
from syncnet.monitor.alarms import STATES
from syncnet.runtime.extras import require


class Metrics:
    """The monitor's metrics in a registry of their own; `update` sets them from a run's records."""

    def __init__(self, source):
        client = require("monitor", "--metrics", "prometheus_client")
        self.registry = client.CollectorRegistry()
        self.source = source
        labels = ["source"]

        def gauge(name, text, extra=()):
            return client.Gauge(name, text, labels + list(extra), registry=self.registry)

        self.offset_ms = gauge("syncnet_monitor_offset_ms", "the last reliable hop's offset, ms (+ = audio early)")
        self.confidence = gauge("syncnet_monitor_confidence", "the last hop's confidence (LSE-C)")
        self.state = gauge("syncnet_monitor_state", "1 for the last hop's state, 0 for the others", ["state"])
        self.alarm = gauge("syncnet_monitor_alarm", "1 while the out-of-sync alarm is raised")
        self.realtime_factor = gauge("syncnet_monitor_realtime_factor",
                                     "stream seconds scored per wall-clock second, recently")
        self.dropped = client.Counter("syncnet_monitor_frames_dropped", "frames dropped because scoring fell behind",
                                      labels, registry=self.registry)
        self.reconnects = client.Counter("syncnet_monitor_reconnects", "times the source was reopened",
                                         labels, registry=self.registry)
        self.alarm.labels(source).set(0)
        self.dropped.labels(source)
        self.reconnects.labels(source)
        self._server = None

    def update(self, record, realtime_factor=None):
        """Take one record of the run (a dict) into the metrics."""
        source = self.source
        kind = record["type"]
        if kind == "hop":
            if record["state"] in ("in_sync", "out_of_sync"):
                self.offset_ms.labels(source).set(record["offset_ms"])
            if record["confidence"] is not None:
                self.confidence.labels(source).set(record["confidence"])
            for state in STATES:
                self.state.labels(source, state).set(1 if state == record["state"] else 0)
        elif kind == "alarm":
            self.alarm.labels(source).set(1 if record["raised"] else 0)
        elif kind == "drops":
            self.dropped.labels(source).inc(record["frames"])
        elif kind == "gap":
            self.reconnects.labels(source).inc()
        if realtime_factor is not None:
            self.realtime_factor.labels(source).set(realtime_factor)

    def serve(self, host, port):
        """Serve /metrics on host:port (a thread); a port in use is one line."""
        client = require("monitor", "--metrics", "prometheus_client")
        try:
            self._server, _ = client.start_http_server(port, host, registry=self.registry)
        except OSError as error:
            raise InputError(f"--metrics {host}:{port}: cannot listen there ({error.strerror or error}); "
                             "choose another port") from None

    def close(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
