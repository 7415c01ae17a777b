#include "collector/ctl/flags.h"

#include <algorithm>
#include <cstdio>

namespace custos::ctl {

Flags::Flags(const std::vector<std::string>& args, const std::vector<std::string>& with_value,
             const std::vector<std::string>& switches) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (std::find(switches.begin(), switches.end(), a) != switches.end()) {
      values_[a].push_back("1");
    } else if (std::find(with_value.begin(), with_value.end(), a) != with_value.end()) {
      if (i + 1 >= args.size()) {
        error_ = a + " needs a value";
        return;
      }
      values_[a].push_back(args[++i]);
    } else {
      error_ = "unknown argument '" + a + "'";
      return;
    }
  }
}

std::string Flags::Get(const std::string& flag, const std::string& def) const {
  auto it = values_.find(flag);
  return it == values_.end() ? def : it->second.back();
}

std::vector<std::string> Flags::GetAll(const std::string& flag) const {
  auto it = values_.find(flag);
  return it == values_.end() ? std::vector<std::string>() : it->second;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "custosctl: %s\n", message.c_str());
  return 1;
}

int Usage(const std::string& command, const std::string& error, const char* usage) {
  std::fprintf(stderr, "custosctl %s: %s\nusage: %s\n", command.c_str(), error.c_str(), usage);
  return 2;
}

}  // namespace custos::ctl
