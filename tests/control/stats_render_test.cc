#include "control/stats_render.h"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"

namespace mtp {
namespace {

// Every field gets a distinct value so a swapped key shows up.
StatsSnapshot FilledSnapshot() {
  StatsSnapshot s;
  auto& e = s.engine;
  e.pid = 4242;
  e.start_time = 1700000000;
  e.current_time = 1700000100;  // uptime 100
  e.tot_idle_time_s = 25.5;
  e.recent_idle_percent = 12.3456;
  e.active_network_events = 7;
  e.time_after_epoll_s = 0.0012346;
  e.epoll_calls = 1001;
  e.epoll_intr = 2;
  e.pid_ip = 0x0a000001;
  e.pid_port = -1;
  e.pid_pid = 4242;
  e.pid_utime = 1700000000;
  auto& c = s.connections;
  int64_t v = 100;
  for (int64_t* f : {&c.active_connections,
                     &c.active_dh_connections,
                     &c.outbound_connections,
                     &c.ready_outbound_connections,
                     &c.active_outbound_connections,
                     &c.outbound_connections_created,
                     &c.total_connect_failures,
                     &c.inbound_connections,
                     &c.active_inbound_connections,
                     &c.inbound_connections_accepted,
                     &c.listening_connections,
                     &c.unused_connections_closed,
                     &c.ready_targets,
                     &c.allocated_targets,
                     &c.active_targets,
                     &c.inactive_targets,
                     &c.free_targets,
                     &c.max_connections,
                     &c.active_special_connections,
                     &c.max_special_connections,
                     &c.max_accept_rate,
                     &c.max_connection,
                     &c.conn_generation,
                     &c.allocated_connections,
                     &c.allocated_outbound_connections,
                     &c.allocated_inbound_connections,
                     &c.allocated_socket_connections,
                     &c.tcp_readv_calls,
                     &c.tcp_readv_intr,
                     &c.tcp_readv_bytes,
                     &c.tcp_writev_calls,
                     &c.tcp_writev_intr,
                     &c.tcp_writev_bytes,
                     &c.free_later_size,
                     &c.free_later_total,
                     &c.accept_calls_failed,
                     &c.accept_nonblock_set_failed,
                     &c.accept_connection_limit_failed,
                     &c.accept_rate_limit_failed,
                     &c.accept_init_accepted_failed}) {
    *f = v++;
  }
  c.cur_accept_rate_remaining = 49.5;
  s.raw_msg = {200, 201};
  s.buffers = {300, 301, 302, 303, 304, 305, 306, 307};
  s.tl_parse.rpc_queries_received = 400;
  s.tl_parse.rpc_answers_error = 401;
  s.tl_parse.rpc_answers_received = 402;
  s.tl_parse.rpc_sent_errors = 403;
  s.tl_parse.rpc_sent_answers = 404;
  s.tl_parse.rpc_sent_queries = 405;
  s.tl_parse.tl_in_allocated = 406;
  s.tl_parse.tl_out_allocated = 407;
  s.crypto.allocated_aes_crypto = 500;
  s.crypto.allocated_aes_crypto_temp = 501;
  s.crypto.aes_pwd_hash = "0123456789abcdef0123456789abcdef";
  s.stats_generate_time_s = 0.000123;
  s.memory = StatsSnapshot::Memory{600, 601, 602};
  auto& p = s.proxy;
  p.config_filename = "proxy-multi.conf";
  p.config_loaded_at = 1700000001;
  p.config_size = 700;
  p.config_md5 = "fedcba9876543210fedcba9876543210";
  p.config_auth_clusters = 11;
  p.workers = 0;
  p.queries_get = 50;
  p.tot_forwarded_queries = 701;
  p.expired_forwarded_queries = 702;
  p.dropped_queries = 703;
  p.tot_forwarded_responses = 704;
  p.dropped_responses = 705;
  p.tot_forwarded_simple_acks = 706;
  p.dropped_simple_acks = 707;
  p.active_rpcs_created = 708;
  p.active_rpcs = 709;
  p.rpc_dropped_answers = 710;
  p.rpc_dropped_running = 711;
  p.window_clamp = 131072;
  p.ext_connections = 712;
  p.ext_connections_created = 713;
  p.mtproto_proxy_errors = 714;
  p.connections_failed_lru = 715;
  p.connections_failed_flood = 716;
  p.http_connections = 717;
  p.pending_http_queries = 718;
  p.http_queries = 3;
  p.http_bad_headers = 719;
  p.proxy_tag_set = true;
  p.version = "mtproxy-ng-test";
  return s;
}

constexpr char kExpectedStats[] =
    "pid\t4242\n"
    "start_time\t1700000000\n"
    "current_time\t1700000100\n"
    "uptime\t100\n"
    "tot_idle_time\t25.500\n"
    "average_idle_percent\t25.500\n"
    "recent_idle_percent\t12.346\n"
    "active_network_events\t7\n"
    "time_after_epoll\t0.001235\n"
    "epoll_calls\t1001\n"
    "epoll_intr\t2\n"
    "PID\t[10.0.0.1:-1:4242:1700000000]\n"
    ">>>>>>connections>>>>>>\tstart\n"
    "active_connections\t100\n"
    "active_dh_connections\t101\n"
    "outbound_connections\t102\n"
    "ready_outbound_connections\t103\n"
    "active_outbound_connections\t104\n"
    "outbound_connections_created\t105\n"
    "total_connect_failures\t106\n"
    "inbound_connections\t107\n"
    "active_inbound_connections\t108\n"
    "inbound_connections_accepted\t109\n"
    "listening_connections\t110\n"
    "unused_connections_closed\t111\n"
    "ready_targets\t112\n"
    "allocated_targets\t113\n"
    "active_targets\t114\n"
    "inactive_targets\t115\n"
    "free_targets\t116\n"
    "max_connections\t117\n"
    "active_special_connections\t118\n"
    "max_special_connections\t119\n"
    "max_accept_rate\t120\n"
    "cur_accept_rate_remaining\t49.500000\n"
    "max_connection\t121\n"
    "conn_generation\t122\n"
    "allocated_connections\t123\n"
    "allocated_outbound_connections\t124\n"
    "allocated_inbound_connections\t125\n"
    "allocated_socket_connections\t126\n"
    "tcp_readv_calls\t127\n"
    "tcp_readv_intr\t128\n"
    "tcp_readv_bytes\t129\n"
    "tcp_writev_calls\t130\n"
    "tcp_writev_intr\t131\n"
    "tcp_writev_bytes\t132\n"
    "free_later_size\t133\n"
    "free_later_total\t134\n"
    "accept_calls_failed\t135\n"
    "accept_nonblock_set_failed\t136\n"
    "accept_connection_limit_failed\t137\n"
    "accept_rate_limit_failed\t138\n"
    "accept_init_accepted_failed\t139\n"
    "<<<<<<connections<<<<<<\tend\n"
    ">>>>>>raw_msg>>>>>>\tstart\n"
    "rwm_total_msgs\t200\n"
    "rwm_total_msg_parts\t201\n"
    "<<<<<<raw_msg<<<<<<\tend\n"
    ">>>>>>raw_msg_buffer>>>>>>\tstart\n"
    "total_used_buffers_size\t300\n"
    "total_used_buffers\t301\n"
    "allocated_buffer_bytes\t302\n"
    "buffer_chunk_alloc_ops\t303\n"
    "allocated_buffer_chunks\t304\n"
    "max_allocated_buffer_chunks\t305\n"
    "max_buffer_chunks\t306\n"
    "max_allocated_buffer_bytes\t307\n"
    "<<<<<<raw_msg_buffer<<<<<<\tend\n"
    ">>>>>>tl_parse>>>>>>\tstart\n"
    "rpc_queries_received\t400\n"
    "rpc_answers_error\t401\n"
    "rpc_answers_received\t402\n"
    "rpc_sent_errors\t403\n"
    "rpc_sent_answers\t404\n"
    "rpc_sent_queries\t405\n"
    "tl_in_allocated\t406\n"
    "tl_out_allocated\t407\n"
    "rpc_qps\t4.000000\n"
    "default_rpc_flags\t2048\n"
    "<<<<<<tl_parse<<<<<<\tend\n"
    ">>>>>>crypto_aes>>>>>>\tstart\n"
    "allocated_aes_crypto\t500\n"
    "allocated_aes_crypto_temp\t501\n"
    "aes_pwd_hash\t0123456789abcdef0123456789abcdef\n"
    "<<<<<<crypto_aes<<<<<<\tend\n"
    ">>>>>>crypto_dh>>>>>>\tstart\n"
    "tot_dh_rounds\t0 0 0\n"
    "<<<<<<crypto_dh<<<<<<\tend\n"
    "stats_generate_time\t0.000123\n"
    "vmsize_bytes\t600\n"
    "vmrss_bytes\t601\n"
    "vmdata_bytes\t602\n"
    "config_filename\tproxy-multi.conf\n"
    "config_loaded_at\t1700000001\n"
    "config_size\t700\n"
    "config_md5\tfedcba9876543210fedcba9876543210\n"
    "config_auth_clusters\t11\n"
    "workers\t0\n"
    "queries_get\t50\n"
    "qps_get\t0.500\n"
    "tot_forwarded_queries\t701\n"
    "expired_forwarded_queries\t702\n"
    "dropped_queries\t703\n"
    "tot_forwarded_responses\t704\n"
    "dropped_responses\t705\n"
    "tot_forwarded_simple_acks\t706\n"
    "dropped_simple_acks\t707\n"
    "active_rpcs_created\t708\n"
    "active_rpcs\t709\n"
    "rpc_dropped_answers\t710\n"
    "rpc_dropped_running\t711\n"
    "window_clamp\t131072\n"
    "total_ready_targets\t112\n"
    "total_allocated_targets\t113\n"
    "total_declared_targets\t114\n"
    "total_inactive_targets\t115\n"
    "total_connections\t100\n"
    "total_encrypted_connections\t500\n"
    "total_allocated_connections\t123\n"
    "total_allocated_outbound_connections\t124\n"
    "total_allocated_inbound_connections\t125\n"
    "total_allocated_socket_connections\t126\n"
    "total_dh_connections\t101\n"
    "total_dh_rounds\t0 0 0\n"
    "total_special_connections\t118\n"
    "total_max_special_connections\t119\n"
    "total_accept_connections_failed\t139 135 137 138 136\n"
    "ext_connections\t712\n"
    "ext_connections_created\t713\n"
    "total_active_network_events\t7\n"
    "total_network_buffers_used_size\t300\n"
    "total_network_buffers_allocated_bytes\t302\n"
    "total_network_buffers_used\t301\n"
    "total_network_buffer_chunks_allocated\t304\n"
    "total_network_buffer_chunks_allocated_max\t305\n"
    "mtproto_proxy_errors\t714\n"
    "connections_failed_lru\t715\n"
    "connections_failed_flood\t716\n"
    "http_connections\t717\n"
    "pending_http_queries\t718\n"
    "http_queries\t3\n"
    "http_bad_headers\t719\n"
    "http_qps\t0.030000\n"
    "proxy_mode\t2\n"
    "proxy_tag_set\t1\n"
    "version\tmtproxy-ng-test\n";

TEST(StatsRenderTest, FullTextInReferenceOrderAndFormat) {
  EXPECT_EQ(RenderStatsText(FilledSnapshot()), kExpectedStats);
}

TEST(StatsRenderTest, ZeroUptimeAndNoMemory) {
  StatsSnapshot s;
  s.engine.start_time = s.engine.current_time = 1700000000;
  s.proxy.queries_get = 5;
  std::string text = RenderStatsText(s);
  EXPECT_NE(text.find("\nuptime\t0\n"), std::string::npos);
  EXPECT_NE(text.find("\naverage_idle_percent\t0.000\n"), std::string::npos);
  EXPECT_NE(text.find("\nqps_get\t0.000\n"), std::string::npos);
  EXPECT_NE(text.find("\nrpc_qps\t0.000000\n"), std::string::npos);
  EXPECT_EQ(text.find("vmsize_bytes"), std::string::npos);
  EXPECT_NE(text.find("\naes_pwd_hash\tnone\n"), std::string::npos);
  EXPECT_NE(text.find("\nproxy_tag_set\t0\n"), std::string::npos);
  EXPECT_NE(text.find("\nproxy_mode\t2\n"), std::string::npos);
  EXPECT_NE(text.find("PID\t[0.0.0.0:-1:0:0]\n"), std::string::npos);
}

TEST(StatsRenderTest, EveryRequiredKeyOnceAsNameTabValue) {
  // Keys of stats-and-ops.md §2.1, §2.2, §2.5, §2.7 and §2.8.
  const std::vector<std::string> required = {"pid",
                                             "start_time",
                                             "current_time",
                                             "uptime",
                                             "tot_idle_time",
                                             "average_idle_percent",
                                             "recent_idle_percent",
                                             "active_network_events",
                                             "time_after_epoll",
                                             "epoll_calls",
                                             "epoll_intr",
                                             "PID",
                                             "active_connections",
                                             "active_dh_connections",
                                             "outbound_connections",
                                             "ready_outbound_connections",
                                             "active_outbound_connections",
                                             "outbound_connections_created",
                                             "total_connect_failures",
                                             "inbound_connections",
                                             "active_inbound_connections",
                                             "inbound_connections_accepted",
                                             "listening_connections",
                                             "unused_connections_closed",
                                             "ready_targets",
                                             "allocated_targets",
                                             "active_targets",
                                             "inactive_targets",
                                             "free_targets",
                                             "max_connections",
                                             "active_special_connections",
                                             "max_special_connections",
                                             "max_accept_rate",
                                             "cur_accept_rate_remaining",
                                             "max_connection",
                                             "conn_generation",
                                             "allocated_connections",
                                             "allocated_outbound_connections",
                                             "allocated_inbound_connections",
                                             "allocated_socket_connections",
                                             "tcp_readv_calls",
                                             "tcp_readv_intr",
                                             "tcp_readv_bytes",
                                             "tcp_writev_calls",
                                             "tcp_writev_intr",
                                             "tcp_writev_bytes",
                                             "free_later_size",
                                             "free_later_total",
                                             "accept_calls_failed",
                                             "accept_nonblock_set_failed",
                                             "accept_connection_limit_failed",
                                             "accept_rate_limit_failed",
                                             "accept_init_accepted_failed",
                                             "allocated_aes_crypto",
                                             "allocated_aes_crypto_temp",
                                             "aes_pwd_hash",
                                             "tot_dh_rounds",
                                             "stats_generate_time",
                                             "vmsize_bytes",
                                             "vmrss_bytes",
                                             "vmdata_bytes",
                                             "config_filename",
                                             "config_loaded_at",
                                             "config_size",
                                             "config_md5",
                                             "config_auth_clusters",
                                             "workers",
                                             "queries_get",
                                             "qps_get",
                                             "tot_forwarded_queries",
                                             "expired_forwarded_queries",
                                             "dropped_queries",
                                             "tot_forwarded_responses",
                                             "dropped_responses",
                                             "tot_forwarded_simple_acks",
                                             "dropped_simple_acks",
                                             "active_rpcs_created",
                                             "active_rpcs",
                                             "rpc_dropped_answers",
                                             "rpc_dropped_running",
                                             "window_clamp",
                                             "total_ready_targets",
                                             "total_allocated_targets",
                                             "total_declared_targets",
                                             "total_inactive_targets",
                                             "total_connections",
                                             "total_encrypted_connections",
                                             "total_allocated_connections",
                                             "total_allocated_outbound_connections",
                                             "total_allocated_inbound_connections",
                                             "total_allocated_socket_connections",
                                             "total_dh_connections",
                                             "total_dh_rounds",
                                             "total_special_connections",
                                             "total_max_special_connections",
                                             "total_accept_connections_failed",
                                             "ext_connections",
                                             "ext_connections_created",
                                             "total_active_network_events",
                                             "total_network_buffers_used_size",
                                             "total_network_buffers_allocated_bytes",
                                             "total_network_buffers_used",
                                             "total_network_buffer_chunks_allocated",
                                             "total_network_buffer_chunks_allocated_max",
                                             "mtproto_proxy_errors",
                                             "connections_failed_lru",
                                             "connections_failed_flood",
                                             "http_connections",
                                             "pending_http_queries",
                                             "http_queries",
                                             "http_bad_headers",
                                             "http_qps",
                                             "proxy_mode",
                                             "proxy_tag_set",
                                             "version"};
  std::string text = RenderStatsText(FilledSnapshot());
  ASSERT_EQ(text.back(), '\n');
  std::map<std::string, int> seen;
  for (absl::string_view line : absl::StrSplit(text.substr(0, text.size() - 1), '\n')) {
    std::vector<std::string> parts = absl::StrSplit(line, '\t');
    ASSERT_EQ(parts.size(), 2u) << line;
    EXPECT_FALSE(parts[1].empty()) << line;
    ++seen[parts[0]];
  }
  for (const std::string& key : required) EXPECT_EQ(seen[key], 1) << key;
}

TEST(PrometheusTest, WellFormedFamiliesAndLabels) {
  StatsSnapshot s = FilledSnapshot();
  s.extended.traffic.bytes_from_clients = 11;
  s.extended.traffic.bytes_to_clients = 12;
  s.extended.traffic.packets_to_upstream = 13;
  s.extended.handshakes_by_outcome = {{"ok", 40}, {"rejected", 2}, {"timeout", 1}};
  s.extended.handshake_rejections_by_reason = {{"unknown_secret", 2}};
  s.extended.me_links_by_state = {{"ready", 8}, {"connecting", 1}};
  s.extended.rate_limit_refusals_by_kind = {{"accept_rate", 138}};
  s.extended.client_closes_by_reason = {{"frame_error", 6}};
  s.extended.config_reloads_ok = 3;
  s.extended.config_reloads_failed = 1;
  s.extended.shards = 2;
  s.extended.secrets.resize(2);
  s.extended.secrets[1].connections_total = 9;
  s.extended.secrets[1].active_connections = 4;
  s.extended.secrets[1].bytes_to_clients = 99;
  s.fake_tls.enabled = true;
  s.fake_tls.fronted_by_reason = {{"bad_digest", 3}};
  std::string text = RenderPrometheus(s);

  const std::regex sample(
      R"(^([a-z_]+)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9]+(\.[0-9]+)?$)");
  const std::regex help(R"(^# HELP ([a-z_]+) .+$)");
  const std::regex type(R"(^# TYPE ([a-z_]+) (counter|gauge|histogram)$)");
  std::set<std::string> histograms;
  std::set<std::string> typed;
  std::string current;
  std::smatch m;
  for (absl::string_view piece : absl::StrSplit(text.substr(0, text.size() - 1), '\n')) {
    std::string line(piece);
    if (std::regex_match(line, m, help)) {
      current = m[1];
      continue;
    }
    if (std::regex_match(line, m, type)) {
      EXPECT_EQ(m[1], current) << line;
      EXPECT_TRUE(typed.insert(current).second) << "family twice: " << current;
      if (m[2] == "counter") {
        EXPECT_TRUE(current.ends_with("_total")) << current;
      }
      if (m[2] == "histogram") histograms.insert(current);
      continue;
    }
    ASSERT_TRUE(std::regex_match(line, m, sample)) << line;
    std::string family = m[1];
    if (histograms.count(current) != 0) {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        if (family == current + suffix) family = current;
      }
    }
    EXPECT_EQ(family, current) << line;  // samples follow their own HELP/TYPE
  }
  for (const char* line : {
           "mtproxy_uptime_seconds 100",
           "mtproxy_shards 2",
           "mtproxy_client_connections 108",
           "mtproxy_client_connections_accepted_total 109",
           "mtproxy_accept_failures_total{reason=\"rate_limit\"} 138",
           "mtproxy_rate_limit_refusals_total{kind=\"accept_rate\"} 138",
           "mtproxy_bytes_total{direction=\"from_clients\"} 11",
           "mtproxy_bytes_total{direction=\"to_clients\"} 12",
           "mtproxy_packets_total{direction=\"to_upstream\"} 13",
           "mtproxy_handshakes_total{outcome=\"ok\"} 40",
           "mtproxy_handshakes_total{outcome=\"timeout\"} 1",
           "mtproxy_handshake_rejections_total{reason=\"unknown_secret\"} 2",
           "mtproxy_me_links{state=\"ready\"} 8",
           "mtproxy_client_closes_total{reason=\"frame_error\"} 6",
           "mtproxy_me_targets{state=\"ready\"} 112",
           "mtproxy_config_reloads_total{result=\"ok\"} 3",
           "mtproxy_config_reloads_total{result=\"failed\"} 1",
           "mtproxy_secret_connections_total{secret=\"1\"} 9",
           "mtproxy_secret_active_connections{secret=\"1\"} 4",
           "mtproxy_secret_bytes_total{secret=\"1\",direction=\"to_clients\"} 99",
           "mtproxy_dropped_total{kind=\"queries\"} 703",
           "mtproxy_connections_closed_total{reason=\"flood\"} 716",
           "mtproxy_info{version=\"mtproxy-ng-test\"} 1",
       }) {
    EXPECT_NE(text.find(std::string("\n") + line + "\n"), std::string::npos) << line;
  }
}

TEST(StatsRenderTest, FakeTlsLinesOnlyWhenEnabledAndAfterTheReferenceKeys) {
  StatsSnapshot s = FilledSnapshot();
  const std::string without = RenderStatsText(s);
  EXPECT_EQ(without.find("tls_"), std::string::npos);
  EXPECT_EQ(RenderPrometheus(s).find("mtproxy_tls_"), std::string::npos);
  s.fake_tls.enabled = true;
  s.fake_tls.domains = 2;
  s.fake_tls.domains_probed = 1;
  s.fake_tls.handshakes_accepted = 31;
  s.fake_tls.fronted = 9;
  s.fake_tls.fronted_by_reason = {{"not_tls", 4}, {"replay", 5}};
  s.fake_tls.replay_cache_capacity = 1048576;
  s.fake_tls.replay_cache_replays = 5;
  const std::string text = RenderStatsText(s);
  ASSERT_EQ(text.rfind(without, 0), 0u);  // the reference's lines are unchanged, in front
  const std::string extra = text.substr(without.size());
  for (const char* line : {"tls_domains\t2\n", "tls_domains_probed\t1\n",
                           "tls_handshakes_accepted\t31\n", "tls_fronted\t9\n",
                           "tls_fronted_not_tls\t4\n", "tls_fronted_replay\t5\n",
                           "tls_replay_cache_capacity\t1048576\n",
                           "tls_replay_cache_replays\t5\n"}) {
    EXPECT_NE(extra.find(line), std::string::npos) << line;
  }
  const std::string prom = RenderPrometheus(s);
  for (const char* line : {"mtproxy_tls_handshakes_accepted_total 31\n",
                           "mtproxy_tls_fronted_total{reason=\"replay\"} 5\n",
                           "mtproxy_tls_domains{state=\"fallback\"} 1\n",
                           "mtproxy_tls_replay_cache_total{kind=\"replay\"} 5\n"}) {
    EXPECT_NE(prom.find(line), std::string::npos) << line;
  }
}

TEST(PrometheusTest, GuardCountersAndReplayContention) {
  StatsSnapshot s = FilledSnapshot();
  s.extended.client_read_pauses = 17;
  s.extended.me_write_stalls = 3;
  s.extended.me_unreachable_reports = 2;
  s.fake_tls.enabled = true;
  s.fake_tls.replay_cache_contended = 4;
  const std::string prom = RenderPrometheus(s);
  for (const char* line : {"\n# TYPE mtproxy_client_read_pauses_total counter\n",
                           "\nmtproxy_client_read_pauses_total 17\n",
                           "\n# TYPE mtproxy_me_write_stalls_total counter\n",
                           "\nmtproxy_me_write_stalls_total 3\n",
                           "\n# TYPE mtproxy_me_unreachable_reports_total counter\n",
                           "\nmtproxy_me_unreachable_reports_total 2\n",
                           "\nmtproxy_tls_replay_cache_total{kind=\"contended\"} 4\n"}) {
    EXPECT_NE(prom.find(line), std::string::npos) << line;
  }
  // /stats: the reference has no key for the guard counters; contention joins the tls_ block.
  const std::string text = RenderStatsText(s);
  EXPECT_NE(text.find("\ntls_replay_cache_contended\t4\n"), std::string::npos);
  EXPECT_EQ(text.find("read_pauses"), std::string::npos);
  EXPECT_EQ(text.find("write_stalls"), std::string::npos);
  EXPECT_EQ(text.find("unreachable"), std::string::npos);
  // Without -D nothing of the replay filter is shown, contention included.
  s.fake_tls.enabled = false;
  EXPECT_EQ(RenderPrometheus(s).find("contended"), std::string::npos);
  EXPECT_EQ(RenderStatsText(s).find("contended"), std::string::npos);
}

TEST(PrometheusTest, LabelValuesAreEscaped) {
  StatsSnapshot s;
  s.extended.handshake_rejections_by_reason = {{"a\"b\\c\nd", 1}};
  std::string text = RenderPrometheus(s);
  EXPECT_NE(text.find("mtproxy_handshake_rejections_total{reason=\"a\\\"b\\\\c\\nd\"} 1\n"),
            std::string::npos);
}

TEST(MemoryTest, Statm) {
  auto m = ParseStatm("2000 300 100 10 0 250 0\n", 4096);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->vmsize_bytes, 2000 * 4096);
  EXPECT_EQ(m->vmrss_bytes, 300 * 4096);
  EXPECT_EQ(m->vmdata_bytes, 250 * 4096);
  EXPECT_FALSE(ParseStatm("1 2 3", 4096).has_value());
  EXPECT_FALSE(ParseStatm("", 4096).has_value());
  auto self = ReadSelfMemory();
  ASSERT_TRUE(self.has_value());
  EXPECT_GT(self->vmrss_bytes, 0);
  EXPECT_GE(self->vmsize_bytes, self->vmrss_bytes);
}

