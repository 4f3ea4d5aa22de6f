#include "store/sqlite.h"

#include "util/check.h"

namespace twinrig::store {

Result<Database> Database::Open(const std::filesystem::path& path, Mode mode) {
  int flags = SQLITE_OPEN_FULLMUTEX;
  switch (mode) {
    case Mode::kOpenExisting:
      flags |= SQLITE_OPEN_READWRITE;
      break;
    case Mode::kCreateIfMissing:
      flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
      break;
    case Mode::kReadOnly:
      flags |= SQLITE_OPEN_READONLY;
      break;
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return MakeError("could not open the database: " + message, path.string(),
                     "check that the file exists and its folder is writable");
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_extended_result_codes(db, 1);
  return Database(db, path);
}

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    sqlite3_close(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

Database::~Database() { sqlite3_close(db_); }

Error Database::SqlError(std::string_view doing) const {
  std::string what = std::string(doing) + ": " + sqlite3_errmsg(db_);
  int code = sqlite3_errcode(db_) & 0xff;
  std::string todo = "see the message; the file was not changed";
  if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) {
    todo =
        "the file is not a healthy twinrig catalog; restore it from a backup "
        "(twinrig never overwrites it)";
  } else if (code == SQLITE_FULL) {
    todo = "the disk is full: free space, then try again";
  } else if (code == SQLITE_READONLY || code == SQLITE_CANTOPEN) {
    todo = "check the permissions of the studio folder";
  }
  return MakeError(what, path_.string(), todo);
}

Status Database::Execute(std::string_view sql) {
  std::string text(sql);
  char* message = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  sqlite3_free(message);
  if (rc != SQLITE_OK) return SqlError("SQL failed (" + text.substr(0, 60) + ")");
  return OkStatus();
}

Result<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return SqlError("could not prepare (" + std::string(sql.substr(0, 60)) + ")");
  }
  return Statement(stmt, this);
}

Result<std::int64_t> Database::QueryInt(std::string_view sql) {
  auto stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.error();
  auto row = stmt->Step();
  if (!row.ok()) return row.error();
  if (!*row) return MakeError("query returned no row: " + std::string(sql), path_.string());
  return stmt->ColumnInt(0);
}

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), db_(other.db_) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    db_ = other.db_;
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::Bind(int index, std::int64_t value) {
  TWINRIG_CHECK_EQ(sqlite3_bind_int64(stmt_, index, value), SQLITE_OK);
  return *this;
}
Statement& Statement::Bind(int index, double value) {
  TWINRIG_CHECK_EQ(sqlite3_bind_double(stmt_, index, value), SQLITE_OK);
  return *this;
}
Statement& Statement::Bind(int index, std::string_view text) {
  TWINRIG_CHECK_EQ(
      sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT),
      SQLITE_OK);
  return *this;
}
Statement& Statement::BindBlob(int index, const std::vector<std::uint8_t>& blob) {
  TWINRIG_CHECK_EQ(
      sqlite3_bind_blob(stmt_, index, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT),
      SQLITE_OK);
  return *this;
}
Statement& Statement::BindNull(int index) {
  TWINRIG_CHECK_EQ(sqlite3_bind_null(stmt_, index), SQLITE_OK);
  return *this;
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->SqlError(std::string("statement failed (") +
                       std::string(sqlite3_sql(stmt_)).substr(0, 60) + ")");
}

Status Statement::Run() {
  while (true) {
    auto row = Step();
    if (!row.ok()) return row.error();
    if (!*row) return OkStatus();
  }
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t Statement::ColumnInt(int column) const { return sqlite3_column_int64(stmt_, column); }
double Statement::ColumnDouble(int column) const { return sqlite3_column_double(stmt_, column); }
std::string Statement::ColumnText(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text));
}
std::vector<std::uint8_t> Statement::ColumnBlob(int column) const {
  const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, column));
  int size = sqlite3_column_bytes(stmt_, column);
  return data == nullptr ? std::vector<std::uint8_t>()
                         : std::vector<std::uint8_t>(data, data + size);
}
bool Statement::ColumnIsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

}  // namespace twinrig::store
