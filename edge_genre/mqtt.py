"""Publish a listening session's results to an MQTT broker, with Home Assistant discovery.

One job: :class:`MqttPublisher` takes the :class:`~edge_genre.listen.HopResult` of every hop
and keeps a broker informed, without ever making the listening loop wait for it.

Topics (``<prefix>`` from the URL's path, default ``edge-genre``; ``<node>`` from ``--mqtt-node``,
default the host name)::

    <prefix>/<node>/state          retained JSON: {"state", "genre", "confidence", "top_k", "t", "unix_time", ...}
    <prefix>/<node>/availability   retained "online" / "offline" (the last will: "offline" when the Pi vanishes)
    homeassistant/sensor/<node>/state/config        retained discovery config: sensor "Genre" (the state)
    homeassistant/sensor/<node>/confidence/config   retained discovery config: sensor "Genre confidence" (%)

``state`` is the smoothed output's label exactly as ``listen`` prints it: a genre, or one of the
reserved labels the pipeline reports (``silence``, ``uncertain``, and any other it may add, such
as ``not_music``); nothing here lists them. ``genre`` is the best genre of the smoothed
probabilities (``null`` when there are none, e.g. silence) and ``confidence`` its probability.

State messages go out when the state changes and otherwise at most every ``interval`` seconds
(0: every hop). The client runs paho-mqtt's network thread: connecting, reconnecting with
exponential backoff (1 s doubling to 60 s) and sending all happen there. The listening loop only
hands the newest state over; while the broker is unreachable nothing queues up, and on every
(re)connection the discovery configs, "online" and the newest state are sent again.

paho-mqtt is imported only when a publisher is created, so ``listen`` without ``--mqtt``
never loads it.
"""

from __future__ import annotations

import collections
import json
import os
import re
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import EdgeGenreError

DEFAULT_PREFIX = "edge-genre"
DEFAULT_DISCOVERY_PREFIX = "homeassistant"
DEFAULT_INTERVAL_SECONDS = 10.0
RECONNECT_MIN_SECONDS, RECONNECT_MAX_SECONDS = 1, 60
KEEPALIVE_SECONDS = 30
PAHO_HINT = "pip install paho-mqtt"


class MqttError(EdgeGenreError):
    """An MQTT setting that cannot work: a malformed URL, an unsafe or unreadable credentials file."""


def node_id(name: str | None = None) -> str:
    """A topic- and Home-Assistant-safe id: ``name`` (default: the host name), [a-zA-Z0-9_-] only."""
    raw = name if name else socket.gethostname().split(".")[0]
    out = re.sub(r"[^a-zA-Z0-9_-]+", "_", raw).strip("_")
    if not out:
        raise MqttError(f"MQTT node id {raw!r} has no usable characters (letters, digits, '_', '-')")
    return out


@dataclass
class MqttSettings:
    """Where and how to connect. :meth:`from_url` parses ``mqtt[s]://[user[:pass]@]host[:port][/prefix]``."""

    host: str
    port: int = 1883
    prefix: str = DEFAULT_PREFIX
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    node: str = field(default_factory=node_id)
    discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX
    interval: float = DEFAULT_INTERVAL_SECONDS

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> "MqttSettings":
        parts = urlsplit(url.strip())
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise MqttError(f"MQTT URL {_redact(url)!r} is not of the form mqtt://[user:pass@]host[:port][/prefix] "
                            "(mqtts:// for TLS)")
        tls = parts.scheme == "mqtts"
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError:
            raise MqttError(f"MQTT URL {_redact(url)!r} has an invalid port") from None
        prefix = parts.path.strip("/") or DEFAULT_PREFIX
        if "+" in prefix or "#" in url or "?" in url or "//" in prefix:
            raise MqttError(f"MQTT topic prefix {prefix!r} must not contain '+', '#' or empty levels")
        return cls(host=parts.hostname, port=port, prefix=prefix, tls=tls,
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password else None, **kwargs)

    def read_credentials(self, path: str | os.PathLike) -> None:
        """Take the user name and password from ``path`` (``username=...`` / ``password=...`` lines).

        The file must not be readable by other users (``chmod 600``, or ``640`` with the service's
        group): a password in a world-readable file is refused.
        """
        path = Path(path)
        try:
            st = path.stat()
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise MqttError(f"cannot read MQTT credentials file {path}: {exc.strerror or exc}") from None
        if st.st_mode & (stat.S_IROTH | stat.S_IWOTH):
            raise MqttError(f"MQTT credentials file {path} is readable by every user (mode "
                            f"{stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}")
        values: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            key = key.strip().lower()
            if not sep or key not in ("username", "password"):
                raise MqttError(f"{path}:{number}: expected 'username=...' or 'password=...'")
            values[key] = value.strip()
        if "username" not in values:
            raise MqttError(f"MQTT credentials file {path} has no 'username=' line")
        self.username, self.password = values["username"], values.get("password")

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.node}"

    @property
    def state_topic(self) -> str:
        return f"{self.base}/state"

    @property
    def availability_topic(self) -> str:
        return f"{self.base}/availability"

    def describe(self) -> str:
        who = f"{self.username}@" if self.username else ""
        return f"mqtt{'s' if self.tls else ''}://{who}{self.host}:{self.port} ({self.base})"