TEST(VersionStringTest, ReferenceShape) {
  std::string v = VersionString("abc123");
  EXPECT_EQ(v.rfind("mtproxy-ng-", 0), 0u);
  EXPECT_NE(v.find(" compiled at "), std::string::npos);
  EXPECT_NE(v.find(" by gcc "), std::string::npos);
  EXPECT_NE(v.find(" 64-bit after commit abc123"), std::string::npos);
}

}  // namespace
}  // namespace mtp

namespace mtp {
namespace {

TEST(PrometheusTest, NamedSecretsCarryANameLabelBesideTheirIndex) {
  StatsSnapshot s;
  s.extended.secrets.resize(3);
  s.extended.secrets[0].name = "alice";
  s.extended.secrets[0].connections_total = 5;
  s.extended.secrets[0].active_connections = 2;
  s.extended.secrets[0].bytes_from_clients = 700;
  s.extended.secrets[0].bytes_to_clients = 800;
  s.extended.secrets[1].connections_total = 6;  // unnamed: index only
  s.extended.secrets[2].name = "team \"ops\"\\eu";
  s.extended.secrets[2].active_connections = 1;
  const std::string text = RenderPrometheus(s);
  for (const char* line : {
           "mtproxy_secret_connections_total{secret=\"0\",name=\"alice\"} 5",
           "mtproxy_secret_active_connections{secret=\"0\",name=\"alice\"} 2",
           "mtproxy_secret_bytes_total{secret=\"0\",name=\"alice\",direction=\"from_clients\"} 700",
           "mtproxy_secret_bytes_total{secret=\"0\",name=\"alice\",direction=\"to_clients\"} 800",
           "mtproxy_secret_connections_total{secret=\"1\"} 6",
           "mtproxy_secret_bytes_total{secret=\"1\",direction=\"to_clients\"} 0",
           "mtproxy_secret_active_connections{secret=\"2\",name=\"team \\\"ops\\\"\\\\eu\"} 1",
       }) {
    EXPECT_NE(text.find(std::string("\n") + line + "\n"), std::string::npos) << line;
  }
  EXPECT_EQ(text.find("secret=\"1\",name="), std::string::npos);
}

}  // namespace
}  // namespace mtp

