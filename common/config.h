// Strict reading of TOML configuration files.
//
// Every key a daemon reads is declared by the read itself; anything left over
// is an error naming the key, the file and the line, so a typo never passes
// silently:
//
//   CUSTOS_ASSIGN_OR_RETURN(ConfigFile file, ConfigFile::Load(path));
//   ConfigSection spool = file.Section("spool");
//   opts.dir = spool.String("dir", "/var/lib/custos/agent/spool");
//   opts.quota = spool.Bytes("quota", 1 << 30);
//   CUSTOS_RETURN_IF_ERROR(file.Finish());   // bad values + unknown keys
//
// Getters never fail: a bad value records an error and returns the default;
// Finish() reports all errors at once. Not thread-safe; use during start-up.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace custos {

class ConfigFile;

class ConfigSection {
 public:
  std::string String(const std::string& key, const std::string& def);
  int64_t Int(const std::string& key, int64_t def, int64_t min, int64_t max);
  bool Bool(const std::string& key, bool def);
  // A number (integer or float) within [min, max].
  double Double(const std::string& key, double def, double min, double max);
  // "250ms", "10s", "5m", "2h", "7d" → nanoseconds.
  int64_t Duration(const std::string& key, int64_t def_nanos);
  // "512", "64KiB", "10MiB", "2GiB" → bytes.
  uint64_t Bytes(const std::string& key, uint64_t def);
  std::map<std::string, std::string> StringMap(const std::string& key);
  std::vector<std::string> StringList(const std::string& key);
  ConfigSection Section(const std::string& key);
  // An array of tables ([[key]] entries), one section each, named
  // "key[0]", "key[1]", ... in messages; unknown keys inside are refused too.
  std::vector<ConfigSection> SectionList(const std::string& key);
  // Names of the sub-tables of this section (for registries of sources).
  std::vector<std::string> SubsectionNames();
  bool Has(const std::string& key) const;
  // Records an error about `key` found by the caller's own validation (a
  // pattern that does not parse, a duplicate id); Finish() reports it with
  // the file and line like any bad value.
  void AddError(const std::string& key, const std::string& message);

 private:
  friend class ConfigFile;
  ConfigSection(ConfigFile* file, const void* table, std::string prefix)
      : file_(file), table_(table), prefix_(std::move(prefix)) {}
  std::string Path(const std::string& key) const { return prefix_.empty() ? key : prefix_ + "." + key; }

  ConfigFile* file_;
  const void* table_;  // a toml::table (kept out of this header); null when absent
  std::string prefix_;
};

class ConfigFile {
 public:
  // Parses `path`; a missing file is NOT_FOUND, a syntax error names line:column.
  static Result<ConfigFile> Load(const std::string& path);
  // Parses text (for tests); `name` stands in for the path in messages.
  static Result<ConfigFile> Parse(const std::string& text, const std::string& name);

  ConfigFile(ConfigFile&&) noexcept;
  ConfigFile& operator=(ConfigFile&&) noexcept;
  ~ConfigFile();

  ConfigSection Root();
  ConfigSection Section(const std::string& key) { return Root().Section(key); }
  // Returns every value error and unknown key, or OK.
  Status Finish();

  const std::string& path() const { return path_; }

 private:
  friend class ConfigSection;
  struct Doc;
  ConfigFile(std::string path, std::unique_ptr<Doc> doc);
  void AddError(const std::string& key, const std::string& message, int line);
  void MarkUsed(const std::string& key) { used_[key] = true; }

  std::string path_;
  std::unique_ptr<Doc> doc_;
  std::map<std::string, bool> used_;
  std::vector<std::string> errors_;
};

// The path of a secret: `configured` when the config names one, else the
// systemd credential `name` when the service got it (LoadCredential=), else
// `fallback`.
std::string SecretPath(const std::string& configured, const std::string& name, const std::string& fallback);

// Parsers shared with command-line flags.
Result<int64_t> ParseDuration(const std::string& text);
Result<uint64_t> ParseBytes(const std::string& text);

}  // namespace custos
