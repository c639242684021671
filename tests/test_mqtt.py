"""``listen --mqtt``: state, Home Assistant discovery and availability on a real mosquitto broker.

A ``mosquitto`` (Debian package) is started by the tests on a free 127.0.0.1 port with a password
file; a paho-mqtt subscriber in the test watches what ``edge-genre listen`` publishes. Without
mosquitto these tests skip, except in CI (``CI`` or ``EDGE_GENRE_REQUIRE_MOSQUITTO=1``, set by
``.ci/run``), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from edge_genre.mqtt import MqttError, MqttSettings, discovery_configs, node_id, state_payload

from model_fixtures import model_for_tests

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demo" / "vibe_ace.ogg"
USER, PASSWORD = "edge", "s3cret pass"


def _required() -> bool:
    flag = lambda name: os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")  # noqa: E731
    return flag("CI") or flag("EDGE_GENRE_REQUIRE_MOSQUITTO")


def _tool(name: str) -> str:
    path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None)
    if path is None:
        reason = f"{name} not installed (Debian: apt-get install mosquitto)"
        if _required():
            pytest.fail(f"{reason}; CI requires it", pytrace=False)
        pytest.skip(reason)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A mosquitto on 127.0.0.1:port with one user, which can be stopped and started on the same port."""

    def __init__(self, tmp: Path) -> None:
        self.exe = _tool("mosquitto")
        passwd_tool = _tool("mosquitto_passwd")
        self.port = _free_port()
        self.dir = tmp
        passwd = tmp / "passwd"
        subprocess.run([passwd_tool, "-b", "-c", str(passwd), USER, PASSWORD], check=True, capture_output=True)
        passwd.chmod(0o600)
        self.conf = tmp / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\n"
                             "persistence false\nlog_dest stderr\n"
                             # as root (CI), mosquitto would switch to user 'mosquitto', who cannot read tmp_path
                             + ("user root\n" if os.geteuid() == 0 else ""))
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.dir / "broker.log", "ab"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError((self.dir / "broker.log").read_text())
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def url(self, prefix: str = "test") -> str:
        return f"mqtt://127.0.0.1:{self.port}/{prefix}"


