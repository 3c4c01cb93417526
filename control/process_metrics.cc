// Standard process metrics from /proc/self/stat, /proc/stat, /proc/self/fd and getrlimit.
#include "control/process_metrics.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace mtp {
namespace {

std::string ReadSmallFile(const char* path) {
  std::string out;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

}  // namespace

std::optional<ProcStat> ParseProcStat(std::string_view text) {
  const size_t paren = text.rfind(')');
  if (paren == std::string_view::npos) return std::nullopt;
  // Fields from 3 (state) on, separated by single spaces.
  std::vector<std::string_view> fields;
  size_t pos = paren + 1;
  while (pos < text.size()) {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\n')) ++pos;
    size_t end = pos;
    while (end < text.size() && text[end] != ' ' && text[end] != '\n') ++end;
    if (end > pos) fields.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  auto field = [&](size_t number, uint64_t* out) {  // 1-based field number as in proc(5)
    if (number < 3 || number - 3 >= fields.size()) return false;
    uint64_t v = 0;
    for (char c : fields[number - 3]) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    *out = v;
    return true;
  };
  ProcStat s;
  if (!field(14, &s.utime_ticks) || !field(15, &s.stime_ticks) || !field(22, &s.start_ticks) ||
      !field(23, &s.vsize_bytes) || !field(24, &s.rss_pages)) {
    return std::nullopt;
  }
  return s;
}

std::optional<int64_t> ParseBootTime(std::string_view proc_stat) {
  size_t at = proc_stat.find("\nbtime ");
  if (at == std::string_view::npos) {
    if (proc_stat.substr(0, 6) != "btime ") return std::nullopt;
    at = 0;
  } else {
    at += 1;
  }
  int64_t v = 0;
  size_t i = at + 6;
  if (i >= proc_stat.size() || proc_stat[i] < '0' || proc_stat[i] > '9') return std::nullopt;
  for (; i < proc_stat.size() && proc_stat[i] >= '0' && proc_stat[i] <= '9'; ++i) {
    v = v * 10 + (proc_stat[i] - '0');
  }
  return v;
}

std::optional<ProcessMetrics> ReadProcessMetrics() {
  std::optional<ProcStat> stat = ParseProcStat(ReadSmallFile("/proc/self/stat"));
  if (!stat) return std::nullopt;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  ProcessMetrics m;
  m.cpu_seconds = static_cast<double>(stat->utime_ticks + stat->stime_ticks) / ticks;
  m.virtual_bytes = static_cast<int64_t>(stat->vsize_bytes);
  m.resident_bytes = static_cast<int64_t>(stat->rss_pages) * sysconf(_SC_PAGESIZE);
  if (std::optional<int64_t> boot = ParseBootTime(ReadSmallFile("/proc/stat"))) {
    m.start_time_seconds =
        static_cast<double>(*boot) + static_cast<double>(stat->start_ticks) / ticks;
  }
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(dir)) {
      if (e->d_name[0] != '.') ++m.open_fds;
    }
    closedir(dir);
    --m.open_fds;  // the directory stream's own descriptor
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    m.max_fds = limit.rlim_cur == RLIM_INFINITY ? -1 : static_cast<int64_t>(limit.rlim_cur);
  }
  return m;
}

}  // namespace mtp
