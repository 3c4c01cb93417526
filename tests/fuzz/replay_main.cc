// Replays a fuzz target's seed corpus, mutations of it and deterministic pseudo-random inputs
// through its LLVMFuzzerTestOneInput as an ordinary gtest (linked once per target).
// Corpus directory: env MTP_FUZZ_CORPUS, else the MTP_FUZZ_CORPUS_DIR compile-time define.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::string CorpusDir() {
  if (const char* env = std::getenv("MTP_FUZZ_CORPUS"); env != nullptr && *env != '\0') {
    return env;
  }
#ifdef MTP_FUZZ_CORPUS_DIR
  return MTP_FUZZ_CORPUS_DIR;
#else
  return "";
#endif
}

std::vector<std::vector<uint8_t>> LoadCorpus() {
  std::vector<std::vector<uint8_t>> files;
  const std::string dir = CorpusDir();
  if (dir.empty() || !std::filesystem::is_directory(dir)) return files;
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file()) paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());  // deterministic order
  for (const auto& path : paths) {
    std::ifstream in(path, std::ios::binary);
    files.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return files;
}

// splitmix64: deterministic across runs and platforms.
struct Rng {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

void RunOne(const std::vector<uint8_t>& input) {
  // Copy into an exact-size heap buffer so ASan catches any read past the end.
  std::unique_ptr<uint8_t[]> copy(new uint8_t[input.size() + 1]);
  std::copy(input.begin(), input.end(), copy.get());
  LLVMFuzzerTestOneInput(input.empty() ? nullptr : copy.get(), input.size());
}

TEST(FuzzReplay, SeedCorpus) {
  std::vector<std::vector<uint8_t>> corpus = LoadCorpus();
  ASSERT_FALSE(corpus.empty()) << "no seed corpus in '" << CorpusDir() << "'";
  for (const auto& input : corpus) RunOne(input);
}

TEST(FuzzReplay, CorpusMutations) {
  std::vector<std::vector<uint8_t>> corpus = LoadCorpus();
  Rng rng{42};
  for (const auto& seed : corpus) {
    // Every truncation of the first 300 bytes.
    for (size_t n = 0; n < seed.size() && n < 300; ++n) {
      RunOne(std::vector<uint8_t>(seed.begin(), seed.begin() + static_cast<ptrdiff_t>(n)));
    }
    // Random byte flips, insertions and deletions.
    for (int i = 0; i < 300 && !seed.empty(); ++i) {
      std::vector<uint8_t> m = seed;
      int edits = 1 + static_cast<int>(rng.Next() % 4);
      for (int e = 0; e < edits && !m.empty(); ++e) {
        size_t pos = rng.Next() % m.size();
        switch (rng.Next() % 3) {
          case 0:
            m[pos] = static_cast<uint8_t>(rng.Next());
            break;
          case 1:
            m.insert(m.begin() + static_cast<ptrdiff_t>(pos), static_cast<uint8_t>(rng.Next()));
            break;
          default:
            m.erase(m.begin() + static_cast<ptrdiff_t>(pos));
            break;
        }
      }
      RunOne(m);
    }
  }
}

TEST(FuzzReplay, PseudoRandomInputs) {
  Rng rng{1};
  for (int i = 0; i < 4000; ++i) {
    size_t size = rng.Next() % (i < 3000 ? 128 : 2048);
    std::vector<uint8_t> input(size);
    for (auto& b : input) b = static_cast<uint8_t>(rng.Next());
    RunOne(input);
  }
}

}  // namespace
