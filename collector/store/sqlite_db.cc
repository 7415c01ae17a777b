#include "collector/store/sqlite_db.h"

#include "common/log.h"

namespace custos::store {
namespace {

Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string m = std::string(what) + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY: case SQLITE_LOCKED: return Unavailable(m);
    case SQLITE_FULL: return ResourceExhausted(m);
    case SQLITE_CORRUPT: case SQLITE_NOTADB: case SQLITE_IOERR: return DataLoss(m);
    case SQLITE_CANTOPEN: case SQLITE_PERM: case SQLITE_READONLY: return PermissionDenied(m);
    default: return Internal(m);
  }
}

}  // namespace

Status Statement::Exec() {
  int rc = sqlite3_step(stmt_);
  Status s;
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) s = SqliteError(db_, rc, sqlite3_sql(stmt_));
  sqlite3_reset(stmt_);
  return s;
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(db_, rc, sqlite3_sql(stmt_));
}

std::string Statement::Text(int col) const {
  const unsigned char* t = sqlite3_column_text(stmt_, col);
  return t == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(t),
                                                    static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::string Statement::Blob(int col) const {
  const void* b = sqlite3_column_blob(stmt_, col);
  return b == nullptr ? std::string()
                      : std::string(static_cast<const char*>(b), static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

Result<std::unique_ptr<Db>> Db::Open(const std::string& path, bool create, bool read_only) {
  sqlite3* raw = nullptr;
  int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0));
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqliteError(raw, rc, "opening database " + path);
    sqlite3_close(raw);
    return s;
  }
  std::unique_ptr<Db> db(new Db(raw, path));
  sqlite3_busy_timeout(raw, 5000);
  if (!read_only) CUSTOS_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  return db;
}

Db::~Db() { sqlite3_close_v2(db_); }

Status Db::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string m = std::string("executing '") + sql.substr(0, 80) + "': " + (err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    Status s = SqliteError(db_, rc, "");
    return Status(s.code(), m);
  }
  return Status::Ok();
}

Result<std::unique_ptr<Statement>> Db::Prepare(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db_, rc, "preparing '" + sql + "'");
  return std::make_unique<Statement>(db_, stmt);
}

Status AddColumnIfMissing(Db& db, const std::string& table, const std::string& column, const std::string& type) {
  CUSTOS_ASSIGN_OR_RETURN(auto info, db.Prepare("SELECT count(*) FROM pragma_table_info('" + table + "') WHERE name = '" +
                                                column + "'"));
  CUSTOS_ASSIGN_OR_RETURN(bool row, info->Step());
  if (!row || info->Int(0) != 0) return Status::Ok();
  CUSTOS_RETURN_IF_ERROR(db.Exec("ALTER TABLE " + table + " ADD COLUMN " + column + " " + type));
  log::Info("store", "added a column to an older store file", {{"table", table}, {"column", column}});
  return Status::Ok();
}

}  // namespace custos::store
