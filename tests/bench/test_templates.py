"""Build templates: naming, placeholders, splicing of {mode_args} and {extra}."""
import unittest

import benchpath  # noqa: F401
from bench import templates

VALUES = {
    "binary": "/b/mtproto-proxy", "port": "4000", "stats_port": "4001", "secret": "ab" * 16,
    "proxy_secret_file": "/t/proxy-secret", "config_file": "/t/proxy-multi.conf",
    "shards": "2", "backend": "epoll", "dc_addr": "127.0.0.1:4100",
    "tls_domain": "bench.example", "tls_target": "127.0.0.1:4200",
}


class TemplatesTest(unittest.TestCase):
    def test_bare_binary_gets_default_args(self):
        name, t = templates.parse_build("", 0, "/b/mtproto-proxy")
        self.assertEqual(name, "A")
        values = dict(VALUES, mode_args=templates.mode_args("me", VALUES), extra=[])
        argv = templates.expand(t, values)
        self.assertEqual(argv[0], "/b/mtproto-proxy")
        self.assertEqual(argv[argv.index("-H") + 1], "4000")
        self.assertEqual(argv[argv.index("--io-backend") + 1], "epoll")
        self.assertEqual(argv[-1], "/t/proxy-multi.conf")
        self.assertEqual(argv[-3:-1], ["--aes-pwd", "/t/proxy-secret"])

    def test_named_template_and_splicing(self):
        name, t = templates.parse_build(
            "ref=/opt/c/mtproto-proxy -u nobody -p {stats_port} -H {port} -S {secret} "
            "--aes-pwd {proxy_secret_file} {config_file} -M {shards} {extra}", 1, "/x")
        self.assertEqual(name, "ref")
        argv = templates.expand(t, dict(VALUES, extra=["--nice", "0"]))
        self.assertEqual(argv[:3], ["/opt/c/mtproto-proxy", "-u", "nobody"])
        self.assertEqual(argv[-4:], ["-M", "2", "--nice", "0"])
        self.assertEqual(templates.fields(t).count("port"), 1)

    def test_second_unnamed_build_is_b_and_equals_in_args_is_not_a_name(self):
        name, t = templates.parse_build("/p/proxy -D a.example --domain-target a.example={tls_target}",
                                        1, "/x")
        self.assertEqual(name, "B")
        self.assertIn("a.example=127.0.0.1:4200", templates.expand(t, VALUES))

    def test_direct_and_tls_mode_args(self):
        d = templates.mode_args("direct", VALUES)
        self.assertIn("--direct", d)
        self.assertIn("2:127.0.0.1:4100", d)
        tls = templates.mode_args("tls", VALUES)
        self.assertEqual(tls[:4], ["-D", "bench.example", "--domain-target",
                                   "bench.example=127.0.0.1:4200"])

    def test_unknown_placeholder_and_braces(self):
        with self.assertRaises(templates.TemplateError):
            templates.parse_build("/p {nope}", 0, "/x")
        with self.assertRaises(templates.TemplateError):
            templates.check("/p {port")
        self.assertEqual(templates.expand("/p {{literal}} {port}", VALUES),
                         ["/p", "{literal}", "4000"])

    def test_missing_value(self):
        with self.assertRaises(templates.TemplateError):
            templates.expand("/p {port}", {})

    def test_help_lists_every_placeholder(self):
        text = templates.placeholders_help()
        for k in templates.PLACEHOLDERS:
            self.assertIn("{" + k + "}", text)


if __name__ == "__main__":
    unittest.main()