namespace mtp {
namespace {

TEST(PrometheusTest, HistogramsAreCumulativeWithSumAndCount) {
  StatsSnapshot s;
  s.extended.handshake_seconds.upper_bounds = {0.001, 0.01, 0.1};
  s.extended.handshake_seconds.buckets = {3, 0, 2, 1};
  s.extended.handshake_seconds.sum = 0.5125;
  const std::string text = RenderPrometheus(s);
  const std::string expected =
      "# HELP mtproxy_handshake_duration_seconds Time from accept until the client handshake's "
      "outcome (the 64-byte header accepted, matching no secret, rate-limited or failed).\n"
      "# TYPE mtproxy_handshake_duration_seconds histogram\n"
      "mtproxy_handshake_duration_seconds_bucket{le=\"0.001\"} 3\n"
      "mtproxy_handshake_duration_seconds_bucket{le=\"0.01\"} 3\n"
      "mtproxy_handshake_duration_seconds_bucket{le=\"0.1\"} 5\n"
      "mtproxy_handshake_duration_seconds_bucket{le=\"+Inf\"} 6\n"
      "mtproxy_handshake_duration_seconds_sum 0.512500\n"
      "mtproxy_handshake_duration_seconds_count 6\n";
  EXPECT_NE(text.find(expected), std::string::npos) << text;
  // Histograms with nothing observed still expose +Inf, _sum and _count.
  EXPECT_NE(text.find("mtproxy_connection_duration_seconds_bucket{le=\"+Inf\"} 0\n"
                      "mtproxy_connection_duration_seconds_sum 0.000000\n"
                      "mtproxy_connection_duration_seconds_count 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE mtproxy_me_round_trip_seconds histogram\n"), std::string::npos);
}

}  // namespace
}  // namespace mtp