def _redact(url: str) -> str:
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


def state_payload(result: Any) -> dict[str, Any]:
    """The JSON state of one hop: the smoothed label, the best genre and its confidence."""
    top = [[g, round(float(p), 4)] for g, p in result.top_k]
    return {
        "state": result.genre,
        "genre": top[0][0] if top else None,
        "confidence": round(float(result.confidence), 4),
        "top_k": top,
        "t": round(float(result.t), 3),
        "unix_time": round(float(result.unix_time), 3),
    }


def discovery_configs(settings: MqttSettings, model: str | None = None,
                      version: str | None = None) -> dict[str, dict[str, Any]]:
    """Home Assistant MQTT discovery: topic -> retained config payload of each sensor."""
    node = settings.node
    device = {"identifiers": [f"edge-genre-{node}"], "name": f"edge-genre {node}",
              "manufacturer": "edge-genre", "model": model or "edge-genre", "sw_version": version}
    common = {
        "state_topic": settings.state_topic,
        "availability_topic": settings.availability_topic,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": {k: v for k, v in device.items() if v},
    }
    base = f"{settings.discovery_prefix}/sensor/{node}"
    return {
        f"{base}/state/config": {
            **common, "name": "Genre", "unique_id": f"edge-genre-{node}-state",
            "object_id": f"edge_genre_{node}_genre", "icon": "mdi:music",
            "value_template": "{{ value_json.state }}",
            "json_attributes_topic": settings.state_topic,
        },
        f"{base}/confidence/config": {
            **common, "name": "Genre confidence", "unique_id": f"edge-genre-{node}-confidence",
            "object_id": f"edge_genre_{node}_confidence", "icon": "mdi:percent",
            "unit_of_measurement": "%", "state_class": "measurement",
            "value_template": "{{ (value_json.confidence * 100) | round(0) }}",
        },
    }


def _import_paho():
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise MqttError(f"--mqtt needs the paho-mqtt package, which is not installed; {PAHO_HINT}") from None
    return mqtt


