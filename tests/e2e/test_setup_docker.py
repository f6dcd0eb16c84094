"""scripts/setup-docker.sh: merging daemon.json, and the whole stop → move → restart path against
a private second dockerd (own socket, pidfile, exec-root and bridge), so that the engine serving
the other tests is never touched. (Not "bridge": "none": dockerd then deletes docker0, which the
main engine's containers need.)"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

SOURCE_DIR = os.environ.get("SMLOCAL_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(SOURCE_DIR, "scripts", "setup-docker.sh")


class SetupDockerTest(unittest.TestCase):
    def run_script(self, daemon_json, *args):
        env = dict(os.environ, DOCKER_DAEMON_JSON=daemon_json)
        return subprocess.run(["bash", SCRIPT, *args, "--no-restart"], env=env, capture_output=True, text=True)

    def test_merges_into_existing_settings(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "daemon.json")
            with open(path, "w") as f:
                json.dump({"log-level": "warn", "data-root": "/old"}, f)
            result = self.run_script(path, "--data-root", os.path.join(tmp, "root"), "--default-shm-size", "2g")
            self.assertEqual(result.returncode, 0, result.stderr)
            with open(path) as f:
                config = json.load(f)
            self.assertEqual(config, {"log-level": "warn", "data-root": os.path.join(tmp, "root"),
                                      "default-shm-size": "2g"})

    def test_creates_the_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "sub", "daemon.json")
            result = self.run_script(path, "--data-root", tmp)
            self.assertEqual(result.returncode, 0, result.stderr)
            with open(path) as f:
                self.assertEqual(json.load(f), {"data-root": tmp})

    def test_requires_a_data_root(self):
        with tempfile.TemporaryDirectory() as tmp:
            result = self.run_script(os.path.join(tmp, "daemon.json"))
            self.assertEqual(result.returncode, 2)
            self.assertIn("--data-root is required", result.stderr)


class SetupDockerRestartTest(unittest.TestCase):
    """Moves a private engine's data-root and checks that its data came along."""

    BRIDGE = "smlsd0"

    def setUp(self):
        # Short: the socket path must fit in sun_path (108 bytes).
        self.tmp = tempfile.mkdtemp(prefix="sd", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        # dockerd uses but does not create a named bridge.
        subprocess.run(["ip", "link", "del", self.BRIDGE], capture_output=True)
        for command in (["ip", "link", "add", self.BRIDGE, "type", "bridge"],
                        ["ip", "addr", "add", "10.213.7.1/24", "dev", self.BRIDGE],
                        ["ip", "link", "set", self.BRIDGE, "up"]):
            subprocess.run(command, check=True, capture_output=True)
        self.addCleanup(subprocess.run, ["ip", "link", "del", self.BRIDGE], capture_output=True)
        self.config = os.path.join(self.tmp, "daemon.json")
        self.pidfile = os.path.join(self.tmp, "docker.pid")
        with open(self.config, "w") as f:
            json.dump({"pidfile": self.pidfile, "hosts": [f"unix://{self.tmp}/docker.sock"],
                       "exec-root": os.path.join(self.tmp, "exec"),
                       "data-root": os.path.join(self.tmp, "root1"),
                       "bridge": self.BRIDGE, "iptables": False, "ip6tables": False}, f)
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.tmp}/docker.sock",
                        DOCKER_DAEMON_JSON=self.config, DOCKERD_LOG=os.path.join(self.tmp, "log2"))
        # Detached (not our child), as setup.sh starts the real one: the script must see it exit,
        # not linger as our zombie.
        subprocess.run(["bash", "-c", 'nohup dockerd --config-file "$1" >"$2" 2>&1 &', "start",
                        self.config, os.path.join(self.tmp, "log1")], check=True)
        self.addCleanup(self.stop_private_engine)
        self.wait_for_engine()

    def docker(self, *args):
        return subprocess.run(["docker", *args], env=self.env, capture_output=True, text=True,
                              timeout=60)

    def wait_for_engine(self):
        deadline = time.monotonic() + 30
        while self.docker("info").returncode != 0:
            if time.monotonic() > deadline:
                with open(os.path.join(self.tmp, "log1")) as log:
                    self.fail("the private dockerd did not start:\n" + log.read()[-2000:])
            time.sleep(0.5)

    def stop_private_engine(self):
        try:
            with open(self.pidfile) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                os.kill(pid, 0)
                time.sleep(0.2)
        except ProcessLookupError:
            pass

    def test_moves_the_data_and_restarts_only_that_engine(self):
        main_engine_root = subprocess.run(
            ["docker", "info", "--format", "{{.DockerRootDir}}"],
            env={k: v for k, v in os.environ.items() if k != "DOCKER_HOST"},
            capture_output=True, text=True).stdout.strip()
        self.assertEqual(self.docker("volume", "create", "smlocal-marker").returncode, 0)
        new_root = os.path.join(self.tmp, "root2")

        result = subprocess.run(["bash", SCRIPT, "--data-root", new_root, "--default-shm-size", "256m"],
                                env=self.env, capture_output=True, text=True, timeout=120)

        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("stopping dockerd", result.stdout)
        self.assertIn(f"moving {self.tmp}/root1 to {new_root}", result.stdout)
        info = self.docker("info", "--format", "{{.DockerRootDir}}")
        self.assertEqual(info.stdout.strip(), new_root)
        self.assertIn("smlocal-marker", self.docker("volume", "ls", "--format", "{{.Name}}").stdout)
        with open(self.config) as f:
            config = json.load(f)
        self.assertEqual(config["data-root"], new_root)
        self.assertEqual(config["default-shm-size"], "256m")
        self.assertEqual(config["pidfile"], self.pidfile)  # the rest of the file is kept
        # The engine the other tests use was neither stopped nor moved, and its bridge is intact.
        self.assertEqual(subprocess.run(["ip", "link", "show", "docker0"], capture_output=True).returncode, 0)
        self.assertEqual(subprocess.run(
            ["docker", "info", "--format", "{{.DockerRootDir}}"],
            env={k: v for k, v in os.environ.items() if k != "DOCKER_HOST"},
            capture_output=True, text=True).stdout.strip(), main_engine_root)


if __name__ == "__main__":
    unittest.main()
