// A thin RAII layer over the SQLite C API: one connection, prepared
// statements with typed binds, and errors as custos::Status naming the SQL.
// Not thread-safe: one Db per thread (SQLite's WAL lets them run side by side).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace custos::store {

class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binds are 1-based, like SQLite's. Text and blobs are not copied: the
  // bytes must stay alive until Exec()/Step() has run (bind, then run, in one
  // scope), which spares a copy per column on the ingest path.
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void Bind(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
  void Bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void BindBlob(int i, std::string_view v) {
    if (v.empty()) {
      sqlite3_bind_null(stmt_, i);
    } else {
      sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    }
  }
  // Binding a temporary would dangle: refuse it at compile time.
  void Bind(int i, std::string&& v) = delete;
  void Bind(int i, const std::string&& v) = delete;
  void BindBlob(int i, std::string&& v) = delete;
  void BindBlob(int i, const std::string&& v) = delete;
  void BindNull(int i) { sqlite3_bind_null(stmt_, i); }

  // Runs a statement that returns no rows; resets it for reuse.
  Status Exec();
  // Steps once: true with a row, false when done. Reset() before reuse.
  Result<bool> Step();
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string Text(int col) const;
  std::string Blob(int col) const;
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int Columns() const { return sqlite3_column_count(stmt_); }
  std::string ColumnName(int col) const { return sqlite3_column_name(stmt_, col); }
  int ColumnType(int col) const { return sqlite3_column_type(stmt_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class Db {
 public:
  // Opens (creating when `create`) the database file with WAL and a busy timeout.
  static Result<std::unique_ptr<Db>> Open(const std::string& path, bool create, bool read_only = false);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  Status Exec(const std::string& sql);
  Result<std::unique_ptr<Statement>> Prepare(const std::string& sql);
  int64_t Changes() const { return sqlite3_changes64(db_); }
  sqlite3* raw() { return db_; }
  const std::string& path() const { return path_; }

 private:
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

// Adds `column` (of SQL `type`) to `table` when an older file lacks it;
// logged.
Status AddColumnIfMissing(Db& db, const std::string& table, const std::string& column, const std::string& type);

}  // namespace custos::store
