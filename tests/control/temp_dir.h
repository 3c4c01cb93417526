// TempDir: a fresh directory under /tmp for one control-plane test, the files it writes there,
// and its removal (with whatever the code under test left in it) when the object goes. Test
// thread only. (The e2e suites use e2e::SharedDir, which the dropped proxy user can write.)
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace mtp::testing_util {

class TempDir {
 public:
  // `prefix` names the directory (/tmp/<prefix>-XXXXXX) so a leftover one says whose it is.
  explicit TempDir(std::string_view prefix = "mtp-control-test") {
    std::string pattern = "/tmp/" + std::string(prefix) + "-XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    if (path_.empty()) return;
    int unused = std::system(("rm -rf '" + path_ + "'").c_str());
    (void)unused;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Empty if the directory could not be made (tests assert on it).
  const std::string& path() const { return path_; }
  std::string Path(std::string_view name) const { return path_ + "/" + std::string(name); }
  // Writes (replacing) `name` and returns its path.
  std::string Write(std::string_view name, std::string_view content) const {
    const std::string p = Path(name);
    std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
    return p;
  }
  // The whole file; empty if it cannot be read.
  std::string Read(std::string_view name) const {
    std::ifstream in(Path(name), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string path_;
};

}  // namespace mtp::testing_util
