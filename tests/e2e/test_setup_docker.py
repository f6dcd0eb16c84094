"""scripts/setup-docker.sh: merging daemon.json (the restart path is exercised by hand; CI's
dockerd serves the other tests and is not moved)."""
import json
import os
import subprocess
import tempfile
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


if __name__ == "__main__":
    unittest.main()
