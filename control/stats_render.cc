// Renders StatsSnapshot as the reference's /stats text and as Prometheus text.
#include "control/stats_render.h"

#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace mtp {

namespace {

void Int(std::string& out, const char* key, int64_t value) {
  absl::StrAppend(&out, key, "\t", value, "\n");
}
void Fixed3(std::string& out, const char* key, double value) {
  absl::StrAppend(&out, key, "\t", absl::StrFormat("%.3f", value), "\n");
}
void Fixed6(std::string& out, const char* key, double value) {
  absl::StrAppend(&out, key, "\t", absl::StrFormat("%.6f", value), "\n");
}
void Str(std::string& out, const char* key, const std::string& value) {
  absl::StrAppend(&out, key, "\t", value, "\n");
}
void Begin(std::string& out, const char* module) {
  absl::StrAppend(&out, ">>>>>>", module, ">>>>>>\tstart\n");
}
void End(std::string& out, const char* module) {
  absl::StrAppend(&out, "<<<<<<", module, "<<<<<<\tend\n");
}
double SafeDiv(double x, double y) { return y > 0 ? x / y : 0; }

}  // namespace

std::string RenderStatsText(const StatsSnapshot& s) {
  std::string out;
  out.reserve(8192);
  const auto& e = s.engine;
  const int64_t uptime = s.uptime_s();

  // §2.1
  Int(out, "pid", e.pid);
  Int(out, "start_time", e.start_time);
  Int(out, "current_time", e.current_time);
  Int(out, "uptime", uptime);
  Fixed3(out, "tot_idle_time", e.tot_idle_time_s);
  Fixed3(out, "average_idle_percent",
         uptime > 0 ? e.tot_idle_time_s / static_cast<double>(uptime) * 100 : 0);
  Fixed3(out, "recent_idle_percent", e.recent_idle_percent);
  Int(out, "active_network_events", e.active_network_events);
  Fixed6(out, "time_after_epoll", e.time_after_epoll_s);
  Int(out, "epoll_calls", e.epoll_calls);
  Int(out, "epoll_intr", e.epoll_intr);
  absl::StrAppendFormat(&out, "PID\t[%d.%d.%d.%d:%d:%d:%d]\n", (e.pid_ip >> 24) & 0xff,
                        (e.pid_ip >> 16) & 0xff, (e.pid_ip >> 8) & 0xff, e.pid_ip & 0xff,
                        e.pid_port, e.pid_pid, e.pid_utime);

  // §2.2
  const auto& c = s.connections;
  Begin(out, "connections");
  Int(out, "active_connections", c.active_connections);
  Int(out, "active_dh_connections", c.active_dh_connections);
  Int(out, "outbound_connections", c.outbound_connections);
  Int(out, "ready_outbound_connections", c.ready_outbound_connections);
  Int(out, "active_outbound_connections", c.active_outbound_connections);
  Int(out, "outbound_connections_created", c.outbound_connections_created);
  Int(out, "total_connect_failures", c.total_connect_failures);
  Int(out, "inbound_connections", c.inbound_connections);
  Int(out, "active_inbound_connections", c.active_inbound_connections);
  Int(out, "inbound_connections_accepted", c.inbound_connections_accepted);
  Int(out, "listening_connections", c.listening_connections);
  Int(out, "unused_connections_closed", c.unused_connections_closed);
  Int(out, "ready_targets", c.ready_targets);
  Int(out, "allocated_targets", c.allocated_targets);
  Int(out, "active_targets", c.active_targets);
  Int(out, "inactive_targets", c.inactive_targets);
  Int(out, "free_targets", c.free_targets);
  Int(out, "max_connections", c.max_connections);
  Int(out, "active_special_connections", c.active_special_connections);
  Int(out, "max_special_connections", c.max_special_connections);
  Int(out, "max_accept_rate", c.max_accept_rate);
  Fixed6(out, "cur_accept_rate_remaining", c.cur_accept_rate_remaining);
  Int(out, "max_connection", c.max_connection);
  Int(out, "conn_generation", c.conn_generation);
  Int(out, "allocated_connections", c.allocated_connections);
  Int(out, "allocated_outbound_connections", c.allocated_outbound_connections);
  Int(out, "allocated_inbound_connections", c.allocated_inbound_connections);
  Int(out, "allocated_socket_connections", c.allocated_socket_connections);
  Int(out, "tcp_readv_calls", c.tcp_readv_calls);
  Int(out, "tcp_readv_intr", c.tcp_readv_intr);
  Int(out, "tcp_readv_bytes", c.tcp_readv_bytes);
  Int(out, "tcp_writev_calls", c.tcp_writev_calls);
  Int(out, "tcp_writev_intr", c.tcp_writev_intr);
  Int(out, "tcp_writev_bytes", c.tcp_writev_bytes);
  Int(out, "free_later_size", c.free_later_size);
  Int(out, "free_later_total", c.free_later_total);
  Int(out, "accept_calls_failed", c.accept_calls_failed);
  Int(out, "accept_nonblock_set_failed", c.accept_nonblock_set_failed);
  Int(out, "accept_connection_limit_failed", c.accept_connection_limit_failed);
  Int(out, "accept_rate_limit_failed", c.accept_rate_limit_failed);
  Int(out, "accept_init_accepted_failed", c.accept_init_accepted_failed);
  End(out, "connections");

  // §2.3
  Begin(out, "raw_msg");
  Int(out, "rwm_total_msgs", s.raw_msg.rwm_total_msgs);
  Int(out, "rwm_total_msg_parts", s.raw_msg.rwm_total_msg_parts);
  End(out, "raw_msg");
  const auto& b = s.buffers;
  Begin(out, "raw_msg_buffer");
  Int(out, "total_used_buffers_size", b.total_used_buffers_size);
  Int(out, "total_used_buffers", b.total_used_buffers);
  Int(out, "allocated_buffer_bytes", b.allocated_buffer_bytes);
  Int(out, "buffer_chunk_alloc_ops", b.buffer_chunk_alloc_ops);
  Int(out, "allocated_buffer_chunks", b.allocated_buffer_chunks);
  Int(out, "max_allocated_buffer_chunks", b.max_allocated_buffer_chunks);
  Int(out, "max_buffer_chunks", b.max_buffer_chunks);
  Int(out, "max_allocated_buffer_bytes", b.max_allocated_buffer_bytes);
  End(out, "raw_msg_buffer");

  // §2.4
  const auto& t = s.tl_parse;
  Begin(out, "tl_parse");
  Int(out, "rpc_queries_received", t.rpc_queries_received);
  Int(out, "rpc_answers_error", t.rpc_answers_error);
  Int(out, "rpc_answers_received", t.rpc_answers_received);
  Int(out, "rpc_sent_errors", t.rpc_sent_errors);
  Int(out, "rpc_sent_answers", t.rpc_sent_answers);
  Int(out, "rpc_sent_queries", t.rpc_sent_queries);
  Int(out, "tl_in_allocated", t.tl_in_allocated);
  Int(out, "tl_out_allocated", t.tl_out_allocated);
  Fixed6(out, "rpc_qps", SafeDiv(static_cast<double>(t.rpc_queries_received), uptime));
  Int(out, "default_rpc_flags", t.default_rpc_flags);
  End(out, "tl_parse");

  // §2.5
  Begin(out, "crypto_aes");
  Int(out, "allocated_aes_crypto", s.crypto.allocated_aes_crypto);
  Int(out, "allocated_aes_crypto_temp", s.crypto.allocated_aes_crypto_temp);
  Str(out, "aes_pwd_hash", s.crypto.aes_pwd_hash);
  End(out, "crypto_aes");
  Begin(out, "crypto_dh");
  absl::StrAppend(&out, "tot_dh_rounds\t", s.crypto.tot_dh_rounds[0], " ",
                  s.crypto.tot_dh_rounds[1], " ", s.crypto.tot_dh_rounds[2], "\n");
  End(out, "crypto_dh");

  // §2.6 (jobs, mp_queue, timers, rpc_targets) is omitted: see the header.

  // §2.7
  Fixed6(out, "stats_generate_time", s.stats_generate_time_s);
  if (s.memory) {
    Int(out, "vmsize_bytes", s.memory->vmsize_bytes);
    Int(out, "vmrss_bytes", s.memory->vmrss_bytes);
    Int(out, "vmdata_bytes", s.memory->vmdata_bytes);
  }

  // §2.8
  const auto& p = s.proxy;
  Str(out, "config_filename", p.config_filename);
  Int(out, "config_loaded_at", p.config_loaded_at);
  Int(out, "config_size", p.config_size);
  Str(out, "config_md5", p.config_md5);
  Int(out, "config_auth_clusters", p.config_auth_clusters);
  Int(out, "workers", p.workers);
  Int(out, "queries_get", p.queries_get);
  Fixed3(out, "qps_get", SafeDiv(static_cast<double>(p.queries_get), uptime));
  Int(out, "tot_forwarded_queries", p.tot_forwarded_queries);
  Int(out, "expired_forwarded_queries", p.expired_forwarded_queries);
  Int(out, "dropped_queries", p.dropped_queries);
  Int(out, "tot_forwarded_responses", p.tot_forwarded_responses);
  Int(out, "dropped_responses", p.dropped_responses);
  Int(out, "tot_forwarded_simple_acks", p.tot_forwarded_simple_acks);
  Int(out, "dropped_simple_acks", p.dropped_simple_acks);
  Int(out, "active_rpcs_created", p.active_rpcs_created);
  Int(out, "active_rpcs", p.active_rpcs);
  Int(out, "rpc_dropped_answers", p.rpc_dropped_answers);
  Int(out, "rpc_dropped_running", p.rpc_dropped_running);
  Int(out, "window_clamp", p.window_clamp);
  Int(out, "total_ready_targets", c.ready_targets);
  Int(out, "total_allocated_targets", c.allocated_targets);
  Int(out, "total_declared_targets", c.active_targets);
  Int(out, "total_inactive_targets", c.inactive_targets);
  Int(out, "total_connections", c.active_connections);
  Int(out, "total_encrypted_connections", s.crypto.allocated_aes_crypto);
  Int(out, "total_allocated_connections", c.allocated_connections);
  Int(out, "total_allocated_outbound_connections", c.allocated_outbound_connections);
  Int(out, "total_allocated_inbound_connections", c.allocated_inbound_connections);
  Int(out, "total_allocated_socket_connections", c.allocated_socket_connections);
  Int(out, "total_dh_connections", c.active_dh_connections);
  absl::StrAppend(&out, "total_dh_rounds\t", s.crypto.tot_dh_rounds[0], " ",
                  s.crypto.tot_dh_rounds[1], " ", s.crypto.tot_dh_rounds[2], "\n");
  Int(out, "total_special_connections", c.active_special_connections);
  Int(out, "total_max_special_connections", c.max_special_connections);
  absl::StrAppend(&out, "total_accept_connections_failed\t", c.accept_init_accepted_failed, " ",
                  c.accept_calls_failed, " ", c.accept_connection_limit_failed, " ",
                  c.accept_rate_limit_failed, " ", c.accept_nonblock_set_failed, "\n");
  Int(out, "ext_connections", p.ext_connections);
  Int(out, "ext_connections_created", p.ext_connections_created);
  Int(out, "total_active_network_events", e.active_network_events);
  Int(out, "total_network_buffers_used_size", b.total_used_buffers_size);
  Int(out, "total_network_buffers_allocated_bytes", b.allocated_buffer_bytes);
  Int(out, "total_network_buffers_used", b.total_used_buffers);
  Int(out, "total_network_buffer_chunks_allocated", b.allocated_buffer_chunks);
  Int(out, "total_network_buffer_chunks_allocated_max", b.max_allocated_buffer_chunks);
  Int(out, "mtproto_proxy_errors", p.mtproto_proxy_errors);
  Int(out, "connections_failed_lru", p.connections_failed_lru);
  Int(out, "connections_failed_flood", p.connections_failed_flood);
  Int(out, "http_connections", p.http_connections);
  Int(out, "pending_http_queries", p.pending_http_queries);
  Int(out, "http_queries", p.http_queries);
  Int(out, "http_bad_headers", p.http_bad_headers);
  Fixed6(out, "http_qps", SafeDiv(static_cast<double>(p.http_queries), uptime));
  Int(out, "proxy_mode", p.proxy_mode);
  Int(out, "proxy_tag_set", p.proxy_tag_set ? 1 : 0);
  Str(out, "version", p.version);
  if (s.fake_tls.enabled) {
    // Ours, after every reference key so readers of the reference's list are unaffected.
    const auto& t = s.fake_tls;
    Int(out, "tls_domains", t.domains);
    Int(out, "tls_domains_probed", t.domains_probed);
    Int(out, "tls_handshakes_accepted", t.handshakes_accepted);
    Int(out, "tls_fronted", t.fronted);
    for (const NamedCount& r : t.fronted_by_reason) {
      Int(out, absl::StrCat("tls_fronted_", r.name).c_str(), r.value);
    }
    for (const NamedCount& r : t.handshake_failures_by_stage) {
      Int(out, absl::StrCat("tls_handshake_failures_", r.name).c_str(), r.value);
    }
    Int(out, "tls_front_failed", t.front_failed);
    Int(out, "tls_fronting_active", t.fronting_active);
    Int(out, "tls_bad_records", t.bad_records);
    Int(out, "tls_front_bytes_in", t.front_bytes_in);
    Int(out, "tls_front_bytes_out", t.front_bytes_out);
    Int(out, "tls_replay_cache_capacity", t.replay_cache_capacity);
    Int(out, "tls_replay_cache_inserts", t.replay_cache_inserts);
    Int(out, "tls_replay_cache_replays", t.replay_cache_replays);
    Int(out, "tls_replay_cache_evictions", t.replay_cache_evictions);
    Int(out, "tls_replay_cache_young_evictions", t.replay_cache_young_evictions);
    Int(out, "tls_replay_cache_contended", t.replay_cache_contended);
  }
  if (s.extended.config_refresh.enabled) {
    // Ours (--config-refresh-interval), after the reference's keys like the tls_ ones.
    const auto& r = s.extended.config_refresh;
    Int(out, "config_refresh_interval", r.interval_s);
    Int(out, "config_refresh_ok", r.rounds_ok);
    Int(out, "config_refresh_failed", r.rounds_failed);
    Int(out, "config_refresh_installed", r.installs);
    Int(out, "config_refresh_last_ok", r.last_ok_unix);
    Int(out, "config_refresh_target_lines", r.target_lines);
    for (const NamedCount& f : r.failures_by_reason) {
      Int(out, absl::StrCat("config_refresh_failed_", f.name).c_str(), f.value);
    }
  }
  return out;
}

