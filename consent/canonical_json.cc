#include "consent/canonical_json.h"

#include <set>
#include <vector>

namespace twinrig::consent {
namespace {

// A first pass over the text that throws nothing (exceptions are slow, and tampered input is
// common): it finds syntax errors, duplicate keys, floats and non-ASCII keys.
class StrictChecker {
 public:
  bool null() { return true; }
  bool boolean(bool /*value*/) { return true; }
  bool number_integer(Json::number_integer_t /*value*/) { return true; }
  bool number_unsigned(Json::number_unsigned_t /*value*/) { return true; }
  bool number_float(Json::number_float_t /*value*/, const std::string& /*text*/) {
    return Fail("a non-integer number (records hold integers only: money in minor units)");
  }
  bool string(std::string& /*value*/) { return true; }
  bool binary(Json::binary_t& /*value*/) { return Fail("binary values are not JSON"); }
  bool start_object(std::size_t /*size*/) {
    open_.emplace_back();
    return true;
  }
  bool key(std::string& key) {
    for (const char c : key) {
      if (static_cast<unsigned char>(c) >= 0x80 || static_cast<unsigned char>(c) < 0x20) {
        return Fail("a non-ASCII object key");
      }
    }
    if (open_.empty() || !open_.back().insert(key).second) {
      return Fail("duplicate JSON key \"" + key + "\" (the file may have been tampered with)");
    }
    return true;
  }
  bool end_object() {
    if (!open_.empty()) open_.pop_back();
    return true;
  }
  bool start_array(std::size_t /*size*/) { return true; }
  bool end_array() { return true; }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& /*error*/) {
    return Fail("not valid JSON (syntax error or invalid UTF-8 near byte " +
                std::to_string(position) + ")");
  }
  [[nodiscard]] const std::string& problem() const { return problem_; }

 private:
  bool Fail(std::string problem) {
    if (problem_.empty()) problem_ = std::move(problem);
    return false;
  }
  std::vector<std::set<std::string>> open_;
  std::string problem_;
};

Status CheckSubset(const Json& value, const std::string& path) {
  if (value.is_number_float()) {
    return MakeError("a non-integer number at " + path, "",
                     "records hold integers only (money in minor units, times as text)");
  }
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) {
      for (const char c : key) {
        if (static_cast<unsigned char>(c) >= 0x80 || static_cast<unsigned char>(c) < 0x20) {
          return MakeError("a non-ASCII object key at " + path, "", "use ASCII field names");
        }
      }
      TWINRIG_RETURN_IF_ERROR(CheckSubset(child, path + "." + key));
    }
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      TWINRIG_RETURN_IF_ERROR(CheckSubset(value[i], path + "[" + std::to_string(i) + "]"));
    }
  }
  return OkStatus();
}

}  // namespace

Result<Json> ParseStrict(std::string_view text, const std::string& where, size_t max_bytes) {
  if (text.size() > max_bytes) {
    return MakeError("the JSON document is larger than " + std::to_string(max_bytes) + " bytes",
                     where, "check that this is the right file");
  }
  StrictChecker checker;
  const bool accepted = Json::sax_parse(text.begin(), text.end(), &checker,
                                        Json::input_format_t::json, /*strict=*/true);
  if (!accepted || !checker.problem().empty()) {
    return MakeError(checker.problem().empty() ? "not valid JSON" : checker.problem(), where,
                     "check the file; a signed record must be restored from a backup");
  }
  Json value;
  try {
    value = Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {  // not expected after the first pass
    return MakeError(std::string("not valid JSON: ") + e.what(), where, "check the file");
  }
  Status subset = CheckSubset(value, "$");
  if (!subset.ok()) return MakeError(subset.error().what, where, subset.error().todo);
  return value;
}

Result<std::string> Canonical(const Json& value) {
  TWINRIG_RETURN_IF_ERROR(CheckSubset(value, "$"));
  try {
    return value.dump(-1, ' ', false, Json::error_handler_t::strict);
  } catch (const Json::exception& e) {
    return MakeError(std::string("cannot encode JSON: ") + e.what());
  }
}

Result<Json> ParseCanonical(std::string_view text, const std::string& where) {
  auto value = ParseStrict(text, where);
  if (!value.ok()) return value;
  auto canonical = Canonical(*value);
  if (!canonical.ok()) return MakeError(canonical.error().what, where);
  if (*canonical != text) {
    return MakeError(
        "the record is not in canonical form (reordered keys, added whitespace or "
        "re-encoded text)",
        where, "records must be the exact bytes that were signed; restore the file");
  }
  return value;
}

}  // namespace twinrig::consent
