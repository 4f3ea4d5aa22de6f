// Text placed into HTML or XML (reports, the XMP packet of a twin's provenance): the five
// characters that markup gives meaning to, as entities.
#pragma once

#include <string>
#include <string_view>

namespace twinrig {

// "a<b & \"c\"" -> "a&lt;b &amp; &quot;c&quot;"; safe inside element text and quoted attributes.
[[nodiscard]] std::string EscapeMarkup(std::string_view text);

}  // namespace twinrig