// --- Prometheus ---------------------------------------------------------------------------------

namespace {

std::string EscapeLabel(const std::string& value) {
  std::string out;
  for (char ch : value) {
    if (ch == '\\') {
      out += "\\\\";
    } else if (ch == '"') {
      out += "\\\"";
    } else if (ch == '\n') {
      out += "\\n";
    } else {
      out += ch;
    }
  }
  return out;
}

class PromWriter {
 public:
  void Family(const char* name, const char* type, const char* help) {
    absl::StrAppend(&out_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
  }
  void Sample(const char* name, int64_t value) { absl::StrAppend(&out_, name, " ", value, "\n"); }
  // A family with one unlabelled sample.
  void Single(const char* name, const char* type, const char* help, int64_t value) {
    Family(name, type, help);
    Sample(name, value);
  }
  void Sample(const char* name, const char* label, const std::string& label_value, int64_t value) {
    absl::StrAppend(&out_, name, "{", label, "=\"", EscapeLabel(label_value), "\"} ", value, "\n");
  }
  void Sample2(const char* name, const char* label1, const std::string& value1, const char* label2,
               const std::string& value2, int64_t value) {
    absl::StrAppend(&out_, name, "{", label1, "=\"", EscapeLabel(value1), "\",", label2, "=\"",
                    EscapeLabel(value2), "\"} ", value, "\n");
  }
  // A family with one unlabelled floating-point sample.
  void SingleDouble(const char* name, const char* type, const char* help, double value) {
    Family(name, type, help);
    absl::StrAppend(&out_, name, " ", absl::StrFormat("%.6f", value), "\n");
  }
  // A sample with labels already formatted ("a=\"x\",b=\"y\"", values escaped).
  void Labelled(const char* name, const std::string& labels, int64_t value) {
    absl::StrAppend(&out_, name, "{", labels, "} ", value, "\n");
  }
  // One family from a list of labelled values.
  void Named(const char* name, const char* type, const char* help, const char* label,
             const std::vector<NamedCount>& values) {
    Family(name, type, help);
    for (const NamedCount& v : values) Sample(name, label, v.name, v.value);
  }
  // A histogram family: cumulative _bucket samples with le, then _sum and _count.
  void Histogram(const char* name, const char* help, const StatsSnapshot::Histogram& h) {
    Family(name, "histogram", help);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.upper_bounds.size(); ++i) {
      if (i < h.buckets.size()) cumulative += h.buckets[i];
      absl::StrAppend(&out_, name, "_bucket{le=\"", h.upper_bounds[i], "\"} ", cumulative, "\n");
    }
    if (h.upper_bounds.size() < h.buckets.size()) cumulative += h.buckets.back();
    absl::StrAppend(&out_, name, "_bucket{le=\"+Inf\"} ", cumulative, "\n");
    absl::StrAppend(&out_, name, "_sum ", absl::StrFormat("%.6f", h.sum), "\n");
    absl::StrAppend(&out_, name, "_count ", cumulative, "\n");
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string RenderPrometheus(const StatsSnapshot& s) {
  PromWriter w;
  const auto& c = s.connections;
  const auto& p = s.proxy;
  const auto& x = s.extended;

  w.Family("mtproxy_info", "gauge", "Build information.");
  w.Sample("mtproxy_info", "version", p.version, 1);
  w.Family("mtproxy_build_info", "gauge", "Build identity: version and git commit (always 1).");
  w.Labelled("mtproxy_build_info",
             absl::StrCat("version=\"", EscapeLabel(s.build.version), "\",commit=\"",
                          EscapeLabel(s.build.commit), "\""),
             1);
  if (s.process) {
    const ProcessMetrics& m = *s.process;
    w.SingleDouble("process_cpu_seconds_total", "counter",
                   "Total user and system CPU time spent in seconds.", m.cpu_seconds);
    w.Single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
             m.resident_bytes);
    w.Single("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
             m.virtual_bytes);
    w.Single("process_open_fds", "gauge", "Number of open file descriptors.", m.open_fds);
    w.Single("process_max_fds", "gauge", "Maximum number of open file descriptors.", m.max_fds);
    w.SingleDouble("process_start_time_seconds", "gauge",
                   "Start time of the process since unix epoch in seconds.",
                   m.start_time_seconds);
  }
  w.Single("mtproxy_start_time_seconds", "gauge", "Unix time the process started.",
           s.engine.start_time);
  w.Single("mtproxy_uptime_seconds", "gauge", "Seconds since the process started.", s.uptime_s());
  w.Single("mtproxy_shards", "gauge", "Shard threads running.", x.shards);

  w.Single("mtproxy_client_connections", "gauge", "Open client connections.",
           c.active_inbound_connections);
  w.Single("mtproxy_client_connections_limit", "gauge", "Client connection limit (-C).",
           c.max_special_connections);
  w.Single("mtproxy_client_connections_accepted_total", "counter", "Client connections accepted.",
           c.inbound_connections_accepted);
  w.Family("mtproxy_accept_failures_total", "counter",
           "Accepted sockets closed at once or accept() errors, by reason.");
  w.Sample("mtproxy_accept_failures_total", "reason", "rate_limit", c.accept_rate_limit_failed);
  w.Sample("mtproxy_accept_failures_total", "reason", "connection_limit",
           c.accept_connection_limit_failed);
  w.Sample("mtproxy_accept_failures_total", "reason", "accept_error", c.accept_calls_failed);
  w.Sample("mtproxy_accept_failures_total", "reason", "nonblock", c.accept_nonblock_set_failed);
  w.Sample("mtproxy_accept_failures_total", "reason", "init", c.accept_init_accepted_failed);
  w.Named("mtproxy_rate_limit_refusals_total", "counter", "Requests refused by rate limits.",
          "kind", x.rate_limit_refusals_by_kind);
  w.Single("mtproxy_outbound_connections", "gauge", "Open upstream connections.",
           c.outbound_connections);
  w.Single("mtproxy_outbound_connections_created_total", "counter", "Upstream connections created.",
           c.outbound_connections_created);
  w.Single("mtproxy_outbound_connect_failures_total", "counter",
           "Upstream connections that failed before becoming active.", c.total_connect_failures);
  w.Single("mtproxy_bindings", "gauge", "Client connections bound to an upstream connection.",
           p.ext_connections);
  w.Single("mtproxy_bindings_created_total", "counter", "Client-upstream bindings created.",
           p.ext_connections_created);

  w.Family("mtproxy_bytes_total", "counter", "Payload bytes relayed, by direction.");
  w.Sample("mtproxy_bytes_total", "direction", "from_clients", x.traffic.bytes_from_clients);
  w.Sample("mtproxy_bytes_total", "direction", "to_clients", x.traffic.bytes_to_clients);
  w.Sample("mtproxy_bytes_total", "direction", "to_upstream", x.traffic.bytes_to_upstream);
  w.Sample("mtproxy_bytes_total", "direction", "from_upstream", x.traffic.bytes_from_upstream);
  w.Family("mtproxy_packets_total", "counter", "Frames relayed, by direction.");
  w.Sample("mtproxy_packets_total", "direction", "from_clients", x.traffic.packets_from_clients);
  w.Sample("mtproxy_packets_total", "direction", "to_clients", x.traffic.packets_to_clients);
  w.Sample("mtproxy_packets_total", "direction", "to_upstream", x.traffic.packets_to_upstream);
  w.Sample("mtproxy_packets_total", "direction", "from_upstream", x.traffic.packets_from_upstream);
  w.Family("mtproxy_forwarded_total", "counter", "Messages forwarded, by kind.");
  w.Sample("mtproxy_forwarded_total", "kind", "queries", p.tot_forwarded_queries);
  w.Sample("mtproxy_forwarded_total", "kind", "responses", p.tot_forwarded_responses);
  w.Sample("mtproxy_forwarded_total", "kind", "simple_acks", p.tot_forwarded_simple_acks);
  w.Family("mtproxy_dropped_total", "counter", "Messages dropped, by kind.");
  w.Sample("mtproxy_dropped_total", "kind", "queries", p.dropped_queries);
  w.Sample("mtproxy_dropped_total", "kind", "responses", p.dropped_responses);
  w.Sample("mtproxy_dropped_total", "kind", "simple_acks", p.dropped_simple_acks);

  w.Named("mtproxy_handshakes_total", "counter", "Client handshakes, by outcome.", "outcome",
          x.handshakes_by_outcome);
  w.Named("mtproxy_handshake_rejections_total", "counter", "Rejected client handshakes, by reason.",
          "reason", x.handshake_rejections_by_reason);
  w.Named("mtproxy_me_links", "gauge", "Middle-end connections, by state.", "state",
          x.me_links_by_state);
  w.Family("mtproxy_me_targets", "gauge", "Middle-end targets, by state.");
  w.Sample("mtproxy_me_targets", "state", "ready", c.ready_targets);
  w.Sample("mtproxy_me_targets", "state", "declared", c.active_targets);
  w.Sample("mtproxy_me_targets", "state", "inactive", c.inactive_targets);

  w.Histogram("mtproxy_handshake_duration_seconds",
              "Time from accept until the client handshake's outcome (the 64-byte header "
              "accepted, matching no secret, rate-limited or failed).",
              x.handshake_seconds);
  w.Histogram("mtproxy_connection_duration_seconds",
              "Client connection lifetime, from accept to close.", x.connection_seconds);
  w.Histogram("mtproxy_me_round_trip_seconds",
              "Middle-end round trip: a client's first request sent to a middle-end until the "
              "first answer for that client arrives.",
              x.me_round_trip_seconds);
  w.Family("mtproxy_connections_closed_total", "counter",
           "Client connections closed by memory protection, by reason.");
  w.Sample("mtproxy_connections_closed_total", "reason", "lru", p.connections_failed_lru);
  w.Sample("mtproxy_connections_closed_total", "reason", "flood", p.connections_failed_flood);
  w.Named("mtproxy_client_closes_total", "counter",
          "Client connections closed by the proxy for a protocol or resource error, by reason.",
          "reason", x.client_closes_by_reason);
  w.Single("mtproxy_client_read_pauses_total", "counter",
           "Client reads paused because the client's own output queue went over its cap.",
           x.client_read_pauses);
  w.Single("mtproxy_me_write_stalls_total", "counter",
           "Middle-end connections closed because the middle-end stopped reading.",
           x.me_write_stalls);
  w.Single("mtproxy_me_unreachable_reports_total", "counter",
           "Middle-end targets reported unreachable in the log (rate-limited).",
           x.me_unreachable_reports);
  w.Single("mtproxy_direct_fallback_clients_total", "counter",
           "Clients connected to their DC directly because every middle-end of its cluster "
           "was unreachable (--direct-fallback-after).",
           x.direct_fallback_clients);
  w.Named("mtproxy_direct_fallback_switches_total", "counter",
          "A shard's switches of a DC's new clients to direct (to=direct) and back to the "
          "middle-ends (to=middle_end), --direct-fallback-after.",
          "to", x.direct_fallback_switches);
  w.Named("mtproxy_buffer_pressure_total", "counter",
          "Buffer budget defences that close no client, by event: a receive deferred until "
          "buffers came back, a middle-end link's receive paused, a middle-end link closed "
          "because its sealed output could not be queued.",
          "event", x.buffer_pressure_by_event);
  w.Single("mtproxy_me_link_buffer_bytes", "gauge",
           "Bytes allocated now for middle-end links' packet buffers (idle links give theirs "
           "back at the next tick).",
           x.me_link_buffer_bytes);
  w.Family("mtproxy_buffer_bytes", "gauge", "Network buffer memory.");
  w.Sample("mtproxy_buffer_bytes", "kind", "used", s.buffers.total_used_buffers_size);
  w.Sample("mtproxy_buffer_bytes", "kind", "allocated", s.buffers.allocated_buffer_bytes);
  w.Sample("mtproxy_buffer_bytes", "kind", "limit", s.buffers.max_allocated_buffer_bytes);
  if (s.memory) {
    w.Family("mtproxy_memory_bytes", "gauge", "Process memory from /proc/self/statm.");
    w.Sample("mtproxy_memory_bytes", "kind", "vmsize", s.memory->vmsize_bytes);
    w.Sample("mtproxy_memory_bytes", "kind", "vmrss", s.memory->vmrss_bytes);
    w.Sample("mtproxy_memory_bytes", "kind", "vmdata", s.memory->vmdata_bytes);
  }

  w.Family("mtproxy_config_reloads_total", "counter", "Configuration (re)loads, by result.");
  w.Sample("mtproxy_config_reloads_total", "result", "ok", x.config_reloads_ok);
  w.Sample("mtproxy_config_reloads_total", "result", "failed", x.config_reloads_failed);
  if (x.upstream_socks5) {
    w.Family("mtproxy_upstream_socks5_failures_total", "counter",
             "DC and middle-end connections (--upstream-socks5) whose SOCKS5 dial failed, by "
             "stage (tcp_connect, method, auth, connect) and reason.");
    for (const auto& f : x.upstream_socks5_failures) {
      w.Sample2("mtproxy_upstream_socks5_failures_total", "stage", f.stage, "reason", f.reason,
                f.value);
    }
  }
  if (x.config_refresh.enabled) {
    const auto& r = x.config_refresh;
    w.Family("mtproxy_config_refresh_total", "counter",
             "Downloads of Telegram's config and proxy secret, by result.");
    w.Sample("mtproxy_config_refresh_total", "result", "ok", r.rounds_ok);
    w.Sample("mtproxy_config_refresh_total", "result", "failed", r.rounds_failed);
    w.Named("mtproxy_config_refresh_failures_total", "counter",
            "Config downloads that kept the current files, by reason.", "reason",
            r.failures_by_reason);
    w.Single("mtproxy_config_refresh_installs_total", "counter",
             "Config downloads that replaced a file on disk (each followed by a reload).",
             r.installs);
    w.Single("mtproxy_config_refresh_last_success_timestamp_seconds", "gauge",
             "Unix time of the last good config download (0 = none yet).", r.last_ok_unix);
  }
  w.Single("mtproxy_config_loaded_timestamp_seconds", "gauge",
           "Unix time the running configuration was loaded.", p.config_loaded_at);
  w.Single("mtproxy_config_clusters", "gauge", "DC clusters in the running configuration.",
           p.config_auth_clusters);

  // secret="<index>" always (stable across renames), name="<name>" when the secret has one.
  std::vector<std::string> secret_labels;
  for (size_t i = 0; i < x.secrets.size(); ++i) {
    std::string labels = absl::StrCat("secret=\"", i, "\"");
    if (!x.secrets[i].name.empty()) {
      absl::StrAppend(&labels, ",name=\"", EscapeLabel(x.secrets[i].name), "\"");
    }
    secret_labels.push_back(std::move(labels));
  }
  w.Family("mtproxy_secret_connections_total", "counter",
           "Client handshakes per secret (labels: index of the secret, its name if it has one).");
  for (size_t i = 0; i < x.secrets.size(); ++i) {
    w.Labelled("mtproxy_secret_connections_total", secret_labels[i],
               x.secrets[i].connections_total);
  }
  w.Family("mtproxy_secret_active_connections", "gauge",
           "Open client connections per secret (labels: index of the secret, its name if it has "
           "one).");
  for (size_t i = 0; i < x.secrets.size(); ++i) {
    w.Labelled("mtproxy_secret_active_connections", secret_labels[i],
               x.secrets[i].active_connections);
  }
  w.Family("mtproxy_secret_bytes_total", "counter",
           "Payload bytes per secret and direction (labels: index of the secret, its name if it "
           "has one).");
  for (size_t i = 0; i < x.secrets.size(); ++i) {
    w.Labelled("mtproxy_secret_bytes_total", secret_labels[i] + ",direction=\"from_clients\"",
               x.secrets[i].bytes_from_clients);
    w.Labelled("mtproxy_secret_bytes_total", secret_labels[i] + ",direction=\"to_clients\"",
               x.secrets[i].bytes_to_clients);
  }
  if (!x.secret_limits.empty()) {
    std::vector<std::string> names;
    for (const auto& l : x.secret_limits) {
      names.push_back(absl::StrCat("name=\"", EscapeLabel(l.name), "\""));
    }
    auto family = [&](const char* metric, const char* help, auto value, bool only_set) {
      w.Family(metric, "gauge", help);
      for (size_t i = 0; i < x.secret_limits.size(); ++i) {
        const auto& l = x.secret_limits[i];
        if (only_set && l.quota_bytes == 0) continue;
        w.Labelled(metric, names[i], value(l));
      }
    };
    using L = StatsSnapshot::Extended::SecretLimit;
    family("mtproxy_secret_limit_connections",
           "Open client connections of a named secret, all shards (label: name).",
           [](const L& l) { return l.connections; }, false);
    family("mtproxy_secret_limit_max_connections",
           "The secret's max-connections (0 = no limit).",
           [](const L& l) { return l.max_connections; }, false);
    family("mtproxy_secret_limit_unique_ips",
           "Client addresses in the secret's unique-ips-window (with max-unique-ips).",
           [](const L& l) { return l.unique_ips; }, false);
    family("mtproxy_secret_limit_max_unique_ips", "The secret's max-unique-ips (0 = no limit).",
           [](const L& l) { return l.max_unique_ips; }, false);
    family("mtproxy_secret_quota_bytes", "The secret's quota-bytes (secrets with a quota).",
           [](const L& l) { return l.quota_bytes; }, true);
    family("mtproxy_secret_quota_used_bytes",
           "Client bytes (both directions) counted against the quota, kept across restarts.",
           [](const L& l) { return l.quota_used_bytes; }, true);
    family("mtproxy_secret_quota_remaining_bytes", "quota-bytes minus what is used (0 when spent).",
           [](const L& l) { return std::max<int64_t>(0, l.quota_bytes - l.quota_used_bytes); },
           true);
    family("mtproxy_secret_expires_timestamp_seconds",
           "Unix time the secret expires (0 = never).",
           [](const L& l) { return l.expires_unix; }, false);
    w.Family("mtproxy_secret_open", "gauge",
             "1 while the named secret admits clients, 0 when refused (label reason: "
             "secret_quota, secret_expired or secret_disabled).");
    for (size_t i = 0; i < x.secret_limits.size(); ++i) {
      const auto& l = x.secret_limits[i];
      w.Labelled("mtproxy_secret_open",
                 l.closed_for.empty() ? names[i]
                                      : absl::StrCat(names[i], ",reason=\"", l.closed_for, "\""),
                 l.closed_for.empty() ? 1 : 0);
    }
  }
  w.Single("mtproxy_http_queries_total", "counter", "Requests served on the stats port.",
           p.http_queries);
  w.Single("mtproxy_http_refused_total", "counter",
           "Stats-port requests refused with 403 (peer not in the --stats-allow list).",
           x.http_refused);

  if (s.fake_tls.enabled) {
    const auto& t = s.fake_tls;
    w.Family("mtproxy_tls_domains", "gauge", "Fake-TLS domains, by probe state.");
    w.Sample("mtproxy_tls_domains", "state", "probed", t.domains_probed);
    w.Sample("mtproxy_tls_domains", "state", "fallback", t.domains - t.domains_probed);
    w.Single("mtproxy_tls_handshakes_accepted_total", "counter",
             "Fake-TLS ClientHellos answered with a ServerHello.", t.handshakes_accepted);
    w.Named("mtproxy_tls_fronted_total", "counter",
            "Connections piped to the real site, by reason.", "reason", t.fronted_by_reason);
    if (!t.handshake_failures_by_stage.empty()) {
      w.Named("mtproxy_tls_handshake_failures_total", "counter",
              "Fake-TLS handshakes that failed, by the first stage that failed.", "stage",
              t.handshake_failures_by_stage);
    }
    if (!t.client_hellos_by_ja4.empty()) {
      w.Named("mtproxy_tls_client_hellos_by_ja4_total", "counter",
              "Complete ClientHellos by JA4 fingerprint, before the secret check (the most "
              "frequent; \"other\": fingerprints past the tracked 256).",
              "ja4", t.client_hellos_by_ja4);
    }
    w.Single("mtproxy_tls_front_failures_total", "counter",
             "Connections closed because the real site could not be reached.", t.front_failed);
    w.Single("mtproxy_tls_fronting_connections", "gauge", "Open pipes to real sites.",
             t.fronting_active);
    w.Single("mtproxy_tls_bad_records_total", "counter",
             "Fake-TLS clients closed for bad record framing.", t.bad_records);
    w.Family("mtproxy_tls_front_bytes_total", "counter", "Bytes piped, by direction.");
    w.Sample("mtproxy_tls_front_bytes_total", "direction", "from_sites", t.front_bytes_in);
    w.Sample("mtproxy_tls_front_bytes_total", "direction", "to_sites", t.front_bytes_out);
    w.Single("mtproxy_tls_replay_cache_capacity", "gauge", "Replay filter entries.",
             t.replay_cache_capacity);
    w.Family("mtproxy_tls_replay_cache_total", "counter", "Replay filter events, by kind.");
    w.Sample("mtproxy_tls_replay_cache_total", "kind", "insert", t.replay_cache_inserts);
    w.Sample("mtproxy_tls_replay_cache_total", "kind", "replay", t.replay_cache_replays);
    w.Sample("mtproxy_tls_replay_cache_total", "kind", "eviction", t.replay_cache_evictions);
    w.Sample("mtproxy_tls_replay_cache_total", "kind", "young_eviction",
             t.replay_cache_young_evictions);
    w.Sample("mtproxy_tls_replay_cache_total", "kind", "contended", t.replay_cache_contended);
  }
  return w.Take();
}

std::optional<StatsSnapshot::Memory> ParseStatm(std::string_view statm, int64_t page_size) {
  int64_t fields[6];
  size_t pos = 0;
  for (int64_t& field : fields) {
    while (pos < statm.size() && statm[pos] == ' ') ++pos;
    size_t start = pos;
    int64_t value = 0;
    while (pos < statm.size() && statm[pos] >= '0' && statm[pos] <= '9') {
      value = value * 10 + (statm[pos++] - '0');
    }
    if (pos == start) return std::nullopt;
    field = value * page_size;
  }
  return StatsSnapshot::Memory{fields[0], fields[1], fields[5]};
}

std::optional<StatsSnapshot::Memory> ReadSelfMemory() {
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[256];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  if (n <= 0) return std::nullopt;
  return ParseStatm(std::string_view(buf, static_cast<size_t>(n)), sysconf(_SC_PAGESIZE));
}

std::string VersionString(const std::string& commit) {
  return absl::StrCat("mtproxy-ng-", MTP_VERSION, " compiled at ", __DATE__, " ", __TIME__,
                      " by gcc ", __VERSION__, " ", sizeof(void*) == 8 ? "64-bit" : "32-bit",
                      " after commit ", commit);
}

}  // namespace mtp
