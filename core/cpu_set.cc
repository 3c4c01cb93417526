// CPU list parsing/formatting, affinity queries and thread pinning.
#include "core/cpu_set.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace mtp {
namespace {

bool ParseCpuNumber(std::string_view text, int* out) {
  if (text.empty() || text.size() > 4) return false;
  int v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v > kMaxCpu) return false;
  *out = v;
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

absl::StatusOr<std::vector<int>> ParseCpuList(std::string_view text) {
  std::vector<int> cpus;
  if (Trim(text).empty()) return absl::InvalidArgumentError("empty CPU list");
  // Manual split: this abseil build has its own string_view, not std::string_view.
  for (size_t start = 0; start <= text.size();) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = Trim(text.substr(start, comma - start));
    start = comma + 1;
    size_t dash = item.find('-');
    int first = 0;
    int last = 0;
    bool ok = dash == std::string_view::npos
                  ? ParseCpuNumber(item, &first) && ParseCpuNumber(item, &last)
                  : ParseCpuNumber(Trim(item.substr(0, dash)), &first) &&
                        ParseCpuNumber(Trim(item.substr(dash + 1)), &last);
    if (!ok || first > last) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "bad CPU list item '%s' in '%s' (want N or N-M, N <= M <= %d)", item, text, kMaxCpu));
    }
    for (int cpu = first; cpu <= last; ++cpu) cpus.push_back(cpu);
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

std::string FormatCpuList(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    if (j == i) {
      absl::StrAppend(&out, cpus[i]);
    } else {
      absl::StrAppend(&out, cpus[i], "-", cpus[j]);
    }
    i = j + 1;
  }
  return out;
}

absl::StatusOr<std::vector<int>> ProcessAffinityCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) {
    return absl::InternalError(absl::StrFormat("sched_getaffinity: %s", strerror(errno)));
  }
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  if (cpus.empty()) return absl::InternalError("empty process affinity mask");
  return cpus;
}

absl::StatusOr<std::vector<int>> PickShardCpus(int shard_count, const std::vector<int>& allowed,
                                               const std::vector<int>& requested) {
  if (shard_count <= 0) return absl::InvalidArgumentError("shard count must be positive");
  if (allowed.empty()) return absl::InvalidArgumentError("no CPUs allowed");
  const std::vector<int>* pool = &allowed;
  if (!requested.empty()) {
    for (int cpu : requested) {
      if (!std::binary_search(allowed.begin(), allowed.end(), cpu)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "CPU %d from --cpu-list is not in the process affinity mask (%s)", cpu,
            FormatCpuList(allowed)));
      }
    }
    pool = &requested;
  }
  std::vector<int> picked(static_cast<size_t>(shard_count));
  for (int i = 0; i < shard_count; ++i) picked[i] = (*pool)[static_cast<size_t>(i) % pool->size()];
  return picked;
}

absl::Status PinCurrentThread(int cpu) {
  if (cpu < 0 || cpu >= CPU_SETSIZE) {
    return absl::InvalidArgumentError(absl::StrFormat("CPU %d out of range", cpu));
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  if (rc != 0) {
    return absl::InternalError(absl::StrFormat("pin to CPU %d: %s", cpu, strerror(rc)));
  }
  return absl::OkStatus();
}

}  // namespace mtp
