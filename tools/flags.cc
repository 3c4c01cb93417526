// FlagParser implementation.
#include "tools/flags.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace mtp::tools {

FlagParser::FlagParser(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void FlagParser::Add(Flag flag) { flags_.push_back(std::move(flag)); }

void FlagParser::AddString(std::string name, std::string* value, std::string help,
                           std::string value_name) {
  Add({std::move(name), Kind::kString, std::move(help), std::move(value_name),
       value->empty() ? "" : *value, {}, [value](std::string_view v) {
         *value = std::string(v);
         return std::string();
       }});
}

void FlagParser::AddInt(std::string name, int64_t* value, std::string help, int64_t min_value,
                        int64_t max_value, std::string value_name) {
  Add({std::move(name), Kind::kInt, std::move(help), std::move(value_name),
       absl::StrCat(*value), {}, [=](std::string_view v) {
         int64_t parsed = 0;
         if (!absl::SimpleAtoi(std::string(v), &parsed)) {
           return absl::StrCat("not an integer: '", std::string(v), "'");
         }
         if (parsed < min_value || parsed > max_value) {
           return absl::StrFormat("%d is outside %d..%d", parsed, min_value, max_value);
         }
         *value = parsed;
         return std::string();
       }});
}

void FlagParser::AddDouble(std::string name, double* value, std::string help, double min_value,
                           double max_value, std::string value_name) {
  Add({std::move(name), Kind::kDouble, std::move(help), std::move(value_name),
       absl::StrCat(*value), {}, [=](std::string_view v) {
         double parsed = 0;
         if (!absl::SimpleAtod(std::string(v), &parsed)) {
           return absl::StrCat("not a number: '", std::string(v), "'");
         }
         if (!(parsed >= min_value && parsed <= max_value)) {
           return absl::StrFormat("%g is outside %g..%g", parsed, min_value, max_value);
         }
         *value = parsed;
         return std::string();
       }});
}

void FlagParser::AddBool(std::string name, bool* value, std::string help) {
  Add({std::move(name), Kind::kBool, std::move(help), "", "", {}, [value](std::string_view v) {
         if (v.empty() || v == "1" || v == "true" || v == "yes") {
           *value = true;
         } else if (v == "0" || v == "false" || v == "no") {
           *value = false;
         } else {
           return absl::StrCat("not a boolean: '", std::string(v), "'");
         }
         return std::string();
       }});
}

void FlagParser::AddList(std::string name, std::vector<std::string>* values, std::string help,
                         std::string value_name) {
  Add({std::move(name), Kind::kList, std::move(help), std::move(value_name), "", {},
       [values](std::string_view v) {
         values->emplace_back(v);
         return std::string();
       }});
}

void FlagParser::AddChoice(std::string name, std::string* value,
                           std::vector<std::string> choices, std::string help) {
  std::vector<std::string> copy = choices;
  Add({std::move(name), Kind::kChoice, std::move(help), absl::StrJoin(choices, "|"), *value,
       std::move(choices), [value, copy](std::string_view v) {
         for (const std::string& c : copy) {
           if (c == v) {
             *value = c;
             return std::string();
           }
         }
         return absl::StrCat("'", std::string(v), "' is not one of ", absl::StrJoin(copy, ", "));
       }});
}

void FlagParser::AddEpilog(std::string text) { epilog_.push_back(std::move(text)); }

FlagParser::Flag* FlagParser::Find(std::string_view name) {
  for (Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

FlagParser::Result FlagParser::Parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return Result::kHelp;
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      error_ = absl::StrCat("unexpected argument '", std::string(arg), "' (flags start with --)");
      return Result::kError;
    }
    std::string_view body = arg.substr(2);
    std::string_view name = body;
    std::string_view value;
    bool has_value = false;
    if (size_t eq = body.find('='); eq != std::string_view::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    Flag* flag = Find(name);
    if (flag == nullptr) {
      error_ = absl::StrCat("unknown flag --", std::string(name), " (see --help)");
      return Result::kError;
    }
    if (!has_value && flag->kind != Kind::kBool) {
      if (i + 1 >= argc) {
        error_ = absl::StrCat("--", std::string(name), " needs a value");
        return Result::kError;
      }
      value = argv[++i];
    }
    if (std::string err = flag->set(value); !err.empty()) {
      error_ = absl::StrCat("--", std::string(name), ": ", err);
      return Result::kError;
    }
  }
  return Result::kOk;
}

std::string FlagParser::Usage() const {
  std::string out = absl::StrCat("Usage: ", program_, " [flags]\n", summary_, "\n\nFlags:\n");
  for (const Flag& f : flags_) {
    std::string left = absl::StrCat("  --", f.name);
    if (f.kind != Kind::kBool) absl::StrAppend(&left, " ", f.value_name);
    if (f.kind == Kind::kList) absl::StrAppend(&left, " (repeatable)");
    std::string help = f.help;
    if (!f.default_text.empty() && f.kind != Kind::kList) {
      absl::StrAppend(&help, " [", f.default_text, "]");
    }
    if (left.size() < 30) {
      absl::StrAppend(&out, absl::StrFormat("%-30s %s\n", left, help));
    } else {
      absl::StrAppend(&out, left, "\n", std::string(31, ' '), help, "\n");
    }
  }
  absl::StrAppend(&out, "  --help                       this text\n");
  for (const std::string& line : epilog_) absl::StrAppend(&out, "\n", line, "\n");
  return out;
}

void FlagParser::ParseOrExit(int argc, char** argv) {
  switch (Parse(argc, argv)) {
    case Result::kOk:
      return;
    case Result::kHelp:
      std::fputs(Usage().c_str(), stdout);
      std::exit(kExitOk);
    case Result::kError:
      std::fprintf(stderr, "%s: %s\n", program_.c_str(), error_.c_str());
      std::exit(kExitUsage);
  }
}

}  // namespace mtp::tools
