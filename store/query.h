// Helpers for the typed queries in store/*_queries.cc (internal to store/).
#pragma once

#include <string_view>
#include <vector>

#include "store/sqlite.h"
#include "util/result.h"

namespace twinrig::store {

// Steps `stmt` to the end, turning each row into a value with `read(stmt)`.
template <typename Row, typename Read>
Result<std::vector<Row>> CollectRows(Statement& stmt, Read&& read) {
  std::vector<Row> rows;
  for (;;) {
    TWINRIG_ASSIGN_OR_RETURN(const bool more, stmt.Step());
    if (!more) break;
    rows.push_back(read(stmt));
  }
  return rows;
}

// The first column of each row as text.
inline Result<std::vector<std::string>> CollectTexts(Statement& stmt) {
  return CollectRows<std::string>(stmt, [](Statement& s) { return s.ColumnText(0); });
}

}  // namespace twinrig::store
