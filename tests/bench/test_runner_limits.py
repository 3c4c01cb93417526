"""How many idle connections each target is measured with when the open-file limit is low:
the relay floor holds two descriptors per client, everything else one."""
import types
import unittest
from unittest import mock

import benchpath  # noqa: F401  (puts tools/ on sys.path)
from bench import runner


def _run(idle_connections):
    """A Run with only what idle_connections_for reads (no binaries, no temp dir)."""
    r = runner.Run.__new__(runner.Run)
    r.o = types.SimpleNamespace(idle_connections=idle_connections)
    r.notes = []
    r.said = []
    r.say = r.said.append
    return r


RELAY = runner.Target("floor-relay", "floor", floor="relay")
PLAIN = runner.Target("floor-plain", "floor", floor="plain")
BUILD = runner.Target("A", "build", template="{binary}")


class IdleConnectionsTest(unittest.TestCase):
    def test_a_low_limit_caps_only_the_relay_floor_and_says_so_once(self):
        r = _run(10000)
        with mock.patch.object(runner.procs, "file_limit", return_value=20000):
            fit = (20000 - runner.RELAY_SPARE_FDS) // 2
            self.assertEqual(r.idle_connections_for(RELAY), fit)
            self.assertEqual(r.idle_connections_for(RELAY), fit)
            self.assertEqual(r.idle_connections_for(PLAIN), 10000)
            self.assertEqual(r.idle_connections_for(BUILD), 10000)
        self.assertEqual(len(r.said), 1, r.said)
        self.assertIn(str(fit), r.said[0])
        self.assertIn("20000", r.said[0])

    def test_a_limit_with_room_leaves_every_target_at_the_asked_count(self):
        r = _run(10000)
        with mock.patch.object(runner.procs, "file_limit", return_value=262144):
            self.assertEqual(r.idle_connections_for(RELAY), 10000)
            self.assertEqual(r.idle_connections_for(BUILD), 10000)
        self.assertEqual(r.said, [])


if __name__ == "__main__":
    unittest.main()