class MqttPublisher:
    """Keeps a broker informed about a listening session (see the module docstring).

    Parameters
    ----------
    settings : MqttSettings
    log : callable
        Receives one-line status messages (connected, refused, lost, ...), always in the listening
        thread (from :meth:`publish` and :meth:`close`): paho's network thread only queues them, so
        that they are never written while the listening thread has stderr silenced around a native
        decoder. Each distinct failure is reported once until a connection succeeds.
    model, version : str, optional
        For the Home Assistant device description.
    """

    def __init__(self, settings: MqttSettings, log: Callable[[str], None] = print,
                 model: str | None = None, version: str | None = None) -> None:
        mqtt = _import_paho()
        self.settings, self._log = settings, log
        self._messages: collections.deque[str] = collections.deque(maxlen=100)  # from the network thread
        self.discovery = discovery_configs(settings, model=model, version=version)
        self._lock = threading.Lock()
        self._latest: str | None = None  # JSON of the newest state
        self._last_state: str | None = None
        self._last_sent = -1e18
        self._reported: str | None = None  # the last failure reported (each is reported once)
        self.connections = 0
        self.published = 0
        self._closing = False
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"edge-genre-{settings.node}",
                             clean_session=True)
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            try:
                client.tls_set(ca_certs=str(settings.ca_file) if settings.ca_file else None)
            except (OSError, ValueError) as exc:
                raise MqttError(f"cannot set up TLS for MQTT ({exc})") from None
        client.will_set(settings.availability_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_SECONDS, RECONNECT_MAX_SECONDS)
        client.max_queued_messages_set(100)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        self.client = client

    # ------------------------------------------------------------------ network thread

    def log(self, message: str) -> None:
        """Queue a status line (any thread); :meth:`flush_log` prints it from the listening thread."""
        self._messages.append(message)

    def flush_log(self) -> None:
        """Print the queued status lines (listening thread)."""
        while self._messages:
            try:
                self._log(self._messages.popleft())
            except IndexError:  # pragma: no cover - emptied meanwhile
                break

    def _report(self, message: str) -> None:
        if message != self._reported:
            self._reported = message
            self.log(message)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ARG002
        s = self.settings
        if reason_code.is_failure:
            hint = ""
            if reason_code.value in (0x86, 0x87, 4, 5):  # bad user name or password / not authorised
                hint = " (check the user name and password in the credentials file)"
            self._report(f"mqtt: {s.host}:{s.port} refused the connection: {reason_code}{hint}; "
                         f"still classifying, retrying up to every {RECONNECT_MAX_SECONDS} s")
            return
        self._reported = None
        self.log(f"mqtt: connected to {s.describe()}")
        for topic, config in self.discovery.items():
            client.publish(topic, json.dumps(config), qos=1, retain=True)
        client.publish(s.availability_topic, "online", qos=1, retain=True)
        with self._lock:
            latest = self._latest
        if latest is not None:
            client.publish(s.state_topic, latest, qos=1, retain=True)
            self.published += 1
        self.connections += 1  # last: close() waits for this before sending "offline"

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ARG002
        if self._closing:
            return
        if self._reported is None:  # not after a refusal: that was reported already
            self._report(f"mqtt: lost the connection to {self.settings.host}:{self.settings.port} "
                         f"({reason_code}); still classifying, reconnecting")

    def _on_connect_fail(self, client, userdata) -> None:  # noqa: ARG002
        s = self.settings
        exc = sys.exc_info()[1]  # paho calls this while handling the connection's OSError / SSLError
        why = ""
        if exc is not None:
            detail = getattr(exc, "strerror", None) or str(exc)
            if getattr(exc, "verify_message", None):  # ssl.SSLCertVerificationError
                detail = f"TLS certificate not trusted: {exc.verify_message}; give its CA with --mqtt-ca"
            why = f" ({detail})" if detail else f" ({type(exc).__name__})"
        self._report(f"mqtt: cannot reach {s.host}:{s.port}{why}; still classifying, retrying up to every "
                     f"{RECONNECT_MAX_SECONDS} s")

    # ------------------------------------------------------------------ listening thread

    def start(self) -> "MqttPublisher":
        """Connect in the background (never waits for the broker)."""
        s = self.settings
        try:
            self.client.connect_async(s.host, s.port, keepalive=KEEPALIVE_SECONDS)
        except (OSError, ValueError) as exc:  # pragma: no cover - connect_async only stores settings
            raise MqttError(f"cannot connect to MQTT broker {s.host}:{s.port} ({exc})") from None
        self.client.loop_start()
        return self

    def publish(self, result: Any, force: bool = False) -> bool:
        """Hand over one hop's result; sent now if the state changed or ``interval`` passed. Never blocks."""
        self.flush_log()
        payload = state_payload(result)
        text = json.dumps(payload)
        now = time.monotonic()
        with self._lock:
            self._latest = text
            due = (force or payload["state"] != self._last_state
                   or now - self._last_sent >= self.settings.interval)
            if not due:
                return False
            self._last_state, self._last_sent = payload["state"], now
        if not self.client.is_connected():
            return False  # sent on (re)connection
        info = self.client.publish(self.settings.state_topic, text, qos=1, retain=True)
        self.published += 1
        return info.rc == 0

    def stats(self) -> dict[str, Any]:
        """For the run summary: broker, state messages handed to the client, successful connections."""
        return {"broker": self.settings.describe(), "published": self.published, "connections": self.connections}

    def close(self, timeout: float = 2.0) -> None:
        """Send "offline" (when connected, waiting at most ``timeout`` s), disconnect, stop the thread."""
        client = self.client
        # A short run (a file classified faster than real time) may end while the first connection is
        # still being made: give it up to ``timeout`` s to deliver the last state, unless it failed.
        deadline = time.monotonic() + timeout
        while (self.connections == 0 and self._reported is None and self._latest is not None
               and time.monotonic() < deadline):
            time.sleep(0.02)
        self._closing = True
        try:
            if client.is_connected():
                info = client.publish(self.settings.availability_topic, "offline", qos=1, retain=True)
                try:
                    info.wait_for_publish(timeout)
                except (RuntimeError, ValueError):
                    pass
            client.disconnect()
        finally:
            client.loop_stop()
            self.flush_log()

    def __enter__(self) -> "MqttPublisher":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