class Subscriber:
    """paho client that records every message under '#' (reconnecting and resubscribing by itself)."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[SimpleNamespace] = []
        self.lock = threading.Lock()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        c.username_pw_set(USER, PASSWORD)
        c.reconnect_delay_set(1, 1)
        c.on_connect = lambda client, *a: client.subscribe("#", qos=1)
        c.on_message = self._on_message
        c.connect("127.0.0.1", port)
        c.loop_start()
        self.client = c
        deadline = time.monotonic() + 5
        while not c.is_connected() and time.monotonic() < deadline:
            time.sleep(0.02)

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ARG002
        with self.lock:
            self.messages.append(SimpleNamespace(topic=msg.topic, payload=msg.payload.decode(), retain=msg.retain,
                                                 at=time.monotonic()))

    def on(self, topic: str) -> list[SimpleNamespace]:
        with self.lock:
            return [m for m in self.messages if m.topic == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture()
def broker(tmp_path):
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def model(request) -> str:
    return model_for_tests(request)


@pytest.fixture()
def credentials(tmp_path) -> Path:
    path = tmp_path / "mqtt.credentials"
    path.write_text(f"# broker login\nusername={USER}\npassword={PASSWORD}\n")
    path.chmod(0o600)
    return path


def listen_cmd(model: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "edge_genre.cli", "listen", "--model", model, *args]


def run_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_GENRE_MQTT")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --------------------------------------------------------------------------- no broker needed


def test_settings_from_url_and_credentials_file(tmp_path, credentials):
    s = MqttSettings.from_url("mqtt://broker.lan/home/genre", node="pi")
    assert (s.host, s.port, s.prefix, s.tls, s.username) == ("broker.lan", 1883, "home/genre", False, None)
    assert s.state_topic == "home/genre/pi/state" and s.availability_topic == "home/genre/pi/availability"
    s = MqttSettings.from_url("mqtts://u%40x:p%3Aw@h:9000", node="pi")
    assert (s.port, s.tls, s.username, s.password, s.prefix) == (9000, True, "u@x", "p:w", "edge-genre")
    for bad in ("http://h", "mqtt://", "mqtt://h:99999", "mqtt://h/a/#"):
        with pytest.raises(MqttError):
            MqttSettings.from_url(bad, node="pi")
    s.read_credentials(credentials)
    assert (s.username, s.password) == (USER, PASSWORD)
    credentials.chmod(0o644)
    with pytest.raises(MqttError, match="chmod 600"):
        s.read_credentials(credentials)
    assert node_id("living room.pi") == "living_room_pi"


def test_state_payload_publishes_any_label_and_discovery_has_no_label_list():
    hop = SimpleNamespace(genre="not_music", confidence=0.2, top_k=[("jazz", 0.2), ("blues", 0.1)], t=4.0,
                          unix_time=1.5)
    assert state_payload(hop) == {"state": "not_music", "genre": "jazz", "confidence": 0.2,
                                  "top_k": [["jazz", 0.2], ["blues", 0.1]], "t": 4.0, "unix_time": 1.5}
    silent = SimpleNamespace(genre="silence", confidence=0.0, top_k=[], t=5.0, unix_time=2.0)
    assert state_payload(silent)["genre"] is None and state_payload(silent)["state"] == "silence"
    configs = discovery_configs(MqttSettings.from_url("mqtt://h/p", node="pi"))
    assert set(configs) == {"homeassistant/sensor/pi/state/config", "homeassistant/sensor/pi/confidence/config"}
    for config in configs.values():
        assert config["availability_topic"] == "p/pi/availability" and config["state_topic"] == "p/pi/state"
        assert "options" not in config  # no hard-coded list of states


def test_cli_refuses_world_readable_credentials_in_one_line(model, credentials):
    credentials.chmod(0o644)
    proc = subprocess.run(listen_cmd(model, "--file", str(DEMO), "--mqtt", "mqtt://127.0.0.1:1/x",
                                     "--mqtt-credentials", str(credentials)),
                          capture_output=True, text=True, timeout=60, env=run_env(), cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"edge-genre: error: MQTT credentials file {credentials} is readable by every user (mode 0644); "
        f"run: chmod 600 {credentials}"]


# --------------------------------------------------------------------------- with mosquitto


def test_listen_publishes_state_discovery_and_availability(broker, model, credentials):
    sub = Subscriber(broker.port)
    try:
        env = {**run_env(), "EDGE_GENRE_MQTT": broker.url(), "EDGE_GENRE_MQTT_CREDENTIALS": str(credentials),
               "EDGE_GENRE_MQTT_NODE": "testpi"}
        proc = subprocess.run(listen_cmd(model, "--file", str(DEMO), "--no-realtime", "--duration", "12",
                                         "--hop", "1", "--json", "--mqtt-interval", "0"),
                              capture_output=True, text=True, timeout=60, env=env, cwd=REPO)
        assert proc.returncode == 0, proc.stderr
        hops = [json.loads(line) for line in proc.stdout.splitlines() if '"summary"' not in line]
        time.sleep(0.5)
        states = [json.loads(m.payload) for m in sub.on("test/testpi/state")]
        # every hop's smoothed label, in order (interval 0), the last one retained by the broker
        assert [s["state"] for s in states][-len(hops):] == [h["genre"] for h in hops]
        assert states[-1]["confidence"] == pytest.approx(hops[-1]["confidence"], abs=1e-3)
        assert [m.payload for m in sub.on("test/testpi/availability")] == ["online", "offline"]
        config = json.loads(sub.on("homeassistant/sensor/testpi/state/config")[0].payload)
        assert config["state_topic"] == "test/testpi/state" and config["unique_id"] == "edge-genre-testpi-state"
        assert "edge-genre: mqtt: connected to mqtt://edge@127.0.0.1" in proc.stderr
        summary = json.loads(proc.stdout.splitlines()[-1])["summary"]
        assert summary["mqtt"]["connections"] == 1 and 1 <= summary["mqtt"]["published"] <= len(hops)
        assert f"edge-genre: mqtt     {summary['mqtt']['published']} states published, 1 connection to" in proc.stderr
    finally:
        sub.close()
    # retained: a subscriber that comes later gets discovery, the last state and "offline"
    late = Subscriber(broker.port)
    try:
        time.sleep(0.5)
        assert [m.retain for m in late.on("test/testpi/state")] == [True]
        assert json.loads(late.on("test/testpi/state")[0].payload)["state"] == hops[-1]["genre"]
        assert [m.payload for m in late.on("test/testpi/availability")] == ["offline"]
        assert len(late.on("homeassistant/sensor/testpi/confidence/config")) == 1
    finally:
        late.close()


def test_broker_restart_mid_run_listening_goes_on_and_publishing_resumes(broker, model, credentials):
    sub = Subscriber(broker.port)
    proc = subprocess.Popen(
        listen_cmd(model, "--file", str(DEMO), "--realtime", "--duration", "9", "--hop", "0.5", "--json",
                   "--mqtt", broker.url(), "--mqtt-credentials", str(credentials), "--mqtt-node", "pi",
                   "--mqtt-interval", "0"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=run_env(), cwd=REPO)
    try:
        first = proc.stdout.readline()  # the first hop (3 s of audio)
        assert first, proc.stderr.read()
        broker.stop()
        down_at = time.monotonic()
        time.sleep(1.0)
        broker.start()
        up_at = time.monotonic()
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in (first + rest).splitlines()]
    hops = [h for h in lines if "summary" not in h]
    # listening never waited for the broker: every hop of the 9 s is there (hop 0.4876 s), none late
    assert len(hops) == lines[-1]["summary"]["windows"] >= 12
    gaps = [b["unix_time"] - a["unix_time"] for a, b in zip(hops, hops[1:])]
    assert max(gaps) < 0.4876 + 0.3, gaps
    assert "lost the connection" in err and err.count("mqtt: connected") == 2, err
    time.sleep(1.0)
    after = [json.loads(m.payload) for m in sub.on("test/pi/state") if m.at > up_at]
    assert after, err
    assert after[-1]["t"] == pytest.approx(hops[-1]["t"], abs=1e-3)  # the last hop reached the broker
    assert down_at < up_at
    sub.close()


def test_wrong_password_is_one_clear_line_and_listening_goes_on(broker, model, tmp_path):
    bad = tmp_path / "bad.credentials"
    bad.write_text(f"username={USER}\npassword=wrong\n")
    bad.chmod(0o600)
    proc = subprocess.run(listen_cmd(model, "--file", str(DEMO), "--realtime", "--duration", "5", "--json",
                                     "--mqtt", broker.url(), "--mqtt-credentials", str(bad), "--mqtt-node", "pi"),
                          capture_output=True, text=True, timeout=60, env=run_env(), cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    mqtt_lines = [line for line in proc.stderr.splitlines() if line.startswith("edge-genre: mqtt:")]
    assert len(mqtt_lines) == 1, proc.stderr
    assert "refused the connection: Not authorized" in mqtt_lines[0] or "Bad user name or password" in mqtt_lines[0]
    assert "still classifying" in mqtt_lines[0]
    hops = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(hops) == 4 and "summary" in hops[-1]  # windows at 3, 4, 5 s and the summary


def test_unreachable_broker_does_not_hold_up_listening(model):
    port = _free_port()  # nothing listens there
    t0 = time.monotonic()
    proc = subprocess.run(listen_cmd(model, "--file", str(DEMO), "--no-realtime", "--duration", "10", "--json",
                                     "--mqtt", f"mqtt://127.0.0.1:{port}"),
                          capture_output=True, text=True, timeout=60, env=run_env(), cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 9  # 8 hops + summary
    assert time.monotonic() - t0 < 30
    reported = [line for line in proc.stderr.splitlines() if "mqtt: cannot reach" in line]
    assert len(reported) <= 1 and all("Connection refused" in line for line in reported), proc.stderr


def _make_certificates(tmp: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl command line)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed: TLS test skipped")
    run = lambda *args: subprocess.run([openssl, *args], check=True, capture_output=True, cwd=tmp)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=edge-genre test CA",
        "-keyout", "ca.key", "-out", "ca.crt")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr")
    (tmp / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "san.ext", "-out", "server.crt")
    return tmp / "ca.crt", tmp / "server.crt", tmp / "server.key"


def test_tls_with_a_private_ca(tmp_path, model, credentials):
    ca, cert, key = _make_certificates(tmp_path)
    broker = Broker(tmp_path)
    broker.conf.write_text(broker.conf.read_text() + f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n")
    broker.start()
    try:
        proc = subprocess.run(listen_cmd(model, "--file", str(DEMO), "--no-realtime", "--duration", "5", "--json",
                                         "--mqtt", f"mqtts://127.0.0.1:{broker.port}/test", "--mqtt-ca", str(ca),
                                         "--mqtt-credentials", str(credentials), "--mqtt-node", "tls"),
                              capture_output=True, text=True, timeout=60, env=run_env(), cwd=REPO)
        assert proc.returncode == 0, proc.stderr
        assert f"mqtt: connected to mqtts://edge@127.0.0.1:{broker.port}" in proc.stderr, proc.stderr
        # without the private CA the certificate is not trusted: one line, listening goes on
        proc = subprocess.run(listen_cmd(model, "--file", str(DEMO), "--realtime", "--duration", "4", "--json",
                                         "--mqtt", f"mqtts://127.0.0.1:{broker.port}/test",
                                         "--mqtt-credentials", str(credentials), "--mqtt-node", "tls"),
                              capture_output=True, text=True, timeout=60, env=run_env(), cwd=REPO)
        assert proc.returncode == 0, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.startswith("edge-genre: mqtt:")]
        assert len(lines) == 1 and "TLS certificate not trusted" in lines[0], proc.stderr
    finally:
        broker.stop()


def test_last_will_marks_the_node_offline_when_listen_dies(broker, model, credentials):
    sub = Subscriber(broker.port)
    proc = subprocess.Popen(
        listen_cmd(model, "--file", str(DEMO), "--realtime", "--loop", "0", "--json", "--mqtt", broker.url(),
                   "--mqtt-credentials", str(credentials), "--mqtt-node", "will"),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=run_env(), cwd=REPO)
    try:
        assert proc.stdout.readline()  # a first hop: connected well before
        deadline = time.monotonic() + 10
        while not sub.on("test/will/state") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [m.payload for m in sub.on("test/will/availability")] == ["online"]
        proc.kill()  # no clean shutdown: only the broker's last will can say "offline"
        proc.wait(10)
        deadline = time.monotonic() + 10
        while len(sub.on("test/will/availability")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [m.payload for m in sub.on("test/will/availability")] == ["online", "offline"]
    finally:
        if proc.poll() is None:
            proc.kill()
        sub.close()
