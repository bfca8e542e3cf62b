"""The live page: one small page that shows the current offset, coloured by state, a chart of the
offset over the last minutes with the tolerance band and the alarms, the measured face, and the
source's health; it updates itself from Server-Sent Events. Starlette serves it under uvicorn
(the `monitor` extra); its HTML and script are files of this package, so nothing is fetched from
elsewhere (monitors often run on closed networks).

    page = LivePage("127.0.0.1", 8080, source_name, tolerance)   # binds now: a port in use fails here
    page.start()
    page.publish(record, status)      # from the monitor's thread
    page.set_thumbnail(bgr_image)
    page.close()
"""
import asyncio
import json
import logging
import socket
import threading
from collections import deque
from importlib import resources

from syncnet.errors import InputError
from syncnet.runtime.extras import require

log = logging.getLogger(__name__)

HISTORY = 900          # records the page gets on load: 15 minutes of 1 s hops
CLIENT_QUEUE = 256     # records a slow page may lag behind before it misses some
KEEPALIVE_S = 15.0


def listening_socket(host, port, option):
    """A socket bound to host:port, or one line saying why it cannot be (a port in use)."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
    except OSError as error:
        raise InputError(f"{option} {host}:{port}: cannot listen there ({error.strerror or error}); "
                         "choose another port") from None
    return sock


def parse_address(value, option, default_host="127.0.0.1"):
    """HOST:PORT (or PORT alone) as (host, port), or one line naming the form expected."""
    host, _, port = str(value).rpartition(":")
    host = host.strip("[]") or default_host
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InputError(f"{option} {value!r}: expected HOST:PORT, such as 127.0.0.1:8080")
    return host, int(port)


class LivePage:
    """The page's server, on a thread of its own."""

    def __init__(self, host, port, source, tolerance, preset):
        require("monitor", "--http", "starlette")
        require("monitor", "--http", "uvicorn")
        self.socket = listening_socket(host, port, "--http")
        self.host, self.port = self.socket.getsockname()[:2]
        self.info = {"source": source, "tolerance_ms": list(tolerance), "preset": preset}
        self._history = deque(maxlen=HISTORY)
        self._status = {}
        self._thumbnail = None
        self._clients = set()
        self._lock = threading.Lock()
        self._loop = None
        self._server = None
        self._thread = None

    @property
    def url(self):
        return f"http://{self.host}:{self.port}/"

    def app(self):
        """The Starlette application: the page, its script, the state, the events and the thumbnail."""
        Starlette = require("monitor", "--http", "starlette.applications").Starlette
        responses = require("monitor", "--http", "starlette.responses")
        JSONResponse, Response = responses.JSONResponse, responses.Response
        StreamingResponse = responses.StreamingResponse
        Route = require("monitor", "--http", "starlette.routing").Route

        static = resources.files("syncnet.monitor") / "static"

        def asset(name, media_type):
            body = (static / name).read_bytes()
            return lambda request: Response(body, media_type=media_type, headers={"Cache-Control": "no-cache"})

        def state(request):
            with self._lock:
                return JSONResponse({**self.info, "status": self._status, "records": list(self._history)})

        def thumbnail(request):
            with self._lock:
                image = self._thumbnail
            if image is None:
                return Response(status_code=204)
            return Response(image, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

        async def events(request):
            queue = asyncio.Queue(maxsize=CLIENT_QUEUE)
            with self._lock:
                self._clients.add(queue)

            async def stream():
                try:
                    while True:
                        try:
                            message = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                        except asyncio.TimeoutError:
                            yield ": keepalive\n\n"
                            continue
                        if message is None:
                            return
                        yield f"data: {message}\n\n"
                finally:
                    with self._lock:
                        self._clients.discard(queue)

            return StreamingResponse(stream(), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

        return Starlette(routes=[Route("/", asset("index.html", "text/html; charset=utf-8")),
                                 Route("/app.js", asset("app.js", "text/javascript; charset=utf-8")),
                                 Route("/state", state), Route("/events", events),
                                 Route("/thumbnail.jpg", thumbnail)])

    def start(self):
        """Serve the page (a thread), on the socket bound at construction."""
        uvicorn = require("monitor", "--http", "uvicorn")
        config = uvicorn.Config(self.app(), log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        started = threading.Event()

        def serve():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.call_soon(started.set)
            self._loop.run_until_complete(self._server.serve(sockets=[self.socket]))
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="syncnet-monitor-page", daemon=True)
        self._thread.start()
        started.wait(10)
        log.info("the live page is at %s", self.url)

    def publish(self, record, status):
        """Send one record and the source's health to every open page."""
        message = json.dumps({"record": record, "status": status}, allow_nan=False)
        with self._lock:
            self._history.append(record)
            self._status = status
            clients = list(self._clients)
        if self._loop is not None:
            for queue in clients:
                self._loop.call_soon_threadsafe(_offer, queue, message)

    def set_thumbnail(self, image):
        """The measured face now (a BGR image), as the JPEG the page shows."""
        import cv2

        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if ok:
            with self._lock:
                self._thumbnail = encoded.tobytes()

    def close(self):
        """End every page's events and stop the server."""
        if self._server is not None and self._loop is not None:
            with self._lock:
                clients = list(self._clients)
            for queue in clients:
                self._loop.call_soon_threadsafe(_offer, queue, None)
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self.socket.close()


def _offer(queue, message):
    """Queue a message for one page; a page that lags too far behind misses the oldest."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(message)
