// Domain probing I/O (non-blocking sockets under one poll loop) and the refresh thread.
#include "control/domain_probe.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "core/log.h"

namespace mtp {
namespace {

int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One probe connection.
struct ProbeConn {
  int fd = -1;
  bool connected = false;
  std::vector<uint8_t> hello;
  size_t sent = 0;
  TlsSessionId session_id{};
  std::vector<uint8_t> received;
  size_t want = 5;  // bytes the parser needs in total
  bool done = false;
  bool pq = false;  // a BuildPqProbeClientHello hello: ParsePqProbeResponse reads the answer
  ProbeAnswer answer;
  PqProbeAnswer pq_answer;

  ~ProbeConn() {
    if (fd >= 0) close(fd);
  }
};

// Advances one connection after poll reported `revents`. Returns an error text or "".
std::string Step(ProbeConn& c, short revents) {
  if (!c.connected) {
    if ((revents & (POLLOUT | POLLERR | POLLHUP)) == 0) return "";
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) return absl::StrCat("connect: ", std::strerror(err));
    c.connected = true;
  }
  if (c.sent < c.hello.size()) {
    const ssize_t n = send(c.fd, c.hello.data() + c.sent, c.hello.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return "";
      return absl::StrCat("send: ", std::strerror(errno));
    }
    c.sent += static_cast<size_t>(n);
    return "";
  }
  if ((revents & (POLLIN | POLLERR | POLLHUP)) == 0) return "";
  while (!c.done) {
    const size_t have = c.received.size();
    c.received.resize(c.want);
    const ssize_t n = recv(c.fd, c.received.data() + have, c.want - have, 0);
    if (n <= 0) {
      c.received.resize(have);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return "";
      return n == 0 ? std::string("connection closed by the server")
                    : absl::StrCat("recv: ", std::strerror(errno));
    }
    c.received.resize(have + static_cast<size_t>(n));
    if (c.received.size() < c.want) continue;
    ProbeParseStatus status;
    size_t needed = 0;
    const char* error = "";
    if (c.pq) {
      const PqProbeParse p = ParsePqProbeResponse(ByteSpan(c.received), c.session_id);
      status = p.status;
      needed = p.bytes_needed;
      error = p.error;
      c.pq_answer = p.answer;
    } else {
      const ProbeParse p = ParseProbeResponse(ByteSpan(c.received), c.session_id);
      status = p.status;
      needed = p.bytes_needed;
      error = p.error;
      c.answer = p.answer;
    }
    switch (status) {
      case ProbeParseStatus::kNeedMore:
        c.want = needed;
        break;
      case ProbeParseStatus::kOk:
        c.done = true;
        close(c.fd);
        c.fd = -1;
        break;
      case ProbeParseStatus::kFailed:
        return error;
    }
  }
  return "";
}

// Builds each connection's hello (the PQ probe's for c.pq) and starts its connect. Returns an
// error text or "".
std::string OpenProbeConnections(std::vector<ProbeConn>& conns, const SocketAddress& address,
                                 std::string_view sni) {
  for (ProbeConn& c : conns) {
    absl::StatusOr<std::vector<uint8_t>> hello =
        c.pq ? BuildPqProbeClientHello(sni) : BuildProbeClientHello(sni);
    if (!hello.ok()) return std::string(hello.status().message());
    c.hello = std::move(*hello);
    std::memcpy(c.session_id.data(), c.hello.data() + kHelloSessionIdOffset, 32);
    c.fd = socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return absl::StrCat("socket: ", std::strerror(errno));
    if (connect(c.fd, address.sockaddr_ptr(), address.length()) != 0 && errno != EINPROGRESS) {
      return absl::StrCat("connect: ", std::strerror(errno));
    }
  }
  return "";
}

// Drives every connection to its parsed answer under one poll loop until `deadline_ms`.
// Returns the first error text, or "" when all answered.
std::string RunProbeConnections(std::vector<ProbeConn>& conns, int64_t deadline_ms) {
  const size_t count = conns.size();
  std::vector<pollfd> fds;
  std::vector<ProbeConn*> polled;
  for (;;) {
    fds.clear();
    polled.clear();
    for (ProbeConn& c : conns) {
      if (c.done) continue;
      const bool writing = !c.connected || c.sent < c.hello.size();
      fds.push_back(pollfd{c.fd, static_cast<short>(writing ? POLLOUT : POLLIN), 0});
      polled.push_back(&c);
    }
    if (fds.empty()) return "";
    const int64_t left_ms = deadline_ms - MonotonicMs();
    if (left_ms <= 0) {
      return absl::StrCat("timeout: ", fds.size(), " of ", count, " connections unanswered");
    }
    const int n = poll(fds.data(), fds.size(), static_cast<int>(left_ms));
    if (n < 0 && errno != EINTR) return absl::StrCat("poll: ", std::strerror(errno));
    for (size_t i = 0; n > 0 && i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      std::string error = Step(*polled[i], fds[i].revents);
      if (!error.empty()) return error;
    }
  }
}

}  // namespace

