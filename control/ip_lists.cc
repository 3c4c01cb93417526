// Loading the allow / block list files (see ip_lists.h).
#include "control/ip_lists.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include "absl/strings/str_format.h"

namespace mtp {
namespace {

// The whole file, at most kMaxIpListFileBytes. `what` ("allow list") starts every error.
absl::StatusOr<std::string> ReadListFile(std::string_view what, const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    std::string message = absl::StrFormat("%s %s: cannot open: %s", what, path, strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
    return absl::FailedPreconditionError(message);
  }
  std::string data;
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = read(fd, buf, sizeof(buf));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const int err = errno;
      close(fd);
      return absl::DataLossError(absl::StrFormat("%s %s: read: %s", what, path, strerror(err)));
    }
    if (r == 0) break;
    if (data.size() + static_cast<size_t>(r) > kMaxIpListFileBytes) {
      close(fd);
      return absl::ResourceExhaustedError(absl::StrFormat(
          "%s %s: longer than %d bytes", what, path, static_cast<int>(kMaxIpListFileBytes)));
    }
    data.append(buf, static_cast<size_t>(r));
  }
  close(fd);
  return data;
}

absl::StatusOr<CidrSet> LoadList(std::string_view what, const std::string& path) {
  absl::StatusOr<std::string> text = ReadListFile(what, path);
  if (!text.ok()) return text.status();
  // CidrSet errors read "<name>:<line>: ..."; the name says which list it is.
  return CidrSet::ParseText(*text, absl::StrFormat("%s %s", what, path));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const IpAccessLists>> LoadIpLists(const IpListPaths& paths,
                                                                 uint64_t generation) {
  auto lists = std::make_shared<IpAccessLists>();
  lists->generation = generation;
  if (!paths.allow_file.empty()) {
    absl::StatusOr<CidrSet> allow = LoadList("allow list", paths.allow_file);
    if (!allow.ok()) return allow.status();
    if (allow->empty()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "allow list %s: no address or prefix in it (it would refuse every client)",
          paths.allow_file));
    }
    lists->allow = *std::move(allow);
  }
  if (!paths.block_file.empty()) {
    absl::StatusOr<CidrSet> block = LoadList("block list", paths.block_file);
    if (!block.ok()) return block.status();
    lists->block = *std::move(block);
  }
  return std::shared_ptr<const IpAccessLists>(std::move(lists));
}

absl::Status IpListStore::Load() {
  const uint64_t next = current_ ? current_->generation + 1 : 1;
  absl::StatusOr<std::shared_ptr<const IpAccessLists>> loaded = LoadIpLists(paths_, next);
  if (!loaded.ok()) {
    ++failed_loads_;
    return loaded.status();
  }
  current_ = *std::move(loaded);
  return absl::OkStatus();
}

}  // namespace mtp
