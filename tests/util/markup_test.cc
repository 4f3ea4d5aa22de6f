#include <catch2/catch.hpp>

#include "util/markup.h"

namespace twinrig {
namespace {

TEST_CASE("markup escaping turns the five special characters into entities", "[unit]") {
  CHECK(EscapeMarkup("CAM 0012 <left> & \"right\" 'up'") ==
        "CAM 0012 &lt;left&gt; &amp; &quot;right&quot; &#39;up&#39;");
  CHECK(EscapeMarkup("") == "");
  CHECK(EscapeMarkup("&amp;") == "&amp;amp;");  // text is escaped as given, never decoded first
}

}  // namespace
}  // namespace twinrig
