// mtp-sim: runs the shard simulator (docs/simulator.md) on random seeds for a given time, or
// replays one seed, and prints every failing seed with the command that replays it.
//   mtp-sim --seconds 60                 random seeds for a minute, both modes
//   mtp-sim --hours 2 --mode me          ME mode only
//   mtp-sim --seed 1234 --mode direct    replay one run (add --log for the proxy's log)
//   mtp-sim --input crash-file           replay a session_sim fuzz input (byte 0: the mode)
// Exit status: 0 if every run held its invariants, 1 if one failed, 2 on a usage error.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tests/sim/simulator.h"

namespace {

using mtp::sim::PlantedBug;
using mtp::sim::SimMode;
using mtp::sim::SimOptions;
using mtp::sim::SimResult;

int Usage() {
  std::fprintf(stderr,
               "usage: mtp-sim [--seconds S | --hours H] [--seed N | --input FUZZ_FILE] "
               "[--first-seed N] [--steps N] [--mode me|direct|both] "
               "[--plant drop-completion|corrupt-byte|leak-buffer] [--log] [--quiet]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 10;
  std::optional<uint64_t> seed;
  std::optional<uint64_t> first_seed;
  std::string input;
  uint32_t steps = 2000;
  std::string mode = "both";
  PlantedBug bug = PlantedBug::kNone;
  bool log = false;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (arg == "--log") {
      log = true;
    } else if (arg == "--quiet") {
      quiet = true;
    } else if ((v = nullptr, arg == "--seconds") && (v = value())) {
      seconds = std::atof(v);
    } else if (arg == "--hours" && (v = value())) {
      seconds = std::atof(v) * 3600;
    } else if (arg == "--seed" && (v = value())) {
      seed = std::strtoull(v, nullptr, 10);
    } else if (arg == "--input" && (v = value())) {
      input = v;
    } else if (arg == "--first-seed" && (v = value())) {
      first_seed = std::strtoull(v, nullptr, 10);
    } else if (arg == "--steps" && (v = value())) {
      steps = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    } else if (arg == "--mode" && (v = value())) {
      mode = v;
    } else if (arg == "--plant" && (v = value())) {
      std::string b = v;
      if (b == "drop-completion") {
        bug = PlantedBug::kDropCompletion;
      } else if (b == "corrupt-byte") {
        bug = PlantedBug::kCorruptByte;
      } else if (b == "leak-buffer") {
        bug = PlantedBug::kLeakBuffer;
      } else {
        return Usage();
      }
    } else {
      return Usage();
    }
  }
  std::vector<SimMode> modes;
  if (mode == "me" || mode == "both") modes.push_back(SimMode::kMiddleEnd);
  if (mode == "direct" || mode == "both") modes.push_back(SimMode::kDirect);
  if (modes.empty()) return Usage();

  if (!input.empty()) {
    // The session_sim fuzz target's decoding of an input (tests/fuzz/session_sim_fuzz.cc).
    std::ifstream in(input, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) return Usage();
    if (bytes.size() < 2) {
      std::printf("%s: fewer than 2 bytes, nothing to run\n", input.c_str());
      return 0;
    }
    SimOptions options;
    options.mode = (bytes[0] & 1) != 0 ? SimMode::kDirect : SimMode::kMiddleEnd;
    options.fuzz_bytes = std::span<const uint8_t>(bytes.data() + 1, bytes.size() - 1);
    options.steps = 4000;
    options.echo_log = log;
    SimResult result = mtp::sim::RunSimulation(options);
    std::printf("%s (mode %s): %s (%llu steps, %llu clients, %llu frames sent, %llu echoed)\n",
                input.c_str(), std::string(SimModeName(options.mode)).c_str(),
                result.ok ? "ok" : "FAILED", static_cast<unsigned long long>(result.steps),
                static_cast<unsigned long long>(result.clients),
                static_cast<unsigned long long>(result.frames_sent),
                static_cast<unsigned long long>(result.frames_echoed));
    if (!result.ok) std::printf("%s", result.report.c_str());
    return result.ok ? 0 : 1;
  }

  auto run = [&](uint64_t s, SimMode m) {
    SimOptions options;
    options.seed = s;
    options.mode = m;
    options.steps = steps;
    options.bug = bug;
    options.echo_log = log;
    return std::make_pair(options, mtp::sim::RunSimulation(options));
  };

  if (seed) {
    int failures = 0;
    for (SimMode m : modes) {
      auto [options, result] = run(*seed, m);
      std::printf(
          "seed %llu mode %s: %s (%llu steps, %llu clients, %llu frames sent, %llu "
          "echoed, %llu completions, %.1f s simulated)\n",
          static_cast<unsigned long long>(*seed), std::string(SimModeName(m)).c_str(),
          result.ok ? "ok" : "FAILED", static_cast<unsigned long long>(result.steps),
          static_cast<unsigned long long>(result.clients),
          static_cast<unsigned long long>(result.frames_sent),
          static_cast<unsigned long long>(result.frames_echoed),
          static_cast<unsigned long long>(result.completions), result.sim_seconds);
      if (!result.ok) {
        std::printf("%s", result.report.c_str());
        ++failures;
      }
    }
    return failures == 0 ? 0 : 1;
  }

  const uint64_t start =
      first_seed ? *first_seed : std::random_device{}() * 1000003ull + std::random_device{}();
  const auto begin = std::chrono::steady_clock::now();
  const auto deadline = begin + std::chrono::duration<double>(seconds);
  auto last_report = begin;
  uint64_t runs = 0;
  uint64_t total_steps = 0;
  std::vector<std::string> failed;
  std::printf("mtp-sim: seeds from %llu, modes %s, %u steps each, for %.0f s\n",
              static_cast<unsigned long long>(start), mode.c_str(), steps, seconds);
  std::fflush(stdout);
  for (uint64_t s = start; std::chrono::steady_clock::now() < deadline; ++s) {
    for (SimMode m : modes) {
      auto [options, result] = run(s, m);
      ++runs;
      total_steps += result.steps;
      if (!result.ok) {
        failed.push_back(mtp::sim::ReplayCommand(options));
        std::printf("FAILED seed %llu mode %s\n  replay: %s\n%s\n",
                    static_cast<unsigned long long>(s), std::string(SimModeName(m)).c_str(),
                    mtp::sim::ReplayCommand(options).c_str(), quiet ? "" : result.report.c_str());
        std::fflush(stdout);
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_report > std::chrono::seconds(60)) {
      last_report = now;
      std::printf("mtp-sim: %llu runs, %llu steps, %zu failure(s) so far (next seed %llu)\n",
                  static_cast<unsigned long long>(runs),
                  static_cast<unsigned long long>(total_steps), failed.size(),
                  static_cast<unsigned long long>(s + 1));
      std::fflush(stdout);
    }
  }
  std::printf("mtp-sim: %llu runs (seeds %llu..), %llu steps, %zu failure(s)\n",
              static_cast<unsigned long long>(runs), static_cast<unsigned long long>(start),
              static_cast<unsigned long long>(total_steps), failed.size());
  for (const std::string& cmd : failed) std::printf("  %s\n", cmd.c_str());
  return failed.empty() ? 0 : 1;
}
