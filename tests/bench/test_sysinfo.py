"""Result metadata: --version parsing, CPU model and flags, the pinning plan."""
import unittest

import benchpath  # noqa: F401
from bench import pinning, sysinfo

SHA = "a00b97d64a41e3942d07eda00c078a7a3fa03176"


class SysinfoTest(unittest.TestCase):
    def test_parse_version(self):
        self.assertEqual(sysinfo.parse_version(f"mtproto-proxy 0.1.0 (commit {SHA})\n"),
                         ("0.1.0", SHA, False))
        self.assertEqual(sysinfo.parse_version(
            f"mtproto-proxy 0.1.0 (commit {SHA}-dirty)\nbuild type release, compiler gcc\n"),
            ("0.1.0", SHA, True))
        self.assertIsNone(sysinfo.parse_version("mtproto-proxy 0.1.0 (commit unknown)"))
        self.assertIsNone(sysinfo.parse_version("usage: mtproto-proxy ..."))
        self.assertIsNone(sysinfo.parse_version(""))
        m = sysinfo.BUILD_TYPE_RE.search("x (commit y)\nbuild type debugoptimized, compiler z")
        self.assertEqual(m.group(1), "debugoptimized")

    def test_cpu_info(self):
        text = ("processor\t: 0\nmodel name\t: AMD EPYC 9654 96-Core Processor\n"
                "flags\t\t: fpu sse4_2 aes avx2 vaes avx512f hypervisor\n\n"
                "processor\t: 1\nmodel name\t: other\nflags\t\t: fpu\n")
        info = sysinfo.cpu_info(text)
        self.assertEqual(info["cpu_model"], "AMD EPYC 9654 96-Core Processor")
        self.assertEqual(info["cpu_flags"], ["aes", "vaes", "sse4_2", "avx2", "avx512f",
                                             "hypervisor"])
        self.assertEqual(sysinfo.cpu_info("")["cpu_model"], "unknown")

    def test_host_info(self):
        h = sysinfo.host_info()
        self.assertTrue(h["kernel"])
        self.assertIn("cpu_flags", h)


class PinningTest(unittest.TestCase):
    def test_two_cpus_split(self):
        p = pinning.plan([3, 5])
        self.assertEqual((p["proxy"], p["load"]), ([3], [5]))
        self.assertEqual(pinning.n_shards(p), 2)

    def test_many_cpus_half_and_override(self):
        p = pinning.plan(list(range(16)))
        self.assertEqual(p["proxy"], list(range(8)))
        self.assertEqual(p["load"], list(range(8, 16)))
        self.assertEqual(pinning.n_shards(p), 8)
        p = pinning.plan(list(range(16)), proxy_cpus=12)
        self.assertEqual(len(p["proxy"]), 12)
        with self.assertRaises(ValueError):
            pinning.plan([0, 1], proxy_cpus=2)

    def test_one_cpu_is_shared(self):
        p = pinning.plan([7])
        self.assertEqual(p["proxy"], [7])
        self.assertEqual(p["load"], [7])
        with self.assertRaises(ValueError):
            pinning.plan([])

    def test_parse_cpu_list(self):
        self.assertEqual(pinning.parse_cpu_list("0-3,8,2"), [0, 1, 2, 3, 8])

    def test_plan_uses_the_affinity_mask(self):
        import os
        self.assertEqual(pinning.available_cpus(), sorted(os.sched_getaffinity(0)))


if __name__ == "__main__":
    unittest.main()
