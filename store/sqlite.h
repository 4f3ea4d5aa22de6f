// A thin RAII layer over SQLite: one Database per connection, prepared Statements with typed binds.
// SQL errors are values (Status/Result) naming the database file and the statement.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace twinrig::store {

class Statement;

class Database {
 public:
  enum class Mode { kOpenExisting, kCreateIfMissing, kReadOnly };

  static Result<Database> Open(const std::filesystem::path& path, Mode mode);
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Runs one or more statements with no results.
  Status Execute(std::string_view sql);
  Result<Statement> Prepare(std::string_view sql);
  // The first column of the first row as an integer (e.g. PRAGMA user_version).
  Result<std::int64_t> QueryInt(std::string_view sql);

  [[nodiscard]] sqlite3* handle() const { return db_; }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::int64_t LastInsertId() const { return sqlite3_last_insert_rowid(db_); }
  [[nodiscard]] Error SqlError(std::string_view doing) const;

 private:
  Database(sqlite3* db, std::filesystem::path path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
};

class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Binds are 1-based like SQLite's.
  Statement& Bind(int index, std::int64_t value);
  Statement& Bind(int index, double value);
  Statement& Bind(int index, std::string_view text);
  Statement& BindBlob(int index, const std::vector<std::uint8_t>& blob);
  Statement& BindNull(int index);

  // Steps once: true when a row is ready, false when done.
  Result<bool> Step();
  // Steps to the end; for INSERT/UPDATE/DELETE.
  Status Run();
  void Reset();

  [[nodiscard]] std::int64_t ColumnInt(int column) const;
  [[nodiscard]] double ColumnDouble(int column) const;
  [[nodiscard]] std::string ColumnText(int column) const;
  [[nodiscard]] std::vector<std::uint8_t> ColumnBlob(int column) const;
  [[nodiscard]] bool ColumnIsNull(int column) const;

 private:
  friend class Database;
  Statement(sqlite3_stmt* stmt, const Database* db) : stmt_(stmt), db_(db) {}
  sqlite3_stmt* stmt_ = nullptr;
  const Database* db_ = nullptr;
};

// Runs `work` inside BEGIN IMMEDIATE … COMMIT; rolls back when it returns an error.
template <typename Work>
Status InTransaction(Database& db, Work&& work) {
  TWINRIG_RETURN_IF_ERROR(db.Execute("BEGIN IMMEDIATE"));
  Status status = work();
  if (!status.ok()) {
    (void)db.Execute("ROLLBACK");
    return status;
  }
  return db.Execute("COMMIT");
}

}  // namespace twinrig::store
