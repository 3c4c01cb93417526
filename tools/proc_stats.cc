// /proc readers for loadgen's proxy CPU/RSS report.
#include "tools/proc_stats.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace mtp::tools {
namespace {

absl::StatusOr<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::StatusOr<double> ParseProcStatCpuSeconds(std::string_view stat_in, long ticks_per_second) {
  absl::string_view stat(stat_in.data(), stat_in.size());
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  size_t close = stat.rfind(')');
  if (close == absl::string_view::npos) return absl::InvalidArgumentError("bad /proc stat");
  std::vector<absl::string_view> fields =
      absl::StrSplit(stat.substr(close + 1), ' ', absl::SkipEmpty());
  // After ')': field 3 (state) is index 0, so utime (field 14) is index 11, stime index 12.
  if (fields.size() < 13) return absl::InvalidArgumentError("short /proc stat");
  uint64_t utime = 0;
  uint64_t stime = 0;
  if (!absl::SimpleAtoi(fields[11], &utime) || !absl::SimpleAtoi(fields[12], &stime)) {
    return absl::InvalidArgumentError("bad utime/stime in /proc stat");
  }
  return static_cast<double>(utime + stime) / static_cast<double>(ticks_per_second);
}

absl::StatusOr<ProcessSample> ParseProcStatus(std::string_view status_in) {
  absl::string_view status(status_in.data(), status_in.size());
  ProcessSample s;
  bool have_rss = false;
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    auto value_kb = [&](absl::string_view key, int64_t* out) {
      if (!absl::ConsumePrefix(&line, key)) return false;
      line = absl::StripAsciiWhitespace(line);
      absl::ConsumeSuffix(&line, "kB");
      line = absl::StripAsciiWhitespace(line);
      return absl::SimpleAtoi(line, out);
    };
    if (value_kb("VmRSS:", &s.rss_kb)) {
      have_rss = true;
    } else if (!value_kb("VmHWM:", &s.hwm_kb)) {
      value_kb("Threads:", &s.threads);
    }
  }
  if (!have_rss) return absl::InvalidArgumentError("no VmRSS in /proc status");
  return s;
}

absl::StatusOr<ProcessSample> SampleProcess(pid_t pid) {
  absl::StatusOr<std::string> stat = ReadWhole(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return stat.status();
  absl::StatusOr<std::string> status = ReadWhole(absl::StrCat("/proc/", pid, "/status"));
  if (!status.ok()) return status.status();
  absl::StatusOr<ProcessSample> sample = ParseProcStatus(*status);
  if (!sample.ok()) return sample.status();
  absl::StatusOr<double> cpu = ParseProcStatCpuSeconds(*stat, sysconf(_SC_CLK_TCK));
  if (!cpu.ok()) return cpu.status();
  sample->cpu_seconds = *cpu;
  return sample;
}

}  // namespace mtp::tools
