// Command-line flags for custosctl's commands: --flag VALUE (repeatable) and
// --switch, with a clear message for anything unknown. Thread-compatible.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace custos::ctl {

class Flags {
 public:
  Flags(const std::vector<std::string>& args, const std::vector<std::string>& with_value,
        const std::vector<std::string>& switches);
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  // The last value given for `flag`, or `def`.
  std::string Get(const std::string& flag, const std::string& def = "") const;
  // Every value given for a repeatable flag, in order.
  std::vector<std::string> GetAll(const std::string& flag) const;
  bool Has(const std::string& flag) const { return values_.count(flag) > 0; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::string error_;
};

// Prints "custosctl: MESSAGE" to stderr; returns 1.
int Fail(const std::string& message);
// Prints the error and the usage of `command` to stderr; returns 2.
int Usage(const std::string& command, const std::string& error, const char* usage);

}  // namespace custos::ctl
