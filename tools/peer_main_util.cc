// Listening and summary steps of the peer tools' mains.
#include "tools/peer_main_util.h"

#include <cstdio>

#include "tools/flags.h"

namespace mtp::tools {

int ListenOnAll(const char* program, const std::vector<std::string>& specs,
                std::vector<Listener>* listeners) {
  for (const std::string& spec : specs) {
    absl::StatusOr<SocketAddress> address = SocketAddress::Parse(spec);
    if (!address.ok()) {
      std::fprintf(stderr, "%s: --listen %s: %s\n", program, spec.c_str(),
                   address.status().ToString().c_str());
      return kExitUsage;
    }
    absl::StatusOr<Listener> l = ListenTcp(*address);
    if (!l.ok()) {
      std::fprintf(stderr, "%s: %s\n", program, l.status().ToString().c_str());
      return kExitFailure;
    }
    std::printf("listening %s\n", l->address.ToString().c_str());
    listeners->push_back(*std::move(l));
  }
  std::fflush(stdout);
  return kExitOk;
}

int WriteSummary(const char* program, const std::string& summary, const std::string& stats_file) {
  if (stats_file.empty()) {
    std::printf("%s\n", summary.c_str());
    return kExitOk;
  }
  std::FILE* f = std::fopen(stats_file.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "%s: cannot write %s\n", program, stats_file.c_str());
    return kExitFailure;
  }
  std::fprintf(f, "%s\n", summary.c_str());
  std::fclose(f);
  return kExitOk;
}

}  // namespace mtp::tools