namespace mtp {
namespace {

TEST(PrometheusTest, StandardProcessSeriesAndBuildInfo) {
  StatsSnapshot s;
  s.build.version = "0.1.0";
  s.build.commit = "0123abcd-dirty";
  const std::string without = RenderPrometheus(s);
  EXPECT_EQ(without.find("process_"), std::string::npos);  // /proc unreadable: omitted
  EXPECT_NE(without.find("\nmtproxy_build_info{version=\"0.1.0\",commit=\"0123abcd-dirty\"} 1\n"),
            std::string::npos);
  ProcessMetrics m;
  m.cpu_seconds = 12.5;
  m.resident_bytes = 4096000;
  m.virtual_bytes = 81920000;
  m.open_fds = 37;
  m.max_fds = 65552;
  m.start_time_seconds = 1700000000.25;
  s.process = m;
  const std::string text = RenderPrometheus(s);
  for (const char* lines : {
           "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.500000\n",
           "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 4096000\n",
           "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes 81920000\n",
           "# TYPE process_open_fds gauge\nprocess_open_fds 37\n",
           "# TYPE process_max_fds gauge\nprocess_max_fds 65552\n",
           "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds "
           "1700000000.250000\n",
       }) {
    EXPECT_NE(text.find(lines), std::string::npos) << lines;
  }
}

}  // namespace
}  // namespace mtp
