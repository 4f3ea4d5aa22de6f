// Canonical JSON for signed records: the JCS (RFC 8785) subset of notes on consent — ASCII object
// keys sorted by byte, no insignificant whitespace, integers only, no duplicate keys, UTF-8
// strings. Records are signed and stored as these exact bytes and never re-serialised; a stored
// record whose bytes are not canonical is refused, so key reordering or added whitespace cannot
// produce a second valid encoding of the same record.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "util/result.h"

namespace twinrig::consent {

using Json = nlohmann::json;

// Strict parse: rejects invalid UTF-8, duplicate keys, non-ASCII keys, floating-point numbers and
// documents larger than `max_bytes`. `where` names the file for the error.
Result<Json> ParseStrict(std::string_view text, const std::string& where,
                         size_t max_bytes = 4u << 20);

// The canonical bytes of `value` (checks the subset: an Error for floats or non-ASCII keys).
Result<std::string> Canonical(const Json& value);

// ParseStrict, then a check that `text` is exactly Canonical(parsed).
Result<Json> ParseCanonical(std::string_view text, const std::string& where);

}  // namespace twinrig::consent