DomainProbeOutcome ProbeTlsServer(const SocketAddress& address, std::string_view sni,
                                  const DomainProbeOptions& options) {
  DomainProbeOutcome out;
  if (!address.valid()) {
    out.error = "no address";
    return out;
  }
  const int count = std::max(1, options.connections);
  const int64_t deadline_ms = MonotonicMs() + options.deadline_ms;
  std::vector<ProbeConn> conns(static_cast<size_t>(count));
  out.error = OpenProbeConnections(conns, address, sni);
  if (out.error.empty()) out.error = RunProbeConnections(conns, deadline_ms);
  if (!out.error.empty()) return out;

  std::vector<ProbeAnswer> answers;
  answers.reserve(conns.size());
  for (const ProbeConn& c : conns) answers.push_back(c.answer);
  out.ok = true;
  out.answers = static_cast<int>(answers.size());
  out.profile = AggregateProbeAnswers(answers, &out.mixed_order);
  return out;
}

PqProbeOutcome ProbePqAnswer(const SocketAddress& address, std::string_view sni,
                             const DomainProbeOptions& options) {
  PqProbeOutcome out;
  if (!address.valid()) {
    out.error = "no address";
    return out;
  }
  std::vector<ProbeConn> conns(1);
  conns[0].pq = true;
  out.error = OpenProbeConnections(conns, address, sni);
  if (out.error.empty()) {
    out.error = RunProbeConnections(conns, MonotonicMs() + options.deadline_ms);
  }
  if (!out.error.empty()) return out;
  out.ok = true;
  out.answer = conns[0].pq_answer;
  return out;
}

std::string DomainSpec::ProbeName() const { return std::string(WildcardBase(name)); }

std::optional<SocketAddress> ResolveDomainFront(const DomainSpec& spec, HostResolver& resolver) {
  const std::string host = spec.host ? *spec.host : spec.ProbeName();
  std::optional<ResolvedAddress> resolved = resolver.Resolve(host);
  if (!resolved) return std::nullopt;
  if (resolved->is_ipv6()) return SocketAddress::FromIpv6(resolved->bytes, spec.port);
  return SocketAddress::FromIpv4(resolved->ipv4_host_order(), spec.port);
}

