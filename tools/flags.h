// Command-line parsing for the test peers: typed --long-name flags with help text, generated
// --help, and uniform error handling (message + exit code 2). Used once at start-up by main().
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace mtp::tools {

// Exit codes shared by every tool.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the run did not produce the expected result
inline constexpr int kExitUsage = 2;    // bad command line

class FlagParser {
 public:
  FlagParser(std::string program, std::string summary);

  // Each Add* binds a flag to a variable holding its default. `value_name` is shown in --help.
  void AddString(std::string name, std::string* value, std::string help,
                 std::string value_name = "S");
  void AddInt(std::string name, int64_t* value, std::string help, int64_t min_value,
              int64_t max_value, std::string value_name = "N");
  void AddDouble(std::string name, double* value, std::string help, double min_value,
                 double max_value, std::string value_name = "X");
  // Presence sets true; --name=false / --name=0 sets false.
  void AddBool(std::string name, bool* value, std::string help);
  // Repeatable flag; each occurrence appends.
  void AddList(std::string name, std::vector<std::string>* values, std::string help,
               std::string value_name = "S");
  // String restricted to `choices`.
  void AddChoice(std::string name, std::string* value, std::vector<std::string> choices,
                 std::string help);

  // Free-form lines appended to --help (examples, exit codes).
  void AddEpilog(std::string text);

  enum class Result { kOk, kHelp, kError };
  // Parses argv[1..]; accepts "--name value" and "--name=value". On kError `error()` says why.
  Result Parse(int argc, char** argv);
  const std::string& error() const { return error_; }
  std::string Usage() const;

  // Parse() then: --help -> print usage to stdout, exit 0; error -> print to stderr, exit 2.
  void ParseOrExit(int argc, char** argv);

 private:
  enum class Kind { kString, kInt, kDouble, kBool, kList, kChoice };
  struct Flag {
    std::string name;
    Kind kind;
    std::string help;
    std::string value_name;
    std::string default_text;
    std::vector<std::string> choices;
    // Returns an error message, empty on success.
    std::function<std::string(std::string_view)> set;
  };
  Flag* Find(std::string_view name);
  void Add(Flag flag);

  std::string program_;
  std::string summary_;
  std::vector<std::string> epilog_;
  std::vector<Flag> flags_;
  std::string error_;
};

}  // namespace mtp::tools
