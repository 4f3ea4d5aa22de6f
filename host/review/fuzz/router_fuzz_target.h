// The review station's request handling under fuzzing: the bytes are what a client sends on one
// connection. They go through the HTTP parser with the station's limits, and every request parsed
// goes through the router (gate, WebSocket decision, login, the API, static files) of a station
// over a scratch studio, as on a live connection but without sockets. "@SUBJECT@" in the input
// becomes a valid subject token, so the routes behind the sign-in are reached too. Used by the
// libFuzzer target (router_fuzz_main.cc), bench/review-fuzz and the replay unit test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace twinrig::review::fuzz {

int FuzzRouterOneInput(const std::uint8_t* data, std::size_t size);

// Requests of every kind the station knows, good and hostile (a seed corpus).
std::vector<std::string> SeedInputs();

}  // namespace twinrig::review::fuzz