std::shared_ptr<const TlsDomainInfo> RefreshDomainInfo(const DomainSpec& spec,
                                                       HostResolver& resolver,
                                                       const DomainProbeOptions& options,
                                                       const TlsDomainInfo* previous,
                                                       int64_t now_unix_s) {
  auto info = std::make_shared<TlsDomainInfo>();
  info->name = spec.name;
  info->front_overridden = spec.host.has_value();
  info->updated_unix_s = now_unix_s;

  std::optional<SocketAddress> front = ResolveDomainFront(spec, resolver);
  if (front) {
    info->front = *front;
  } else if (previous != nullptr && previous->front.valid()) {
    MTP_WARN("Failed to resolve domain %s again, keeping %s", spec.name,
             previous->front.ToString());
    info->front = previous->front;
  } else {
    MTP_WARN("Failed to resolve domain %s: connections failing the fake-TLS checks will be "
             "closed instead of proxied",
             spec.host ? *spec.host : spec.ProbeName());
  }

  DomainProbeOutcome outcome;
  const int64_t start_ms = MonotonicMs();
  if (info->front.valid()) {
    outcome = ProbeTlsServer(info->front, spec.ProbeName(), options);
  } else {
    outcome.error = "not resolved";
  }
  const double elapsed_s = static_cast<double>(MonotonicMs() - start_ms) / 1000.0;

  if (outcome.ok) {
    info->profile = outcome.profile;
    info->probed = true;
    if (outcome.mixed_order) {
      MTP_WARN("Domain %s answered with both extension orders; using the normal one",
               spec.name);
    }
    MTP_LOG(0,
            "Successfully checked domain %s in %.3f seconds: is_reversed_extension_order = %d, "
            "server_hello_encrypted_size = %d, use_random_encrypted_size = %d",
            spec.name, elapsed_s, info->profile.reversed_extension_order ? 1 : 0,
            info->profile.encrypted_size, info->profile.randomize_size ? 1 : 0);
    if (options.probe_pq) {
      // What the site answers to a current app's hello (X25519MLKEM768 and x25519 shares),
      // mimicked only under --tls-pq-follow-site.
      const PqProbeOutcome pq = ProbePqAnswer(info->front, spec.ProbeName(), options);
      if (pq.ok) {
        info->profile.pq_answer_group = pq.answer.group;
        info->profile.pq_server_hello_size = pq.answer.server_hello_size;
        MTP_LOG(0,
                "Domain %s answers a post-quantum hello with key_share group 0x%04x "
                "(ServerHello record length %d)",
                spec.name, pq.answer.group, pq.answer.server_hello_size);
      } else {
        MTP_LOG(0, "Domain %s: no answer to a post-quantum hello learned (%s)", spec.name,
                pq.error);
      }
    }
    if (info->profile.reversed_extension_order && info->profile.encrypted_size <= 1250) {
      MTP_WARN("Multiple encrypted client data packets are unsupported, so handshake with %s "
               "will not be fully emulated",
               spec.name);
    }
  } else if (previous != nullptr && previous->probed) {
    info->profile = previous->profile;
    info->probed = true;
    MTP_WARN("Failed to check domain %s again (%s); keeping the profile learned before",
             spec.name, outcome.error);
  } else if (previous != nullptr && previous->updated_unix_s != 0) {
    info->profile = previous->profile;  // the fallback drawn at an earlier refresh
    MTP_WARN("Failed to check domain %s again (%s); keeping server_hello_encrypted_size "
             "around %d",
             spec.name, outcome.error, info->profile.encrypted_size);
  } else {
    info->profile = FallbackDomainProfile();
    MTP_WARN("Failed to check domain %s (%s) in %.3f seconds: using a random "
             "server_hello_encrypted_size around %d",
             spec.name, outcome.error, elapsed_s, info->profile.encrypted_size);
  }
  return info;
}

DomainProber::DomainProber(TlsDomainRegistry& registry, std::vector<DomainSpec> specs,
                           const DomainProbeOptions& options,
                           std::unique_ptr<HostResolver> resolver)
    : registry_(registry),
      specs_(std::move(specs)),
      options_(options),
      resolver_(std::move(resolver)) {}

DomainProber::~DomainProber() { Stop(); }

void DomainProber::ProbeAllNow() {
  for (size_t i = 0; i < specs_.size() && i < registry_.size(); ++i) {
    std::shared_ptr<const TlsDomainInfo> previous = registry_.Get(i);
    registry_.Publish(i, RefreshDomainInfo(specs_[i], *resolver_, options_, previous.get(),
                                           static_cast<int64_t>(std::time(nullptr))));
  }
}

void DomainProber::StartRefresh() {
  std::lock_guard<std::mutex> lock(mu_);
  if (options_.refresh_interval_s <= 0 || thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { RefreshLoop(); });
}

void DomainProber::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t DomainProber::refresh_rounds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return refresh_rounds_;
}

void DomainProber::RefreshLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait_for(lock, std::chrono::seconds(options_.refresh_interval_s),
                   [this] { return stop_; });
    if (stop_) return;
    lock.unlock();
    ProbeAllNow();
    lock.lock();
    ++refresh_rounds_;
  }
}

}  // namespace mtp
